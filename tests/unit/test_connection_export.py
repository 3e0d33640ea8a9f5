"""The per-connection OpenAPI export (shared/connectors/_export.py) over real connectors: every supported
connector's export is valid OpenAPI 2.0 and valid against the paconn swagger schema, without its credentials."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from shared.api.connection_openapi import gateway_auth, paconn_properties
from shared.connectors import (
    ConnectorError,
    GatewayAuth,
    build_connector,
    decode_document,
    entra_sign_in,
    export_swagger,
)
from shared.connectors._export_normalise import normalise
from shared.invoke import ConnectorRuntime
from shared.settings import Settings
from tests.support.connector_files import (
    EXPECTED_FAILURES,
    iter_corpus_connectors,
    iter_real_connectors,
    read_connector_files,
    whole_corpus,
)
from tests.support.schemas import read_schema

SWAGGER_VALIDATOR = jsonschema.Draft4Validator(read_schema("apiDefinition.swagger.schema.json"))
PROPERTIES_SCHEMA = read_schema("paconn-apiProperties.schema.json")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ENTRA = entra_sign_in([f"https://login.microsoftonline.com/{TENANT}/v2.0"], ["api://connector-gateway"])
AUTH = GatewayAuth("Ocp-Apim-Subscription-Key", ENTRA, gateway_query=("subscription-key",))
INVOKE = "/api/connections/c-1/invoke"


@functools.cache  # read-only results, shared by the tests below
def _export(directory: Path) -> tuple[dict, dict, dict] | None:
    """(original swagger, export, apiProperties); None for a connector the gateway refuses or can't read."""
    raw_definition, raw_properties = read_connector_files(directory)
    try:
        definition = decode_document(raw_definition, "apiDefinition.swagger.json")
        properties = decode_document(raw_properties, "apiProperties.json")
        connector = build_connector("c", definition, properties, None)
    except ConnectorError:
        return None
    runtime = ConnectorRuntime(connector)
    unsupported = {o.operation_id for o in connector.operations if runtime.plan(o.operation_id).unsupported}
    return (
        definition,
        export_swagger(definition, connector, unsupported, "https://gw.example.com", INVOKE, AUTH),
        properties,
    )


def _schema_errors(document: dict) -> set[str]:
    return {
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in SWAGGER_VALIDATOR.iter_errors(document)
    }


def _openapi_valid(document: dict) -> bool:
    try:
        validate_openapi(document)
    except Exception:
        return False
    return True


def _check(name: str, directory: Path) -> None:
    result = _export(directory)
    if result is None:
        return
    _, exported, properties = result
    assert exported["host"] == "gw.example.com" and exported["schemes"] == ["https"], name
    assert exported["basePath"] == INVOKE, name
    assert set(exported["securityDefinitions"]) == {"subscriptionKey", "entraId"}, name
    # Valid, whatever the maker's file: the export repairs its schema mistakes (_export_normalise.py).
    assert _schema_errors(exported) == set(), name
    validate_openapi(exported)
    jsonschema.validate(paconn_properties(properties, AUTH), PROPERTIES_SCHEMA)


def _check_repairs_nothing_valid(name: str, directory: Path) -> None:
    """Normalisation is a no-op on a valid document: a maker's file that both validators accept comes out of it
    exactly as it went in, so it repairs mistakes and touches nothing else."""
    result = _export(directory)
    if result is None or _schema_errors(result[0]) or not _openapi_valid(result[0]):
        return
    repaired = copy.deepcopy(result[0])
    normalise(repaired)
    assert repaired == result[0], name


CURATED = [(name, directory) for name, directory in iter_real_connectors() if name not in EXPECTED_FAILURES]


@pytest.mark.parametrize(("name", "directory"), CURATED, ids=[name for name, _ in CURATED])
def test_every_curated_connector_exports_a_valid_document(name: str, directory: Path) -> None:
    _check(name, directory)
    _check_repairs_nothing_valid(name, directory)


@whole_corpus
def test_every_corpus_connector_exports_a_valid_document() -> None:
    checked = 0
    for name, directory in iter_corpus_connectors():
        if name not in EXPECTED_FAILURES:
            _check(name, directory)
            _check_repairs_nothing_valid(name, directory)
            checked += 1
    assert checked > 200


def test_the_curated_set_holds_files_the_export_repairs() -> None:
    """The curated set keeps makers' mistakes, so the test above proves the repairs on real files too."""
    repaired = [name for name, directory in CURATED if (r := _export(directory)) and _schema_errors(r[0])]
    assert len(repaired) >= 5


