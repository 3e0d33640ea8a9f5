"""The gateway's OpenAPI document is generated from the routes function_app.py registers, and is valid OpenAPI 3.1.

The route list is compared with what the dev host indexes (devtools/funchost, the Functions host's indexing:
FunctionApp.get_functions()), so the document can't list a route the app doesn't serve, nor miss one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from devtools.funchost._app import load_app, read_route_prefix
from shared import problems
from shared.api import catalog, openapi
from shared.api.routing import GatewayApp
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = Settings.from_env(
    {"KEY_VAULT_URL": "https://vault.example/", "TABLES_ENDPOINT": "https://acct.table.core.windows.net"}
)
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def loaded():
    # The dev host imports function_app.py as the worker does, and indexes it through get_functions().
    return load_app(REPO)


@pytest.fixture(scope="module")
def document(loaded) -> dict:
    import function_app

    return openapi.build_document(function_app.app.http_routes, SETTINGS)


def _host_template(route: str) -> str:
    return "/" + re.sub(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", r"{\1}", route)


def test_the_document_lists_exactly_the_routes_and_methods_the_host_indexes(loaded, document):
    indexed = {
        (_host_template(entry.route), method.lower())
        for entry in loaded.functions.values()
        if entry.is_http
        for method in (entry.methods or [m.upper() for m in METHODS])
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}
    assert documented == indexed


def test_operation_ids_are_unique_and_named_after_the_functions(loaded, document):
    http = {entry.name for entry in loaded.functions.values() if entry.is_http}
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    # A function with several methods gets one operation per method: <function>_<method>.
    assert {op_id if op_id in http else op_id.rsplit("_", 1)[0] for op_id in ids} == http


def test_every_registered_route_is_described_in_the_catalog_and_nothing_else_is(loaded):
    http = {entry.name for entry in loaded.functions.values() if entry.is_http}
    undescribed = http - set(catalog.OPERATIONS)
    assert not undescribed, f"describe {sorted(undescribed)} in shared/api/catalog.py (summary, who, problems)"
    assert set(catalog.OPERATIONS) - http == set(), "catalog entries for functions function_app.py doesn't register"


def test_the_document_is_valid_openapi_3_1_and_its_schemas_are_valid_json_schema(document):
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(document)  # served as JSON


def test_every_problem_response_is_the_problem_component_and_every_operation_has_the_edge_problems(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses, (path, method)
            for status, response in responses.items():
                if status != "default" and int(status) >= 400:
                    content = dict(response["content"])
                    assert content.pop("application/problem+json") == {
                        "schema": {"$ref": "#/components/schemas/Problem"}
                    }, (path, method, status)
                    # Only the sign-in pages answer a browser's refusal with an error page; only invoke passes
                    # on whatever the backend answers.
                    if path.startswith("/api/oauth/"):
                        assert set(content) == {"text/html"}
                    elif "/invoke/" in path:
                        assert content == {"*/*": {}}
                    else:
                        assert content == {}
                    assert response["headers"]["X-Correlation-Id"] == {"$ref": "#/components/headers/CorrelationId"}
                    assert "urn:connector-gateway:problem:" in response["description"]
            if operation["security"]:
                assert {"401", "403", "503"} <= set(responses), (path, method)


def test_a_problem_the_gateway_emits_matches_the_problem_component(document):
    validator = jsonschema.Draft202012Validator(
        {**document["components"]["schemas"]["Problem"], "components": document["components"]}
    )
    emitted = problems.invalid_parameters("Bad.", [{"pointer": "/displayName", "detail": "required"}]).to_dict()
    validator.validate({**emitted, "correlationId": "0af7651916cd43dd8448eb211c80319c"})
    validator.validate(problems.unauthorized("No credential.").to_dict())


def test_security_schemes_follow_the_settings():
    settings = Settings.from_env(
        {
            "KEY_VAULT_URL": "https://vault.example/",
            "TABLES_ENDPOINT": "https://acct.table.core.windows.net",
            "AUTH_SUBSCRIPTION_KEY_HEADER": "X-Gateway-Key",
            "AUTH_TOKEN_HEADER": "X-Token",
            "GATEWAY_PUBLIC_URL": "https://gateway.example.com/",
        }
    )
    document = openapi.build_document([], settings)
    schemes = document["components"]["securitySchemes"]
    assert schemes["subscriptionKey"] == {"type": "apiKey", "in": "header", "name": "X-Gateway-Key"}
    assert schemes["bearer"]["name"] == "X-Token"
    assert document["servers"] == [{"url": "https://gateway.example.com"}]


def test_the_route_prefix_is_host_json_s():
    assert read_route_prefix(REPO) == openapi.ROUTE_PREFIX


def test_a_route_registered_later_is_in_the_document_without_a_catalog_entry():
    app = GatewayApp()

    @app.route(route="things/{thingId:int}/{*rest}", methods=["GET", "POST"])
    def thing_get(req):
        return None

    @app.route()
    def bare(req):
        return None

    document = openapi.build_document(app.http_routes, SETTINGS)
    item = document["paths"]["/api/things/{thingId}/{rest}"]
    assert set(item) == {"get", "post"}
    assert [p["name"] for p in item["get"]["parameters"]] == ["thingId", "rest"]
    assert {"401", "500"} <= set(item["get"]["responses"])
    assert set(document["paths"]["/api/bare"]) == METHODS
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)


def test_refusals_carry_their_documented_headers_except_where_a_backend_may_answer(document):
    connection = document["paths"]["/api/connections/{connectionId}"]["get"]["responses"]
    assert connection["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert connection["503"]["headers"]["Retry-After"]["required"] is True
    invoke = document["paths"]["/api/connections/{connectionId}/invoke/{path}"]["post"]["responses"]
    assert invoke["401"]["headers"]["WWW-Authenticate"]["required"] is False  # a backend's 401 needn't challenge
    assert "default" in invoke


def _problems_in_the_code() -> tuple[dict[str, set[int]], set[str]]:
    """(status by slug) of every `Problem(status, "slug", ...)`, and the slugs of `slug="..."` and
    `not_found("what", ...)`, across shared/: what the gateway can answer."""
    with_status: dict[str, set[int]] = {}
    slugs: set[str] = set()
    for source in sorted((REPO / "shared").rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        for status, slug in re.findall(r'Problem\(\s*(\d{3}),\s*"([a-z0-9-]+)"', text):
            with_status.setdefault(slug, set()).add(int(status))
        slugs.update(re.findall(r'slug="([a-z0-9-]+)"', text))
        slugs.update(f"{what}-not-found" for what in re.findall(r'not_found\(\s*"([a-z-]+)"', text))
    return with_status, slugs


def test_every_problem_type_the_code_raises_is_in_the_document_under_its_status(document):
    documented: dict[str, set[int]] = {}
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                for slug in re.findall(r"`urn:connector-gateway:problem:([a-z0-9-]+)`", response["description"]):
                    documented.setdefault(slug, set()).add(int(status))
    with_status, slugs = _problems_in_the_code()
    assert len(with_status) > 30, "the scan still finds the code's problems"
    missing = sorted((set(with_status) | slugs) - set(documented))
    assert not missing, f"problem types no operation documents (add them in shared/api/catalog.py): {missing}"
    wrong_status = {slug: statuses - documented[slug] for slug, statuses in with_status.items()}
    assert not {slug: statuses for slug, statuses in wrong_status.items() if statuses}
