"""The upload's authentication rules, without a network: the https rule, OAuth settings no connection can fix,
test connection resolution, and which connector a connection naming a parameter set authenticates against."""

from __future__ import annotations

import pytest

from shared import problems
from shared.connections._connection_checks import check_path
from shared.connections._create_body import with_parameter_set
from shared.connector_store import RegisteredConnector
from shared.connectors import https_rule_errors, is_loopback_host
from shared.oauth import oauth_setup_problem, oauth_warnings
from tests.support.connector_files import (
    API_KEY_HEADER,
    build_example,
    make_api_definition,
    make_api_properties,
    make_parameter,
)


def _api_key(host: str, scheme: str):
    definition = make_api_definition(host=host, schemes=[scheme], securityDefinitions=API_KEY_HEADER)
    return build_example(definition, make_api_properties({"api_key": make_parameter("securestring")}))


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8080", "127.1", "0x7f.1", "[::1]:443", "[::ffff:127.0.0.1]", "localhost", "0.0.0.0"]
)
def test_loopback_spellings_are_loopback(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["api.example.com", "10.0.0.1", "169.254.169.254", "127.0.0.1.nip.io"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_a_credential_over_http_is_refused_even_where_loopback_is_allowed() -> None:
    [error] = https_rule_errors(_api_key("api.example.com", "http"), allow_loopback=True)
    assert error["pointer"] == "/apiDefinition/schemes"
    assert "an API key" in error["detail"]
    assert https_rule_errors(_api_key("api.example.com", "https"), allow_loopback=False) == []


def test_a_secret_parameter_counts_as_a_credential_without_a_scheme() -> None:
    definition = make_api_definition(host="api.example.com", schemes=["http"])
    connector = build_example(definition, make_api_properties({"token": make_parameter("securestring")}))
    assert connector.auth.kind == "none"
    [error] = https_rule_errors(connector, allow_loopback=True)
    assert "a secret connection parameter" in error["detail"]
    plain = build_example(make_api_definition(host="api.example.com", schemes=["http"]))
    assert https_rule_errors(plain, allow_loopback=False) == []


def test_loopback_is_allowed_only_with_the_setting_whatever_the_scheme() -> None:
    for scheme in ("http", "https"):
        connector = _api_key("127.0.0.1:9000", scheme)
        assert https_rule_errors(connector, allow_loopback=True) == []
        [error] = https_rule_errors(connector, allow_loopback=False)
        assert error["pointer"] == "/apiDefinition/host"


def _oauth(settings: dict, **parameters: dict):
    token = {"type": "oauthSetting", "oAuthSettings": settings}
    return build_example(properties=make_api_properties({"token": token, **parameters}))


GITHUB = {"identityProvider": "github", "clientId": "real-client", "scopes": ["repo"]}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({**GITHUB, "clientId": "[[DUMMY]]"}, "is a placeholder"),
        ({**GITHUB, "clientId": "<resource-id>"}, "is a placeholder"),
        ({**GITHUB, "identityProvider": "myidp"}, "is not supported"),
        ({"identityProvider": "oauth2", "clientId": "c"}, "is missing"),
    ],
)
def test_oauth_settings_no_connection_can_fix_are_warnings(settings: dict, expected: str) -> None:
    connector = _oauth(settings)
    assert expected in oauth_setup_problem(connector)
    [warning] = oauth_warnings(connector)
    assert warning["pointer"] == "/apiProperties/properties/connectionParameters/token/oAuthSettings"


def test_a_client_id_each_connection_gives_is_no_warning() -> None:
    per_connection = make_parameter(constraints={"required": "true"})
    connector = _oauth({**GITHUB, "clientId": "[[DUMMY]]"}, **{"token:ClientId": per_connection})
    assert oauth_setup_problem(connector) is None
    assert oauth_warnings(connector) == []
    assert oauth_warnings(_oauth(GITHUB)) == []


def test_each_parameter_sets_oauth_settings_are_judged_on_their_own() -> None:
    properties = make_api_properties()
    properties["properties"]["connectionParameterSets"] = {
        "values": [
            {"name": "good", "parameters": {"token": {"type": "oauthSetting", "oAuthSettings": GITHUB}}},
            {
                "name": "dummy",
                "parameters": {"token": {"type": "oauthSetting", "oAuthSettings": {**GITHUB, "clientId": "[[DUMMY]]"}}},
            },
        ]
    }
    [warning] = oauth_warnings(build_example(properties=properties))
    assert (
        warning["pointer"]
        == "/apiProperties/properties/connectionParameterSets/values/1/parameters/token/oAuthSettings"
    )
    assert warning["detail"].startswith("Parameter set 'dummy':")


def _with_capability(capability: dict, paths: dict):
    definition = make_api_definition(paths=paths, **{"x-ms-capabilities": {"testConnection": capability}})
    return build_example(definition)


def test_test_connection_resolves_to_its_operation() -> None:
    paths = {"/me": {"get": {"operationId": "Other"}}, "/ping/{region}": {"post": {"operationId": "Ping"}}}
    connector = _with_capability({"operationId": "Ping", "parameters": {"region": {"value": "eu/west"}}}, paths)
    check = connector.test_connection
    assert (check.operation_id, check.method, check.path) == ("Ping", "POST", "/ping/{region}")
    assert check_path(check) == "/ping/eu%2Fwest"  # one path segment, whatever the value
    assert connector.warnings == ()


@pytest.mark.parametrize(
    ("capability", "pointer"),
    [
        ({"operationId": "Missing"}, "/apiDefinition/x-ms-capabilities/testConnection/operationId"),
        ({"operationId": "Ping"}, "/apiDefinition/x-ms-capabilities/testConnection/parameters"),
        ({}, "/apiDefinition/x-ms-capabilities/testConnection"),
    ],
)
def test_a_test_connection_that_cant_be_called_is_a_warning(capability: dict, pointer: str) -> None:
    connector = _with_capability(capability, {"/ping/{region}": {"get": {"operationId": "Ping"}}})
    assert connector.test_connection is None
    assert [w["pointer"] for w in connector.warnings] == [pointer]


def test_a_connection_gets_its_parameter_sets_connector() -> None:
    properties = make_api_properties()
    properties["properties"]["connectionParameterSets"] = {
        "values": [{"name": "key", "parameters": {"api_key": make_parameter("securestring")}}]
    }
    registered = RegisteredConnector(build_example(make_api_definition(securityDefinitions=API_KEY_HEADER), properties))
    chosen = with_parameter_set(registered, "key")
    assert (chosen.connector.auth.kind, chosen.connector.auth.value_parameter) == ("apiKey", "api_key")
    for wrong in (None, "nope", 3):
        with pytest.raises(problems.Problem) as caught:
            with_parameter_set(registered, wrong)
        assert caught.value.extensions["errors"][0]["pointer"] == "/parameterSet"
    single = RegisteredConnector(build_example())
    assert with_parameter_set(single, None) is single
    with pytest.raises(problems.Problem):
        with_parameter_set(single, "key")