def _api_key_connector(**extra: object) -> dict:
    return {
        "swagger": "2.0",
        "info": {"title": "T", "version": "1"},
        "host": "api.example.com",
        "basePath": "/v2",
        "schemes": ["https"],
        "securityDefinitions": {"k": {"type": "apiKey", "in": "query", "name": "code"}},
        "security": [{"k": []}],
        "parameters": {
            "code": {"name": "code", "in": "query", "type": "string", "required": True},
            "page": {"name": "page", "in": "query", "type": "integer"},
        },
        "paths": {
            "/a": {
                "parameters": [{"$ref": "#/parameters/code"}],
                "get": {
                    "operationId": "A",
                    "security": [{"k": []}],
                    "parameters": [
                        {"$ref": "#/parameters/page"},
                        {"name": "Ocp-Apim-Subscription-Key", "in": "header", "type": "string"},
                    ],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
        **extra,
    }


def test_credential_parameters_go_wherever_they_are_declared() -> None:
    definition = _api_key_connector()
    properties = {
        "properties": {
            "connectionParameters": {"api_key": {"type": "securestring", "uiDefinition": {"displayName": "Key"}}}
        }
    }
    connector = build_connector("c", definition, properties, None)
    exported = export_swagger(definition, connector, set(), "http://localhost:7071/", INVOKE, AUTH)
    assert exported["host"] == "localhost:7071" and exported["schemes"] == ["http"]
    assert exported["parameters"] == {"page": definition["parameters"]["page"]}
    assert "parameters" not in exported["paths"]["/a"]
    assert exported["paths"]["/a"]["get"]["parameters"] == [{"$ref": "#/parameters/page"}]
    assert "security" not in exported["paths"]["/a"]["get"]
    assert exported["security"] == [{"subscriptionKey": []}, {"entraId": []}]
    assert definition["securityDefinitions"] == {"k": {"type": "apiKey", "in": "query", "name": "code"}}  # no mutation
    validate_openapi(exported)


def test_a_public_url_with_a_path_prefixes_the_base_path() -> None:
    definition = _api_key_connector()
    properties = {"properties": {"connectionParameters": {"api_key": {"type": "securestring"}}}}
    connector = build_connector("c", definition, properties, None)
    exported = export_swagger(definition, connector, set(), "https://front.example.com/gw/", INVOKE, AUTH)
    assert exported["basePath"] == "/gw" + INVOKE


@pytest.mark.parametrize(
    ("issuer", "authority"),
    [
        (f"https://login.microsoftonline.com/{TENANT}/v2.0", "login.microsoftonline.com"),
        (f"https://sts.windows.net/{TENANT}/", "login.microsoftonline.com"),
        (f"https://login.microsoftonline.us/{TENANT}/v2.0", "login.microsoftonline.us"),
    ],
)
def test_an_entra_issuer_gives_entra_sign_in(issuer: str, authority: str) -> None:
    entra = entra_sign_in(["https://issuer.example.com", issuer], ["api://gw", "11111111-2222-3333-4444-555555555555"])
    assert entra is not None
    assert entra.authorization_url == f"https://{authority}/{TENANT}/oauth2/v2.0/authorize"
    assert entra.token_url == f"https://{authority}/{TENANT}/oauth2/v2.0/token"
    assert entra.scopes == ("api://gw/.default", "11111111-2222-3333-4444-555555555555/.default")


@pytest.mark.parametrize(
    "issuers",
    [
        ["https://issuer.example.com/tenant/v2.0"],
        ["http://login.microsoftonline.com/tenant/v2.0"],  # not https
        ["https://login.microsoftonline.com.evil.example/tenant/v2.0"],
        ["https://login.microsoftonline.com/"],  # no tenant
    ],
)
def test_other_issuers_give_no_entra_sign_in(issuers: list[str]) -> None:
    assert entra_sign_in(issuers, ["api://gw"]) is None
    assert GatewayAuth("K", entra_sign_in(issuers, ["api://gw"])).security() == [{"subscriptionKey": []}]


def _settings(**values: str) -> Settings:
    base = {"KEY_VAULT_URL": "https://vault.example/", "TABLES_ENDPOINT": "https://acct.table.core.windows.net"}
    return Settings.from_env({**base, **values})


def test_the_settings_name_the_gateways_authentication() -> None:
    auth = gateway_auth(
        _settings(
            AUTH_OIDC_ISSUERS=f"https://idp.example.com,https://sts.windows.net/{TENANT}/",
            AUTH_OIDC_AUDIENCES="api://gw",
            AUTH_SUBSCRIPTION_KEY_HEADER="X-Gateway-Key",
            AUTH_TOKEN_HEADER="X-Gateway-Token",
        )
    )
    definitions = auth.security_definitions()
    assert definitions["subscriptionKey"]["name"] == "X-Gateway-Key"
    assert definitions["entraId"]["tokenUrl"] == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    assert definitions["entraId"]["scopes"] == {"api://gw/.default": "Call the connector gateway."}
    assert "X-Gateway-Token" in auth.gateway_headers
    assert set(gateway_auth(_settings(AUTH_OIDC_ISSUERS="https://idp.example.com")).security_definitions()) == {
        "subscriptionKey"
    }


def test_x_ms_paths_operations_stay_and_unsupported_ones_go_with_their_references() -> None:
    definition = _api_key_connector()
    definition["x-ms-paths"] = {
        "/a?op=list": {"get": {"operationId": "List", "responses": {"200": {"description": "ok"}}}},
        "/a?op=old": {"get": {"operationId": "Old", "responses": {"200": {"description": "ok"}}}},
    }
    definition["paths"]["/b"] = {
        "get": {
            "operationId": "B",
            "parameters": [
                {"name": "x", "in": "query", "type": "string", "x-ms-dynamic-values": {"operationId": "Old"}},
                {"name": "y", "in": "query", "type": "string", "x-ms-dynamic-values": {"operationId": "List"}},
            ],
            "responses": {"200": {"description": "ok"}},
        }
    }
    definition["x-ms-capabilities"] = {"testConnection": {"operationId": "Old"}}
    properties = {"properties": {"connectionParameters": {"api_key": {"type": "securestring"}}}}
    connector = build_connector("c", definition, properties, None)
    exported = export_swagger(definition, connector, {"Old"}, "https://gw.example.com", INVOKE, AUTH)
    assert list(exported["x-ms-paths"]) == ["/a?op=list"]
    x, y = exported["paths"]["/b"]["get"]["parameters"]
    assert "x-ms-dynamic-values" not in x
    assert y["x-ms-dynamic-values"] == {"operationId": "List"}
    assert exported["x-ms-capabilities"] == {}
