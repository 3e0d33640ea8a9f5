import json

import pytest

from shared.connectors import (
    AuthScheme,
    Backend,
    ConnectorError,
    ConnectorInvalid,
    connector_from_record,
    connector_summary,
    connector_to_record,
    validate_connector_id,
)
from tests.support.connector_files import (
    API_KEY_HEADER,
    build_example,
    error_pointers,
    make_api_definition,
    make_api_properties,
    make_parameter,
)


@pytest.mark.parametrize("connector_id", ["a", "A1", "my-connector_2", "0" * 64])
def test_valid_connector_ids(connector_id):
    validate_connector_id(connector_id)


@pytest.mark.parametrize("connector_id", ["", "-a", "_a", "a b", "a/b", "a.b", "é", "a" * 65, "a\n"])
def test_invalid_connector_ids(connector_id):
    with pytest.raises(ConnectorInvalid) as caught:
        validate_connector_id(connector_id)
    assert error_pointers(caught) == ["/id"]
    assert isinstance(caught.value, ConnectorError)


def test_build_rejects_a_bad_id_with_the_document_errors():
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(host=None), connector_id="bad id")
    assert error_pointers(caught) == ["/id", "/apiDefinition/host"]


# --- basics and backend --------------------------------------------------------------------------


def test_minimal_connector():
    connector = build_example()
    assert (connector.id, connector.title, connector.description) == ("example", "Example", "An example API.")
    assert connector.backend == Backend("https", "api.example.com", "/v1")
    assert connector.backend.url == "https://api.example.com/v1"
    assert connector.auth == AuthScheme(kind="none", supported=True)
    assert connector.parameters == ()
    assert connector.oauth_settings is None
    assert connector.policy_template_instances == ()


@pytest.mark.parametrize(
    ("base_path", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/", "/"),
        ("api", "/api"),
        ("/api/", "/api"),
        ("/api/v2//", "/api/v2"),
        ("/a/b", "/a/b"),
    ],
)
def test_base_path_normalisation(base_path, expected):
    backend = build_example(make_api_definition(basePath=base_path)).backend
    assert backend.base_path == expected
    assert backend.url == "https://api.example.com" + expected


@pytest.mark.parametrize("base_path", ["/a b", "/a?x=1", "/a#b", "/a\tb", 5])
def test_bad_base_paths(base_path):
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(basePath=base_path))
    assert error_pointers(caught) == ["/apiDefinition/basePath"]


@pytest.mark.parametrize("host", ["localhost:7071", "api.example.com:443", "10.0.0.1:1", "[::1]:8080", "x:65535"])
def test_hosts_with_ports(host):
    assert build_example(make_api_definition(host=host)).backend.url == f"https://{host}/v1"


@pytest.mark.parametrize(
    "host", [None, "", "https://api.example.com", "api.example.com/v1", "a b", "x:0", "x:65536", "x:", "u@x", 7]
)
def test_bad_hosts(host):
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(host=host))
    assert error_pointers(caught) == ["/apiDefinition/host"]


@pytest.mark.parametrize(
    ("schemes", "expected"), [(None, "https"), ([], "https"), (["http"], "http"), (["HTTPS", "http"], "https")]
)
def test_schemes(schemes, expected):
    assert build_example(make_api_definition(schemes=schemes)).backend.scheme == expected


@pytest.mark.parametrize("schemes", [["ws"], "https", [1]])
def test_bad_schemes(schemes):
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(make_api_definition(schemes=schemes))
    assert error_pointers(caught) == ["/apiDefinition/schemes"]


def test_openapi3_and_missing_title_are_reported_together():
    definition = make_api_definition(swagger=None, openapi="3.0.0", info={"version": "1"})
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(definition)
    assert error_pointers(caught) == ["/apiDefinition/swagger", "/apiDefinition/info/title"]
    assert str(caught.value).startswith("connector is invalid: /apiDefinition/swagger: ")
    assert str(caught.value).endswith("(and 1 more)")


def test_description_is_optional():
    assert build_example(make_api_definition(info={"title": "T"})).description == ""


def test_apiproperties_without_properties_means_no_parameters():
    assert build_example(properties={}).parameters == ()


def test_policy_template_instances_are_kept_raw():
    policies = [
        {
            "templateId": "dynamichosturl",
            "title": "host",
            "parameters": {"x-ms-apimTemplateParameter.urlTemplate": "https://@connectionParameters('subdomain')"},
        }
    ]
    connector = build_example(properties=make_api_properties(policyTemplateInstances=policies))
    assert connector.policy_template_instances == tuple(policies)


