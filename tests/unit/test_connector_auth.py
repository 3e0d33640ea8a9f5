"""Which authentication a connector gets, from apiProperties first and then securityDefinitions."""

import dataclasses
import json

import pytest

from shared.connectors import AuthScheme, ConnectorInvalid
from tests.support.connector_files import (
    API_KEY_HEADER,
    build_example,
    error_pointers,
    make_api_definition,
    make_api_properties,
    make_parameter,
)


def test_api_key_in_header():
    properties = make_api_properties({"api_key": make_parameter("securestring")})
    connector = build_example(make_api_definition(securityDefinitions=API_KEY_HEADER), properties)
    assert connector.auth == AuthScheme(
        kind="apiKey", supported=True, location="header", key_name="X-Api-Key", value_parameter="api_key"
    )


def test_api_key_in_query_uses_the_only_securestring_parameter():
    definitions = {"k": {"type": "apiKey", "in": "query", "name": "key"}}
    properties = make_api_properties({"region": make_parameter(), "token": make_parameter("securestring")})
    auth = build_example(make_api_definition(securityDefinitions=definitions), properties).auth
    assert (auth.kind, auth.location, auth.key_name, auth.value_parameter) == ("apiKey", "query", "key", "token")


def test_api_key_prefers_api_key_among_several_securestrings():
    parameters = {"account": make_parameter("securestring"), "api_key": make_parameter("securestring")}
    auth = build_example(make_api_definition(securityDefinitions=API_KEY_HEADER), make_api_properties(parameters)).auth
    assert auth.value_parameter == "api_key"


@pytest.mark.parametrize(
    "parameters",
    [{}, {"a": make_parameter("securestring"), "b": make_parameter("securestring")}, {"s": make_parameter()}],
)
def test_api_key_without_a_clear_key_parameter(parameters):
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(securityDefinitions=API_KEY_HEADER), make_api_properties(parameters))
    assert error_pointers(caught) == ["/apiProperties/properties/connectionParameters"]


def test_api_key_definition_needs_in_and_name():
    definitions = {"API Key": {"type": "apiKey", "in": "cookie"}}
    properties = make_api_properties({"api_key": make_parameter("securestring")})
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(securityDefinitions=definitions), properties)
    assert error_pointers(caught) == [
        "/apiDefinition/securityDefinitions/API Key/in",
        "/apiDefinition/securityDefinitions/API Key/name",
    ]


def test_security_requirement_picks_among_several_definitions():
    definitions = {
        "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "Key"},
    }
    definition = make_api_definition(securityDefinitions=definitions, security=[{"apiKeyHeader": []}, {"x": []}])
    auth = build_example(definition, make_api_properties({"api_key": make_parameter("securestring")})).auth
    assert (auth.location, auth.key_name) == ("header", "Key")
    # Without a requirement, the first definition in the document wins.
    auth = build_example(
        make_api_definition(securityDefinitions=definitions),
        make_api_properties({"api_key": make_parameter("securestring")}),
    ).auth
    assert (auth.location, auth.key_name) == ("query", "key")


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"username": make_parameter(), "password": make_parameter("securestring")}, ("username", "password")),
        # 17 real connectors declare the username securestring, some in the other order
        (
            {"password": make_parameter("securestring"), "username": make_parameter("securestring")},
            ("username", "password"),
        ),
        ({"UserName": make_parameter(), "Password": make_parameter("securestring")}, ("UserName", "Password")),
        (
            {"host": make_parameter(), "user": make_parameter(), "secret": make_parameter("securestring")},
            ("host", "secret"),
        ),
    ],
)
def test_basic(parameters, expected):
    definition = make_api_definition(securityDefinitions={"basic_auth": {"type": "basic"}})
    auth = build_example(definition, make_api_properties(parameters)).auth
    assert (auth.kind, auth.supported) == ("basic", True)
    assert (auth.username_parameter, auth.password_parameter) == expected


@pytest.mark.parametrize("parameters", [{}, {"username": make_parameter()}, {"flag": make_parameter("bool")}])
def test_basic_without_credentials_parameters(parameters):
    definition = make_api_definition(securityDefinitions={"basic_auth": {"type": "basic"}})
    with pytest.raises(ConnectorInvalid, match="username and password"):
        build_example(definition, make_api_properties(parameters))


@pytest.mark.parametrize("parameter_type", ["oauthSetting", "oAuthSetting"])
def test_oauth_setting_parameter_means_oauth2_whatever_the_swagger_says(parameter_type):
    settings = {
        "identityProvider": "aad",
        "clientId": "id",
        "scopes": [],
        "customParameters": {"tenantId": {"value": "common"}},
    }
    parameters = {
        "token": {"type": parameter_type, "oAuthSettings": settings},
        "token:TenantId": make_parameter(
            required="false", metadata={"sourceType": "AzureActiveDirectoryTenant"}, constraints={"hidden": "true"}
        ),
    }
    definition = make_api_definition(securityDefinitions=API_KEY_HEADER)
    connector = build_example(definition, make_api_properties(parameters))
    assert connector.auth == AuthScheme(kind="oauth2", supported=True, identity_provider="aad")
    assert connector.oauth_settings == settings
    assert [(p.name, p.type, p.secret, p.hidden) for p in connector.parameters] == [
        ("token", "oauthsetting", True, False),
        ("token:TenantId", "string", False, True),
    ]


