"""Real connectors, decoded and built as if a maker uploaded them: the curated set in tests/fixtures always,
and the whole corpus of 232 when CONNECTORS_CORPUS names it."""

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

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
from tests.support.connector_files import (
    CORPUS_SIZE,
    CURATED_CONNECTORS,
    EXPECTED_FAILURES,
    corpus_root,
    iter_real_connectors,
    read_connector_files,
    whole_corpus,
)

# The corpus's counts by auth kind (its README), less the three files above (apiKey header, apiKey query, none).
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


def _import_all(root: Path) -> Imported:
    connectors: dict[str, Connector] = {}
    failures: dict[str, str] = {}
    for name, directory in iter_real_connectors(root):
        try:
            connectors[name] = _import(directory)
        except ConnectorError as error:
            failures[name] = str(error)
    return Imported(connectors, failures)


@pytest.fixture(scope="module")
def curated() -> Imported:
    return _import_all(CURATED_CONNECTORS)


@pytest.fixture(scope="module")
def corpus() -> Imported:
    root = corpus_root()
    assert root is not None  # whole_corpus tests only
    return _import_all(root)


# Tests about each connector run on the curated set, and on the whole corpus when there is one.
@pytest.fixture(scope="module", params=["curated", pytest.param("corpus", marks=whole_corpus)])
def imported(request: pytest.FixtureRequest) -> Imported:
    return request.getfixturevalue(request.param)


def _kind(connector: Connector) -> tuple[str, str | None]:
    auth = connector.auth
    if auth.kind == "none":
        return "none", "parameters" if connector.parameters else "no parameters"
    return auth.kind, auth.location or auth.identity_provider


def test_only_the_broken_files_fail(imported, record_property):
    for name, reason in sorted(imported.failures.items()):
        print(f"FAILED {name}: {reason}")
        record_property(f"failed:{name}", reason)
    assert imported.failures == {
        name: f"apiDefinition.swagger.json {where}" for name, where in EXPECTED_FAILURES.items()
    }


@whole_corpus
def test_at_least_95_percent_import(corpus):
    total = len(corpus.connectors) + len(corpus.failures)
    assert total == CORPUS_SIZE
    assert len(corpus.connectors) / total >= 0.95


@whole_corpus
def test_auth_kind_counts(corpus):
    assert Counter(_kind(c) for c in corpus.connectors.values()) == Counter(EXPECTED_KINDS)


@whole_corpus
def test_supported_kinds(corpus):
    supported = sum(c.auth.supported for c in corpus.connectors.values())
    # apiKey header, none, apiKey query, basic, none+params, oauth2, and both parameter-set (multi-auth) connectors
    assert supported == 100 + 35 + 23 + 19 + 5 + 45 + 2
    assert all(c.auth.reason for c in corpus.connectors.values() if not c.auth.supported)


# Every real multi-auth connector, each set with the scheme it authenticates with.
REAL_PARAMETER_SETS = {
    "certified-connectors/3E Events": {
        "aadProd": ("oauth2", "oauth2generic"),
        "aadPreview": ("oauth2", "oauth2generic"),
        "aadNonprod": ("oauth2", "oauth2generic"),
    },
    "certified-connectors/AvePoint Cloud Governance": {"oauth": ("oauth2", "aad"), "basic": ("basic", None)},
}


@pytest.mark.parametrize("name", sorted(REAL_PARAMETER_SETS))
def test_real_parameter_set_connectors_offer_every_set(curated, name):
    connector = curated.connectors[name]
    assert (connector.auth.kind, connector.auth.supported) == ("parameterSets", True)
    sets = {s.name: (s.auth.kind, s.auth.identity_provider) for s in connector.parameter_sets}
    assert sets == REAL_PARAMETER_SETS[name]
    assert all(s.auth.supported for s in connector.parameter_sets)


# -- the curated set carries what the tests (and the next ones) need, and stays small ---------------


def test_curated_set_is_small_and_carries_its_licence(curated):
    assert 10 <= len(curated.connectors) + len(curated.failures) <= 100
    licence = (CURATED_CONNECTORS / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Microsoft Corporation" in licence
    attribution = (CURATED_CONNECTORS.parent / "README.md").read_text(encoding="utf-8")
    assert "8bff86eac6d04e939faee0de15298e911b118c21" in attribution
    for name, _ in iter_real_connectors(CURATED_CONNECTORS):
        assert f"`{name}`" in attribution, f"{name} is not listed in tests/fixtures/README.md"


def test_curated_set_covers_every_auth_kind(curated):
    assert set(Counter(_kind(c) for c in curated.connectors.values())) == set(EXPECTED_KINDS)


# Policy templates, trigger kinds, scripts and multi-auth: the curated set holds real files of each.
CURATED_FEATURES = {
    **{
        f"policy template {template}": rf'"templateId"\s*:\s*"{template}"'
        for template in (
            "dynamichosturl",
            "setheader",
            "setqueryparameter",
            "routerequesttoendpoint",
            "pollingtrigger",
            "dynamicsubdomain",
            "setvaluefromurl",
            "setproperty",
            "convertobjecttoarray",
            "updatenextlink",
            "stringreplace",
        )
    },
    "single trigger": r'"x-ms-trigger"\s*:\s*"single"',
    "batch trigger": r'"x-ms-trigger"\s*:\s*"batch"',
    "webhook trigger": r'"x-ms-notification-url"',
    "connectionParameterSets": r'"connectionParameterSets"',
}


def _feature_counts() -> Counter:
    counts: Counter = Counter()
    for _, directory in iter_real_connectors(CURATED_CONNECTORS):
        text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(directory.glob("*.json")))
        counts.update(feature for feature, pattern in CURATED_FEATURES.items() if re.search(pattern, text))
        counts["script.csx"] += (directory / "script.csx").is_file()
    return counts


def test_curated_set_covers_templates_triggers_scripts_and_parameter_sets():
    counts = _feature_counts()
    missing = [feature for feature in [*CURATED_FEATURES, "script.csx"] if not counts[feature]]
    assert not missing, f"the curated connectors lack {missing}"
    # A few of each common one, so a test of a template isn't a test of one maker's quirks.
    for common in ("dynamichosturl", "setheader", "setqueryparameter", "routerequesttoendpoint"):
        assert counts[f"policy template {common}"] >= 3, common
    assert counts["script.csx"] >= 3
    assert counts["webhook trigger"] >= 3
    assert counts["connectionParameterSets"] == 2


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


@whole_corpus
def test_basic_connectors_mostly_keep_the_username_secret(corpus):
    basic = [c for c in corpus.connectors.values() if c.auth.kind == "basic"]
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