def test_bad_policy_template_instances():
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=make_api_properties(policyTemplateInstances={"a": 1}))
    assert error_pointers(caught) == ["/apiProperties/properties/policyTemplateInstances"]


# --- connection parameters -----------------------------------------------------------------------


def test_parameter_fields():
    raw = make_parameter(
        "securestring",
        required="true",
        constraints={"clearText": False, "tabIndex": 2, "hidden": "false"},
    )
    (parameter,) = build_example(properties=make_api_properties({"api_key": raw})).parameters
    assert (parameter.name, parameter.type, parameter.secret, parameter.required, parameter.hidden) == (
        "api_key",
        "securestring",
        True,
        True,
        False,
    )
    assert parameter.ui_definition == raw["uiDefinition"]
    assert parameter.allowed_values == ()
    assert parameter.default is None


@pytest.mark.parametrize(
    ("flag", "expected"), [("true", True), ("false", False), (True, True), (False, False), ("TRUE", True)]
)
def test_required_and_hidden_flags_accept_strings_and_bools(flag, expected):
    raw = make_parameter(required=flag, constraints={"hidden": flag})
    (parameter,) = build_example(properties=make_api_properties({"p": raw})).parameters
    assert (parameter.required, parameter.hidden) == (expected, expected)


def test_bad_flag():
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=make_api_properties({"p": make_parameter(required="yes")}))
    assert error_pointers(caught) == [
        "/apiProperties/properties/connectionParameters/p/uiDefinition/constraints/required"
    ]


def test_parameter_without_ui_definition_is_optional_and_visible():
    (parameter,) = build_example(properties=make_api_properties({"p": {"type": "string"}})).parameters
    assert (parameter.required, parameter.hidden, parameter.ui_definition) == (False, False, {})


def test_types_are_lower_cased_and_secret_follows_type():
    raw = {
        "a": {"type": "String"},
        "b": {"type": "secureString"},
        "c": {"type": "int"},
        "d": {"type": "bool"},
        "e": {"type": "gatewaySetting"},
    }
    parameters = build_example(properties=make_api_properties(raw)).parameters
    assert [(p.type, p.secret) for p in parameters] == [
        ("string", False),
        ("securestring", True),
        ("int", False),
        ("bool", False),
        ("gatewaysetting", False),
    ]


@pytest.mark.parametrize("raw", [{"type": "object"}, {}, {"type": 3}])
def test_unknown_parameter_types(raw):
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=make_api_properties({"my/param": raw}))
    assert error_pointers(caught) == ["/apiProperties/properties/connectionParameters/my~1param/type"]


def test_non_object_parameters():
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=make_api_properties({"p": "string"}))
    assert error_pointers(caught) == ["/apiProperties/properties/connectionParameters/p"]
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties={"properties": {"connectionParameters": []}})
    assert error_pointers(caught) == ["/apiProperties/properties/connectionParameters"]


def test_allowed_values_from_constraints_or_parameter():
    choices = [{"text": "Production", "value": "api"}, {"text": "Sandbox", "value": "sandbox-api"}]
    in_constraints = make_parameter(constraints={"allowedValues": choices})
    on_parameter = {"type": "string", "allowedValues": [{"value": "code"}, {"value": "client_credentials"}]}
    first, second = build_example(
        properties=make_api_properties({"env": in_constraints, "grant": on_parameter})
    ).parameters
    assert first.allowed_values == ("api", "sandbox-api")
    assert second.allowed_values == ("code", "client_credentials")


def test_bad_allowed_values():
    raw = make_parameter(constraints={"allowedValues": [{"value": "ok"}, {"text": "no value"}]})
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=make_api_properties({"env": raw}))
    assert error_pointers(caught) == [
        "/apiProperties/properties/connectionParameters/env/uiDefinition/constraints/allowedValues/1"
    ]


@pytest.mark.parametrize(
    ("parameter_type", "raw_default", "expected"),
    [("string", "api.example.com", "api.example.com"), ("int", "42", 42), ("int", 7, 7), ("bool", "true", True)],
)
def test_defaults_are_converted_to_the_parameter_type(parameter_type, raw_default, expected):
    raw = make_parameter(parameter_type, defaultValue=raw_default)
    assert build_example(properties=make_api_properties({"p": raw})).parameters[0].default == expected


@pytest.mark.parametrize(
    ("parameter_type", "raw_default"), [("int", "4.2"), ("bool", "yes"), ("string", 3), ("int", True)]
)
def test_bad_defaults(parameter_type, raw_default):
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=make_api_properties({"p": make_parameter(parameter_type, defaultValue=raw_default)}))
    assert error_pointers(caught) == ["/apiProperties/properties/connectionParameters/p/defaultValue"]


