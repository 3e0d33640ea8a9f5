"""Every real connector in ../shared/connectors, decoded and built as if a maker uploaded it."""

import json
from collections import Counter
from dataclasses import dataclass

import pytest

from shared.connectors import (
    Connector,
    ConnectorError,
    build_connector,
    connector_from_record,
    connector_summary,
    connector_to_record,
    decode_document,
)
from tests.support.connector_files import REAL_CONNECTORS_ROOT, iter_real_connectors, read_connector_files


def test_the_real_connectors_are_there() -> None:
    assert REAL_CONNECTORS_ROOT.is_dir(), f"expected the reference connectors in {REAL_CONNECTORS_ROOT}"


# Broken beyond what JSON5 tolerates (a missing comma, a missing brace); real makers' files, kept as they are.
EXPECTED_FAILURES = {
    "certified-connectors/IN-D Invoice Data Capture": "line 51 column 13: Expecting ',' delimiter",
    "independent-publisher-connectors/AccuWeather": "line 9 column 7: Expecting ',' delimiter",
    "independent-publisher-connectors/Icon Horse": (
        "line 56 column 11: Expecting property name enclosed in double quotes"
    ),
}

# /work/shared/README.md's counts by auth kind, less the three files above (apiKey header, apiKey query, none).
EXPECTED_KINDS = {
    ("apiKey", "header"): 100,
    ("none", "no parameters"): 35,
    ("apiKey", "query"): 23,
    ("oauth2", "oauth2"): 22,
    ("basic", None): 19,
    ("oauth2", "aad"): 12,
    ("oauth2", "oauth2generic"): 10,
    ("none", "parameters"): 5,
    ("parameterSets", None): 2,
    ("oauth2", "aadcertificate"): 1,
}


@dataclass(frozen=True)
class Imported:
    connectors: dict[str, Connector]
    failures: dict[str, str]


def _import(directory) -> Connector:
    definition, properties = read_connector_files(directory)
    return build_connector(
        "real",
        decode_document(definition, "apiDefinition.swagger.json"),
        decode_document(properties, "apiProperties.json"),
    )


@pytest.fixture(scope="module")
def imported() -> Imported:
    connectors: dict[str, Connector] = {}
    failures: dict[str, str] = {}
    for name, directory in iter_real_connectors():
        try:
            connectors[name] = _import(directory)
        except ConnectorError as error:
            failures[name] = str(error)
    return Imported(connectors, failures)


def _kind(connector: Connector) -> tuple[str, str | None]:
    auth = connector.auth
    if auth.kind == "none":
        return "none", "parameters" if connector.parameters else "no parameters"
    return auth.kind, auth.location or auth.identity_provider


def test_at_least_95_percent_import(imported, record_property):
    total = len(imported.connectors) + len(imported.failures)
    for name, reason in sorted(imported.failures.items()):
        print(f"FAILED {name}: {reason}")
        record_property(f"failed:{name}", reason)
    assert total == 232
    assert len(imported.connectors) / total >= 0.95
    assert imported.failures == {
        name: f"apiDefinition.swagger.json {where}" for name, where in EXPECTED_FAILURES.items()
    }


def test_auth_kind_counts(imported):
    assert Counter(_kind(c) for c in imported.connectors.values()) == Counter(EXPECTED_KINDS)


def test_supported_kinds(imported):
    supported = sum(c.auth.supported for c in imported.connectors.values())
    assert supported == 100 + 35 + 23 + 19 + 5 + 45  # apiKey header, none, apiKey query, basic, none+params, oauth2


def test_every_connector_round_trips_and_summarises_as_json(imported):
    for name, connector in imported.connectors.items():
        record = json.loads(json.dumps(connector_to_record(connector)))
        assert connector_from_record(record) == connector, name
        summary = connector_summary(connector)
        assert json.loads(json.dumps(summary)) == summary, name
        assert summary["backendUrl"].startswith(("https://", "http://")), name


def test_api_key_connectors_name_a_secret_key_parameter(imported):
    for name, connector in imported.connectors.items():
        if connector.auth.kind == "apiKey":
            parameter = connector.parameter(connector.auth.value_parameter)
            assert parameter is not None and parameter.secret, name
            assert connector.auth.key_name, name


def test_basic_connectors_use_username_and_password(imported):
    basic = [c for c in imported.connectors.values() if c.auth.kind == "basic"]
    assert {(c.auth.username_parameter, c.auth.password_parameter) for c in basic} == {("username", "password")}
    secure_usernames = sum(c.parameter("username").type == "securestring" for c in basic)
    assert secure_usernames == 16  # the 17th is AvePoint, whose basic login sits in a parameter set


@pytest.mark.parametrize(
    ("name", "backend_url", "auth"),
    [
        # Two apiKey definitions; the top-level security requirement names the header one first.
        ("certified-connectors/Sparse Power Box Tools", None, ("apiKey", "header", "Sparse-Key", "api_key")),
        # An apiKey securityDefinition, but an oauthSetting parameter: the Power Platform uses OAuth.
        ("certified-connectors/Pushcut", None, ("oauth2", None, None, None)),
        # Two securestring parameters (accountID, api_key): the key is api_key.
        ("independent-publisher-connectors/Checkly", None, ("apiKey", "header", "Authorization", "api_key")),
        (
            "independent-publisher-connectors/IQAir",
            "http://api.airvisual.com/v2",
            ("apiKey", "query", "key", "api_key"),
        ),
        ("certified-connectors/Cloudmersive NLP", "https://api.cloudmersive.com/", None),
        ("certified-connectors/AvePoint Cloud Governance", None, ("parameterSets", None, None, None)),
        (
            "independent-publisher-connectors/De Lijn",
            None,
            ("apiKey", "header", "Ocp-Apim-Subscription-Key", "api_key"),
        ),
    ],
)
def test_spot_checks(imported, name, backend_url, auth):
    connector = imported.connectors[name]
    if backend_url:
        assert connector.backend.url == backend_url
    if auth:
        a = connector.auth
        assert (a.kind, a.location, a.key_name, a.value_parameter) == auth


def test_lenient_files_import(imported):
    # Trailing commas / a missing brace that JSON5 still reads.
    assert imported.connectors["certified-connectors/Cireson Service Manager Portal"].auth.kind == "apiKey"
    assert imported.connectors["certified-connectors/ZohoSign"].auth.identity_provider == "oauth2generic"
    # UTF-8 with BOM.
    assert imported.connectors["certified-connectors/SignNow"].title
