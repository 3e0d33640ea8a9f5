"""Connectors end to end: uploads as makers send them, real ones (the curated set; the whole corpus of 232 when
CONNECTORS_CORPUS names it), and every credential reaching a backend."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs

import pytest

from shared.connectors import build_connector, decode_document
from tests.e2e.conftest import Stack, api_key_connector, host_of, problem
from tests.support.connector_files import (
    CORPUS_SIZE,
    EXPECTED_FAILURES,
    iter_corpus_connectors,
    iter_real_connectors,
    read_connector_files,
    whole_corpus,
)

CURATED = list(iter_real_connectors())
CORPUS = list(iter_corpus_connectors())


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:50]


def _multipart(definition: bytes, properties: bytes) -> dict:
    return {
        "apiDefinition": ("apiDefinition.swagger.json", definition, "application/json"),
        "apiProperties": ("apiProperties.json", properties, "application/json"),
    }


def _upload_untouched(stack: Stack, connectors: list) -> dict[str, str]:
    """Uploads each connector's files as they are on disk; the refused ones and their problem's detail."""
    maker = stack.maker()
    refused = {}
    for name, folder in connectors:
        definition, properties = read_connector_files(folder)
        response = maker.put(f"{stack.url}/api/connectors/real-{_slug(name)}", files=_multipart(definition, properties))
        if response.status_code not in (200, 201):
            refused[name] = problem(response)["detail"]
    print(f"\nimported {len(connectors) - len(refused)}/{len(connectors)} real connectors; refused: {refused}")
    return refused


# Real files the https rule refuses: their backend would get a credential over plain http.
PLAIN_HTTP_WITH_CREDENTIAL = {"independent-publisher-connectors/IQAir"}


def test_curated_connector_files_upload_untouched(stack: Stack) -> None:
    refused = _upload_untouched(stack, CURATED)
    assert set(refused) == set(EXPECTED_FAILURES) | PLAIN_HTTP_WITH_CREDENTIAL
    for name, where in EXPECTED_FAILURES.items():
        assert where in refused[name] and "apiDefinition" in refused[name], name
    for name in PLAIN_HTTP_WITH_CREDENTIAL:
        assert "credentials go only over https" in refused[name], name


@whole_corpus
def test_real_connector_files_upload_untouched(stack: Stack) -> None:
    assert len(CORPUS) == CORPUS_SIZE
    refused = _upload_untouched(stack, CORPUS)
    assert (len(CORPUS) - len(refused)) / len(CORPUS) >= 0.95
    for detail in refused.values():
        assert re.search(r"line \d+ column \d+", detail) or "apiDefinition" in detail


def test_get_shows_backend_auth_and_parameter_labels(stack: Stack) -> None:
    stack.register("shown", *api_key_connector("api.example.com", "query", "apikey", "/v2"))
    body = stack.maker().get(f"{stack.url}/api/connectors/shown").json()
    assert body["backendUrl"] == "https://api.example.com/v2"
    assert body["authentication"] == {"type": "apiKey", "in": "query", "name": "apikey"}
    [parameter] = body["parameters"]
    assert parameter["name"] == "api_key"
    assert parameter["secret"] is True
    assert parameter["uiDefinition"]["displayName"] == "API Key"
    assert parameter["uiDefinition"]["tooltip"] == "Provide your key"
    assert "shown" in [c["id"] for c in stack.client("anyone").get(f"{stack.url}/api/connectors").json()["value"]]


def test_put_creates_then_replaces_and_only_makers_may(stack: Stack) -> None:
    definition, properties = api_key_connector("api.example.com")
    url = f"{stack.url}/api/connectors/replace-me"
    body = {"apiDefinition": definition, "apiProperties": properties}
    assert stack.maker().put(url, json=body).status_code == 201
    assert stack.maker().put(url, json=body).status_code == 200
    for forbidden in (stack.client("user").put(url, json=body), stack.client("user").delete(url)):
        assert forbidden.status_code == 403
        problem(forbidden)


def test_lenient_files_bom_latin1_and_trailing_commas(stack: Stack) -> None:
    definition = (
        b'\xef\xbb\xbf{"swagger": "2.0", "info": {"title": "Caf\xc3\xa9", "version": "1.0",},'
        b' "host": "api.example.com", "paths": {},}'
    )
    properties = b'{"properties": {"connectionParameters": {}, "publisher": "Fran\xe7ois"}}'  # cp1252
    response = stack.maker().put(f"{stack.url}/api/connectors/lenient", files=_multipart(definition, properties))
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Café"


@pytest.mark.parametrize(
    ("connector_id", "kwargs", "status", "needle"),
    [
        ("broken", {"files": _multipart(b'{"swagger": "2.0",\n "info": {"title" "x"}}', b"{}")}, 400, "line 2"),
        ("bad id!", {"json": {}}, 400, "connector"),
        ("no-props", {"files": {"apiDefinition": ("a.json", b"{}", "application/json")}}, 400, "apiProperties"),
        ("text", {"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "multipart"),
        (
            "no-host",
            {"json": {"apiDefinition": {"swagger": "2.0", "info": {"title": "x"}, "paths": {}}, "apiProperties": {}}},
            400,
            "host",
        ),
    ],
)
def test_unreadable_uploads_get_a_problem_naming_what_is_wrong(
    stack: Stack, connector_id: str, kwargs: dict, status: int, needle: str
) -> None:
    response = stack.maker().put(f"{stack.url}/api/connectors/{connector_id}", **kwargs)
    assert response.status_code == status, response.text
    assert needle in problem(response)["detail"] + str(problem(response).get("errors", ""))
    assert stack.maker().get(f"{stack.url}/api/connectors/{connector_id}").status_code == 404


def test_delete_removes_the_connector_its_connections_and_their_secrets(stack: Stack) -> None:
    stack.register("doomed", *api_key_connector(host_of(stack.backend.url)))
    connection = stack.connect(stack.client("erin"), "doomed", {"api_key": "doomed-secret"})
    [record] = [e for e in stack.entities("connections") if e["PartitionKey"] == connection["id"]]
    assert stack.maker().delete(f"{stack.url}/api/connectors/doomed").status_code == 204
    assert stack.maker().get(f"{stack.url}/api/connectors/doomed").status_code == 404
    assert stack.client("erin").get(f"{stack.url}/api/connections/{connection['id']}").status_code == 404
    assert record["secretName"] not in stack.keyvault_state()["secrets"]


def test_a_connector_declaring_no_operations_has_nothing_callable_until_its_policy_opts_into_pass_through(
    stack: Stack,
) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    definition["paths"] = {}
    summary = stack.register("no-operations", definition, properties)
    assert summary["operations"] == [] and summary["passThrough"] is False
    [warning] = [w for w in summary["warnings"] if w["pointer"] == "/apiDefinition/paths"]
    assert "nothing is callable (404 operation-not-found)" in warning["detail"]
    assert "operations.passThrough: true" in warning["detail"]
    caller = stack.client("nora")
    connection = stack.connect(caller, "no-operations", {"api_key": "no-operations-key"})
    invoke_url = f"{stack.url}/api/connections/{connection['id']}/invoke/no-operations-marker"

    refused = caller.get(invoke_url)
    assert refused.status_code == 404 and problem(refused)["type"].endswith("operation-not-found")
    assert not [r for r in stack.backend.requests if "no-operations-marker" in r.path]

    body = {"apiDefinition": definition, "apiProperties": properties, "policy": {"operations": {"passThrough": True}}}
    replaced = stack.maker().put(f"{stack.url}/api/connectors/no-operations", json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["passThrough"] is True
    assert caller.get(invoke_url).status_code == 200
    [seen] = [r for r in stack.backend.requests if "no-operations-marker" in r.path]
    assert seen.path == "/v1/no-operations-marker" and seen.header("X-Api-Key") == "no-operations-key"


# -- every apiKey, basic and none connector among the real ones, invoked through the gateway ----------


def _value_for(parameter: dict, index: int) -> object:
    if parameter["allowedValues"]:
        return parameter["allowedValues"][0]
    if parameter["type"] == "int":
        return 7
    if parameter["type"] == "bool":
        return True
    return f"v{index}-{parameter['name']}-Zz9"


def _invocable(connectors: list) -> list[tuple[str, dict, dict]]:
    chosen = []
    for name, folder in connectors:
        raw_definition, raw_properties = read_connector_files(folder)
        try:
            definition = decode_document(raw_definition, "apiDefinition.swagger.json")
            properties = decode_document(raw_properties, "apiProperties.json")
            connector = build_connector("probe", definition, properties)
        except Exception:
            continue
        if connector.auth.kind in ("none", "basic", "apiKey"):
            chosen.append((name, definition, properties))
    return chosen


# The whole corpus holds the curated set, so with a corpus each connector is invoked once, from the corpus.
INVOCABLE = _invocable(CORPUS or CURATED)


def test_every_invocable_auth_kind_is_invoked() -> None:
    kinds = {
        (auth.kind, auth.location)
        for _, definition, properties in INVOCABLE
        for auth in [build_connector("probe", definition, properties).auth]
    }
    assert kinds == {("apiKey", "header"), ("apiKey", "query"), ("basic", None), ("none", None)}


@whole_corpus
def test_there_are_many_invocable_real_connectors() -> None:
    assert len(INVOCABLE) > 150


@pytest.mark.parametrize(("name", "definition", "properties"), INVOCABLE, ids=[c[0] for c in INVOCABLE])
def test_real_connector_credential_reaches_the_backend(
    stack: Stack, name: str, definition: dict, properties: dict
) -> None:
    definition = {**definition, "host": host_of(stack.backend.url), "schemes": ["http"]}
    connector_id = f"inv-{_slug(name)}"
    summary = stack.register(connector_id, definition, properties)
    values = {p["name"]: _value_for(p, i) for i, p in enumerate(summary["parameters"]) if p["type"] != "oauthsetting"}
    caller = stack.client("integrator")
    connection = stack.connect(caller, connector_id, values)
    invoke_url = f"{stack.url}/api/connections/{connection['id']}/invoke"
    # Deeper than any declared path template, so no operation can match it (Zippopotamus declares
    # /{country}/{postal-code}, which a two-segment probe would match).
    undeclared = caller.get(f"{invoke_url}/probe/{connector_id}{'/x' * 20}?q=1")
    assert undeclared.status_code == 404 and problem(undeclared)["type"].endswith("operation-not-found")
    assert not [r for r in stack.backend.requests if f"/probe/{connector_id}" in r.path]
    operation = _plain_operation(summary)
    if operation is None:  # every operation has templates or custom code: test_policy_templates covers those
        return
    path, query = _call_path(operation, connector_id)
    response = caller.request(operation["method"], f"{invoke_url}{path}?{query}")
    assert response.status_code == 200, response.text

    seen = [r for r in stack.backend.requests if connector_id in r.path or connector_id in r.query][-1]
    base_path = summary["backendUrl"].split(host_of(stack.backend.url), 1)[1]
    assert seen.method == operation["method"]
    assert seen.path.startswith(base_path.rstrip("/") + "/")
    auth = summary["authentication"]
    if auth["type"] == "apiKey":
        parameter = _api_key_parameter(summary)
        expected = values[parameter]
        if auth["in"] == "header":
            assert seen.header(auth["name"]) == expected
        else:
            assert parse_qs(seen.query)[auth["name"]] == [expected]
    elif auth["type"] == "basic":
        user, password = _basic_values(summary, values)
        assert seen.header("Authorization") == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    else:
        assert seen.header("Authorization") is None


def _plain_operation(summary: dict) -> dict | None:
    """A supported operation no template changes: the credential alone shapes what the backend gets."""
    return next((o for o in summary["operations"] if o["supported"] and not o["templates"]), None)


def _call_path(operation: dict, marker: str) -> tuple[str, str]:
    """A path that matches the operation (each path parameter a value of its type) and a query carrying
    `marker`, so the backend's record of this call can be found."""
    template, _, fixed = operation["path"].partition("?")
    types = {
        p["name"]: "uuid" if p["format"] == "uuid" else p["type"] for p in operation["parameters"] if p["in"] == "path"
    }
    samples = {"integer": "7", "number": "7", "boolean": "true", "uuid": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    path = re.sub(
        r"\{([^{}/]+)\}",
        lambda m: samples.get(types.get(m.group(1), ""), f"{marker}-{m.group(1)}"),
        template,
    )
    return path, "&".join(part for part in (fixed, f"probe={marker}") if part)


def _api_key_parameter(summary: dict) -> str:
    names = [p["name"] for p in summary["parameters"] if p["secret"]]
    return "api_key" if "api_key" in names else names[0]


def _basic_values(summary: dict, values: dict) -> tuple[str, str]:
    by_name = {k.lower(): v for k, v in values.items()}
    return str(by_name.get("username", "")), str(by_name.get("password", ""))