def test_default_outside_allowed_values():
    raw = make_parameter(defaultValue="c", constraints={"allowedValues": [{"value": "a"}, {"value": "b"}]})
    with pytest.raises(ConnectorInvalid, match="allowed values"):
        build_example(properties=make_api_properties({"p": raw}))


# --- records and summary -------------------------------------------------------------------------


def rich_connector():
    parameters = {
        "api_key": make_parameter("securestring", constraints={"clearText": False}),
        "env": make_parameter(constraints={"allowedValues": [{"text": "Prod", "value": "api"}]}),
        "retries": make_parameter("int", required="false", defaultValue="3", constraints={"hidden": "true"}),
    }
    policies = [{"templateId": "setheader", "title": "h", "parameters": {"x-ms-apimTemplateParameter.name": "X"}}]
    return build_example(
        make_api_definition(securityDefinitions=API_KEY_HEADER, host="localhost:8080", schemes=["http"]),
        make_api_properties(parameters, policyTemplateInstances=policies),
    )


def test_record_round_trip_through_json():
    connector = rich_connector()
    record = json.loads(json.dumps(connector_to_record(connector)))
    assert connector_from_record(record) == connector
    assert record["recordVersion"] == 1


def test_oauth_connector_record_round_trip():
    properties = make_api_properties(
        {"token": {"type": "oauthSetting", "oAuthSettings": {"identityProvider": "oauth2generic", "scopes": ["a"]}}}
    )
    connector = build_example(properties=properties)
    assert connector_from_record(json.loads(json.dumps(connector_to_record(connector)))) == connector


@pytest.mark.parametrize(
    "mutate", [lambda r: r.pop("backend"), lambda r: r.update(recordVersion=99), lambda r: r["auth"].update(extra=1)]
)
def test_malformed_records(mutate):
    record = connector_to_record(rich_connector())
    mutate(record)
    with pytest.raises(ValueError, match="record"):
        connector_from_record(record)


def test_summary():
    summary = connector_summary(rich_connector())
    assert json.loads(json.dumps(summary)) == summary
    assert {k: summary[k] for k in ("id", "title", "description", "backendUrl", "supported")} == {
        "id": "example",
        "title": "Example",
        "description": "An example API.",
        "backendUrl": "http://localhost:8080/v1",
        "supported": True,
    }
    assert summary["authentication"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert summary["parameters"][1] == {
        "name": "env",
        "type": "string",
        "required": True,
        "secret": False,
        "hidden": False,
        "allowedValues": ["api"],
        "uiDefinition": {
            "displayName": "A parameter",
            "constraints": {"required": "true", "allowedValues": [{"text": "Prod", "value": "api"}]},
        },
    }
    assert [(p["name"], p["secret"], p["hidden"]) for p in summary["parameters"]] == [
        ("api_key", True, False),
        ("env", False, False),
        ("retries", False, True),
    ]


def test_summary_of_oauth_connector_names_the_provider_and_hides_settings():
    settings = {"identityProvider": "aad", "clientSecret": "maker-secret"}
    summary = connector_summary(
        build_example(properties=make_api_properties({"token": {"type": "oauthSetting", "oAuthSettings": settings}}))
    )
    assert summary["authentication"] == {"type": "oauth2", "identityProvider": "aad"}
    assert summary["supported"] is True
    assert "maker-secret" not in json.dumps(summary)


def test_summary_of_basic_connector():
    definition = make_api_definition(securityDefinitions={"b": {"type": "basic"}})
    properties = make_api_properties({"username": make_parameter(), "password": make_parameter("securestring")})
    assert connector_summary(build_example(definition, properties))["authentication"] == {"type": "basic"}


def test_input_documents_are_not_aliased():
    properties = make_api_properties({"p": make_parameter()})
    connector = build_example(properties=properties)
    properties["properties"]["connectionParameters"]["p"]["uiDefinition"]["displayName"] = "changed"
    assert connector.parameters[0].ui_definition["displayName"] == "A parameter"


def test_a_client_secret_in_oauth_settings_is_not_kept() -> None:
    from shared.connectors import build_connector, connector_to_record

    properties = {
        "properties": {
            "connectionParameters": {
                "token": {
                    "type": "oauthSetting",
                    "oAuthSettings": {"identityProvider": "oauth2", "clientId": "id", "clientSecret": "s3cr3t-value"},
                }
            }
        }
    }
    definition = {"swagger": "2.0", "info": {"title": "T", "version": "1"}, "host": "api.example.com", "paths": {}}
    connector = build_connector("c", definition, properties)
    assert "s3cr3t-value" not in repr(connector_to_record(connector))
    assert connector.oauth_settings == {"identityProvider": "oauth2", "clientId": "id"}
