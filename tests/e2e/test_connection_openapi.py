"""GET /api/connections/{id}/openapi and /paconn: the connection's OpenAPI 2.0 as a flow imports it, called
through the gateway with nothing but what the document says."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from pathlib import Path

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate as validate_openapi

from tests.e2e.conftest import AUDIENCE, GatewayFactory, Stack, api_key_connector, host_of, problem
from tests.e2e.test_cli import cli
from tests.support.oidc_issuer import SigningKey
from tests.support.schemas import read_schema

SWAGGER_SCHEMA = read_schema("apiDefinition.swagger.schema.json")
PROPERTIES_SCHEMA = read_schema("paconn-apiProperties.schema.json")


def _connector(stack: Stack) -> tuple[dict, dict]:
    definition, properties = api_key_connector(host_of(stack.backend.url), name="X-Api-Key", base_path="/v1")
    key_parameter = {"name": "X-Api-Key", "in": "header", "type": "string", "required": True}
    definition["paths"] = {
        "/items/{id}": {
            "get": {
                "operationId": "GetItem",
                "summary": "Get an item",
                "parameters": [
                    {"name": "id", "in": "path", "type": "integer", "required": True, "x-ms-summary": "Item"},
                    key_parameter,
                ],
                "responses": {"200": {"description": "The item"}},
            }
        },
        "/items": {
            "post": {
                "operationId": "CreateItem",
                "summary": "Create an item",
                "x-ms-visibility": "important",
                "parameters": [
                    {
                        "name": "kind",
                        "in": "query",
                        "type": "string",
                        "x-ms-dynamic-values": {"operationId": "ListKinds", "value-path": "id"},
                    },
                    {"name": "body", "in": "body", "schema": {"type": "object"}},
                ],
                "responses": {"201": {"description": "Created"}},
            }
        },
        "/kinds": {
            "get": {
                "operationId": "ListKinds",
                "summary": "Kinds",
                "x-ms-visibility": "internal",
                "responses": {"200": {"description": "Kinds"}},
            }
        },
        "/hooks": {
            "x-ms-notification-content": {"schema": {"type": "object"}},
            "post": {
                "operationId": "OnItem",
                "summary": "When an item arrives",
                "x-ms-trigger": "single",
                "parameters": [
                    {
                        "name": "body",
                        "in": "body",
                        "schema": {
                            "type": "object",
                            "properties": {
                                "callback": {
                                    "type": "string",
                                    "x-ms-notification-url": True,
                                    "x-ms-visibility": "internal",
                                }
                            },
                        },
                    }
                ],
                "responses": {"201": {"description": "Subscribed"}},
            },
        },
        "/legacy": {
            "get": {
                "operationId": "Legacy",
                "summary": "Needs a template the gateway can't honour",
                "parameters": [
                    {
                        "name": "from",
                        "in": "query",
                        "type": "string",
                        "x-ms-dynamic-values": {"operationId": "Legacy", "value-path": "id"},
                    }
                ],
                "responses": {"200": {"description": "OK"}},
            }
        },
    }
    definition["security"] = [{"api_key": []}]
    properties["properties"]["policyTemplateInstances"] = [
        {
            "templateId": "stringtoarray",
            "title": "Not honoured here",
            "parameters": {"x-ms-apimTemplate-operationName": ["Legacy"], "x-ms-apimTemplateParameter.x": "y"},
        }
    ]
    return definition, properties


@pytest.fixture(scope="module")
def exported(stack: Stack) -> tuple[str, str, str]:
    """(caller's subscription key, connection id, the connection's backend key)."""
    stack.register("oas-export", *_connector(stack))
    key = stack.key("oas-user")
    caller = requests.Session()
    caller.headers["Ocp-Apim-Subscription-Key"] = key
    backend_key = "bk-" + uuid.uuid4().hex
    connection_id = stack.connect(caller, "oas-export", {"api_key": backend_key})["id"]
    return key, connection_id, backend_key


def _operations(document: dict) -> dict[str, tuple[str, str, dict]]:
    return {
        operation["operationId"]: (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


def test_a_flow_calls_two_operations_with_only_what_the_document_says(
    stack: Stack, exported: tuple[str, str, str]
) -> None:
    key, connection_id, backend_key = exported
    response = requests.get(
        f"{stack.url}/api/connections/{connection_id}/openapi", headers={"Ocp-Apim-Subscription-Key": key}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    jsonschema.validate(document, SWAGGER_SCHEMA)
    validate_openapi(document)

    # The connector's credential is gone; the gateway's key is the one way in (this stack's issuer isn't Entra).
    assert backend_key not in response.text
    assert document["securityDefinitions"] == {
        "subscriptionKey": {
            "type": "apiKey",
            "in": "header",
            "name": "Ocp-Apim-Subscription-Key",
            "description": "A connector gateway subscription key.",
        }
    }
    assert document["security"] == [{"subscriptionKey": []}]
    operations = _operations(document)
    # What a flow designer reads is kept; an operation that answers 501 is left out, with references to it.
    assert set(operations) == {"GetItem", "CreateItem", "ListKinds", "OnItem"}
    get_path, _, get_item = operations["GetItem"]
    assert [p["name"] for p in get_item["parameters"]] == ["id"]  # no X-Api-Key parameter
    assert get_item["summary"] == "Get an item"
    create = operations["CreateItem"][2]
    assert create["x-ms-visibility"] == "important"
    assert create["parameters"][0]["x-ms-dynamic-values"] == {"operationId": "ListKinds", "value-path": "id"}
    assert operations["ListKinds"][2]["x-ms-visibility"] == "internal"
    hook = operations["OnItem"][2]
    assert hook["x-ms-trigger"] == "single"
    assert hook["parameters"][0]["schema"]["properties"]["callback"]["x-ms-notification-url"] is True

    # Only the document: scheme, host, basePath, path and its security header.
    header = document["securityDefinitions"]["subscriptionKey"]["name"]
    base = f"{document['schemes'][0]}://{document['host']}{document['basePath']}"
    flow = requests.Session()
    flow.headers[header] = key
    stack.backend.clear()
    got = flow.get(base + get_path.replace("{id}", "42"))
    assert got.status_code == 200, got.text
    created = flow.post(base + operations["CreateItem"][0] + "?kind=a", json={"name": "n"})
    assert created.status_code == 200, created.text
    first, second = stack.backend.requests
    assert (first.method, first.target) == ("GET", "/v1/items/42")
    assert (second.method, second.target) == ("POST", "/v1/items?kind=a")
    assert json.loads(second.body) == {"name": "n"}
    for seen in (first, second):
        assert seen.header("X-Api-Key") == backend_key
        assert seen.header(header) is None  # the gateway's key never reaches the backend


def test_the_export_is_for_those_who_may_use_the_connection(stack: Stack, exported: tuple[str, str, str]) -> None:
    _, connection_id, _ = exported
    stranger = stack.client("oas-stranger").get(f"{stack.url}/api/connections/{connection_id}/openapi")
    assert stranger.status_code == 404
    assert problem(stranger)["type"].endswith("connection-not-found")
    unknown = stack.client("oas-stranger").get(f"{stack.url}/api/connections/nope/paconn")
    assert unknown.status_code == 404


def test_paconn_files_carry_the_gateways_key(stack: Stack, exported: tuple[str, str, str]) -> None:
    key, connection_id, backend_key = exported
    response = requests.get(
        f"{stack.url}/api/connections/{connection_id}/paconn", headers={"Ocp-Apim-Subscription-Key": key}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    assert backend_key.encode() not in response.content
    with zipfile.ZipFile(io.BytesIO(response.content)) as files:
        assert sorted(files.namelist()) == ["apiDefinition.swagger.json", "apiProperties.json"]
        definition = json.loads(files.read("apiDefinition.swagger.json"))
        properties = json.loads(files.read("apiProperties.json"))
    jsonschema.validate(definition, SWAGGER_SCHEMA)
    validate_openapi(definition)
    jsonschema.validate(properties, PROPERTIES_SCHEMA)
    assert definition["securityDefinitions"]["subscriptionKey"]["name"] == "Ocp-Apim-Subscription-Key"
    assert definition["basePath"] == f"/api/connections/{connection_id}/invoke"
    parameters = properties["properties"]["connectionParameters"]
    assert list(parameters) == ["api_key"]
    assert parameters["api_key"]["type"] == "securestring"
    assert "policyTemplateInstances" not in properties["properties"]
    assert properties["properties"]["publisher"] == "Tests"


def test_the_cli_writes_the_connections_openapi(stack: Stack, exported: tuple[str, str, str], tmp_path: Path) -> None:
    key, connection_id, _ = exported
    env = {**os.environ, "GATEWAY_URL": stack.url, "GATEWAY_KEY": key, "GATEWAY_ENV_FILE": str(tmp_path / "no.env")}
    target = tmp_path / "connection.swagger.json"
    result = cli(env, "connections", "openapi", connection_id, "-o", target)
    assert result.returncode == 0, result.stderr
    document = json.loads(target.read_text())
    validate_openapi(document)
    assert document["basePath"] == f"/api/connections/{connection_id}/invoke"
    assert "GetItem" in _operations(document)
    refused = cli(env, "connections", "openapi", "no-such-connection")
    assert refused.returncode != 0
    assert "no-such-connection" in refused.stderr or "not found" in refused.stderr.lower()


def test_the_document_follows_the_settings_and_offers_entra_id_for_an_entra_issuer(
    exported: tuple[str, str, str], start_gateway_process: GatewayFactory
) -> None:
    key, connection_id, _ = exported
    tenant = str(uuid.uuid4())
    gateway = start_gateway_process(
        {
            "GATEWAY_PUBLIC_URL": "https://gateway.example.com/gw",
            "AUTH_SUBSCRIPTION_KEY_HEADER": "X-Gateway-Key",
            # Never contacted: a static issuer is verified with the keys given here.
            "AUTH_OIDC_STATIC_ISSUERS": f"https://login.microsoftonline.com/{tenant}/v2.0",
            "AUTH_OIDC_SIGNING_KEYS": json.dumps({"keys": [SigningKey.generate(kid="entra").public_jwk()]}),
        }
    )
    response = requests.get(f"{gateway}/api/connections/{connection_id}/openapi", headers={"X-Gateway-Key": key})
    assert response.status_code == 200, response.text
    document = response.json()
    jsonschema.validate(document, SWAGGER_SCHEMA)
    validate_openapi(document)
    assert (document["schemes"], document["host"]) == (["https"], "gateway.example.com")
    assert document["basePath"] == f"/gw/api/connections/{connection_id}/invoke"
    assert document["securityDefinitions"]["subscriptionKey"]["name"] == "X-Gateway-Key"
    entra = document["securityDefinitions"]["entraId"]
    assert entra["flow"] == "accessCode"
    assert entra["authorizationUrl"] == f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
    assert entra["tokenUrl"] == f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    assert list(entra["scopes"]) == [f"{AUDIENCE}/.default"]
    assert document["security"] == [{"subscriptionKey": []}, {"entraId": []}]


def test_a_hostile_makers_swagger_exports_without_a_crash(stack: Stack) -> None:
    """Lists where a swagger has names (which made the export's repairs raise) and an `allOf` fan-out of `$ref`s
    (10**20 paths read one by one): the upload takes them, as Power Platform does, and the export answers."""
    definition, properties = api_key_connector(host_of(stack.backend.url), name="X-Api-Key", base_path="/v1")
    definitions = {f"D{n}": {"allOf": [{"$ref": f"#/definitions/D{n + 1}"} for _ in range(10)]} for n in range(20)}
    definitions["D20"] = {"type": "string", "enum": ["a", "b"]}
    definitions["D0"].update({"default": "a", "required": [["a"]], "format": ["x"]})
    definition["definitions"] = definitions
    definition["paths"] = {
        "/items/{id}": {
            "get": {
                "operationId": "GetItem",
                "parameters": [
                    {"name": ["id"], "in": "path", "type": "string", "required": True},
                    {"name": "q", "in": "query", "type": ["string"], "x-ms-visibility": ["x"]},
                    {"name": "body", "in": "body", "schema": {"$ref": "#/definitions/D0"}},
                ],
                "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/D0"}}},
            }
        }
    }
    stack.register("oas-hostile", definition, properties)
    caller = requests.Session()
    caller.headers["Ocp-Apim-Subscription-Key"] = stack.key("oas-hostile-user")
    connection_id = stack.connect(caller, "oas-hostile", {"api_key": "k"})["id"]
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/openapi")
    assert response.status_code == 200, response.text
    (operation,) = [item["get"] for item in response.json()["paths"].values()]
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("q", "query"), ("body", "body"), ("id", "path")]