def test_oauth2_security_definition_alone():
    definitions = {
        "oauth2_auth": {
            "type": "oauth2",
            "flow": "accessCode",
            "authorizationUrl": "https://a",
            "tokenUrl": "https://t",
        }
    }
    auth = build_example(make_api_definition(securityDefinitions=definitions)).auth
    assert (auth.kind, auth.supported, auth.identity_provider) == ("oauth2", True, None)


def _with_sets(*values: dict) -> dict:
    properties = make_api_properties({"token": {"type": "oauthSetting", "oAuthSettings": {"identityProvider": "aad"}}})
    properties["properties"]["connectionParameterSets"] = {
        "uiDefinition": {"displayName": "Auth"},
        "values": list(values),
    }
    return properties


BASIC_SET = {
    "name": "basic",
    "uiDefinition": {"displayName": "Username and password"},
    "parameters": {"username": make_parameter("securestring"), "password": make_parameter("securestring")},
}
OAUTH_SET = {
    "name": "oauth",
    "parameters": {"token": {"type": "oauthSetting", "oAuthSettings": {"identityProvider": "github", "clientId": "c"}}},
}


def test_each_parameter_set_gets_its_own_scheme_and_parameters():
    definition = make_api_definition(securityDefinitions={"b": {"type": "basic"}})
    connector = build_example(definition, _with_sets(BASIC_SET, OAUTH_SET))
    assert connector.auth == AuthScheme(kind="parameterSets", supported=True)
    basic, oauth = connector.parameter_sets
    assert (basic.name, basic.title, [p.name for p in basic.parameters]) == (
        "basic",
        "Username and password",
        ["username", "password"],
    )
    assert basic.auth == AuthScheme(
        kind="basic", supported=True, username_parameter="username", password_parameter="password"
    )
    assert (oauth.auth.kind, oauth.auth.identity_provider, oauth.oauth_settings) == (
        "oauth2",
        "github",
        {"identityProvider": "github", "clientId": "c"},
    )
    as_basic = connector.for_parameter_set("basic")
    assert (as_basic.auth, as_basic.parameters, as_basic.oauth_settings) == (basic.auth, basic.parameters, None)


def test_parameter_sets_none_of_which_is_supported_say_why():
    windows = {"name": "onprem", "parameters": {"gateway": {"type": "gatewaySetting"}}}
    connector = build_example(properties=_with_sets(windows))
    assert (connector.auth.kind, connector.auth.supported) == ("parameterSets", False)
    assert "parameter sets" in connector.auth.reason
    assert "on-premises data gateway" in connector.parameter_sets[0].auth.reason


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ([], "/apiProperties/properties/connectionParameterSets"),
        ([{"parameters": {}}], "/apiProperties/properties/connectionParameterSets/values/0/name"),
        ([BASIC_SET, BASIC_SET], "/apiProperties/properties/connectionParameterSets/values/1/name"),
        (
            [{**BASIC_SET, "parameters": {}}],
            "/apiProperties/properties/connectionParameterSets/values/0/parameters",
        ),
    ],
)
def test_malformed_parameter_sets_are_refused(values, pointer):
    definition = make_api_definition(securityDefinitions={"b": {"type": "basic"}})
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(definition, _with_sets(*values))
    assert error_pointers(caught) == [pointer]


@pytest.mark.parametrize("kind", ["openIdConnect", "http", None])
def test_an_unknown_security_type_is_refused_not_read_as_none(kind):
    definitions = {"odd": {"type": kind} if kind else {"description": "no type"}}
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(securityDefinitions=definitions))
    assert error_pointers(caught) == ["/apiDefinition/securityDefinitions/odd/type"]
    assert "apiKey, basic, oauth2" in caught.value.errors[0]["detail"]


@pytest.mark.parametrize(
    "parameters",
    [
        {"gateway": {"type": "gatewaySetting"}},
        {"authType": {"type": "string", "allowedValues": [{"value": "windows"}]}, "username": make_parameter()},
    ],
)
def test_windows_auth(parameters):
    auth = build_example(properties=make_api_properties(parameters)).auth
    assert (auth.kind, auth.supported) == ("windows", False)
    assert "on-premises data gateway" in auth.reason


def test_parameters_without_security_definitions_are_kept_with_no_auth():
    parameters = {"url": make_parameter(), "api_key": make_parameter("securestring")}
    connector = build_example(properties=make_api_properties(parameters))
    assert connector.auth == AuthScheme(kind="none", supported=True)
    assert [p.name for p in connector.parameters] == ["url", "api_key"]


def test_security_definitions_must_be_an_object():
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(securityDefinitions=["basic"]))
    assert error_pointers(caught) == ["/apiDefinition/securityDefinitions"]


def test_auth_scheme_round_trips_through_asdict():
    auth = build_example(
        make_api_definition(securityDefinitions=API_KEY_HEADER),
        make_api_properties({"api_key": make_parameter("securestring")}),
    ).auth
    assert AuthScheme(**json.loads(json.dumps(dataclasses.asdict(auth)))) == auth


def test_a_security_type_that_isnt_text_is_named_not_a_crash():
    """A list or an object where the type goes was unhashable: the upload answered 500, not the 400 naming it."""
    definitions = {"api_key": {"type": ["apiKey"], "in": "header", "name": "X-Api-Key"}}
    properties = make_api_properties({"api_key": make_parameter("securestring")})
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(securityDefinitions=definitions, security=[{"api_key": []}]), properties)
    assert error_pointers(caught) == ["/apiDefinition/securityDefinitions/api_key/type"]
