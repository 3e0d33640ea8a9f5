"""The proxy end to end: what the backend receives, what the caller gets back, and what never leaves."""

from __future__ import annotations

import base64
import http.client
import json
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import MAX_BODY, Stack, api_key_connector, host_of, problem
from tests.support.backend import RecordingBackend

KEY = "key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def header_connection(stack: Stack) -> tuple[requests.Session, str]:
    stack.register("echo-header", *api_key_connector(host_of(stack.backend.url), "header", "X-Api-Key"))
    alice = stack.client("alice")
    return alice, stack.connect(alice, "echo-header", {"api_key": KEY})["id"]


def _raw_get(base_url: str, target: str, headers: Mapping[str, str]) -> tuple[int, str]:
    """GET `target` exactly as written: requests and urllib3 would normalise `..` and friends away."""
    connection = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    try:
        connection.request("GET", target, headers=dict(headers))
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _last(backend: RecordingBackend):
    assert backend.requests, "the backend received nothing"
    return backend.requests[-1]


def test_api_key_header_reaches_the_backend_and_gateway_credentials_do_not(
    stack: Stack, header_connection: tuple[requests.Session, str]
) -> None:
    alice, connection_id = header_connection
    response = alice.post(
        f"{stack.url}/api/connections/{connection_id}/invoke/items/a%20b?x=1&x=2",
        data=b'{"hello": "world"}',
        headers={
            "Content-Type": "application/json",
            "X-Custom": "kept",
            "Connection": "close, X-Hop",
            "X-Hop": "dropped",
        },
    )
    assert response.status_code == 200, response.text
    seen = _last(stack.backend)
    assert seen.method == "POST"
    assert seen.target == "/v1/items/a%20b?x=1&x=2"
    assert seen.header("X-Api-Key") == KEY
    assert seen.header("Authorization") is None  # the caller's JWT authenticated the gateway only
    assert seen.header("Ocp-Apim-Subscription-Key") is None
    assert seen.header("X-Hop") is None
    assert seen.header("X-Custom") == "kept"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-For").startswith("127.0.0.1")
    assert seen.body == b'{"hello": "world"}'


def test_api_key_in_query_wins_over_a_caller_supplied_one(stack: Stack) -> None:
    stack.register("echo-query", *api_key_connector(host_of(stack.backend.url), "query", "code"))
    bob = stack.client("bob")
    connection_id = stack.connect(bob, "echo-query", {"api_key": KEY})["id"]
    assert bob.get(f"{stack.url}/api/connections/{connection_id}/invoke/q?code=forged&keep=1").status_code == 200
    path = _last(stack.backend).target
    assert path.startswith("/v1/q?")
    assert f"code={KEY}" in path
    assert "forged" not in path
    assert "keep=1" in path


def test_no_case_variant_of_the_api_key_name_reaches_the_backend_from_the_caller(stack: Stack) -> None:
    # Query names are case-sensitive to many backends: Code=x next to code=KEY could be read as the credential.
    stack.register("echo-query-case", *api_key_connector(host_of(stack.backend.url), "query", "code"))
    bob = stack.client("bob")
    connection_id = stack.connect(bob, "echo-query-case", {"api_key": KEY})["id"]
    forged = "Code=forged1&CODE=forged2&c%4Fde=forged3&cOdE=forged4&keep=1"
    assert bob.get(f"{stack.url}/api/connections/{connection_id}/invoke/q?{forged}").status_code == 200
    query = _last(stack.backend).query
    assert "forged" not in query
    names = [pair.split("=", 1)[0].lower() for pair in query.split("&")]
    assert names.count("code") == 1 and f"code={KEY}" in query.split("&")
    assert "keep=1" in query.split("&")


def test_no_case_variant_of_the_api_key_header_reaches_the_backend_from_the_caller(
    stack: Stack, header_connection: tuple[requests.Session, str]
) -> None:
    alice, connection_id = header_connection
    token = alice.headers["Authorization"]
    target = f"/api/connections/{connection_id}/invoke/h"
    connection = http.client.HTTPConnection(urlsplit(stack.url).netloc, timeout=10)
    try:
        connection.putrequest("GET", target)
        connection.putheader("Authorization", token)
        for name in ("x-api-key", "X-API-KEY", "x-Api-kEY"):
            connection.putheader(name, "forged")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        connection.close()
    seen = _last(stack.backend)
    assert [value for name, value in seen.headers if name.lower() == "x-api-key"] == [KEY]


def test_basic_credentials_and_subscription_key_callers(stack: Stack) -> None:
    definition, _ = api_key_connector(host_of(stack.backend.url))
    definition["securityDefinitions"] = {"basic_auth": {"type": "basic"}}
    properties = {
        "properties": {
            "connectionParameters": {
                "username": {
                    "type": "securestring",
                    "uiDefinition": {"displayName": "User", "constraints": {"required": "true"}},
                },
                "password": {
                    "type": "securestring",
                    "uiDefinition": {"displayName": "Password", "constraints": {"required": "true"}},
                },
            }
        }
    }
    stack.register("echo-basic", definition, properties)
    key = stack.key("svc-reporting")
    caller = requests.Session()
    caller.headers["Ocp-Apim-Subscription-Key"] = key
    connection_id = stack.connect(caller, "echo-basic", {"username": "ann", "password": "pa:ss"})["id"]
    response = caller.get(
        f"{stack.url}/api/connections/{connection_id}/invoke/who?subscription-key={key}&keep=1",
        headers={"X-Trace": "t1"},
    )
    assert response.status_code == 200, response.text
    seen = _last(stack.backend)
    assert seen.target == "/v1/who?keep=1"
    assert seen.header("Authorization") == "Basic " + base64.b64encode(b"ann:pa:ss").decode()
    assert seen.header("Ocp-Apim-Subscription-Key") is None
    assert seen.header("X-Trace") == "t1"
    # A key caller's own Authorization header is for the backend, when the connector sets none.
    stack.register("echo-none", *_none_connector(stack))
    none_id = stack.connect(caller, "echo-none", {})["id"]
    caller.get(f"{stack.url}/api/connections/{none_id}/invoke/x", headers={"Authorization": "Token for-backend"})
    assert _last(stack.backend).header("Authorization") == "Token for-backend"
    assert key not in stack.gateway_log()


def _none_connector(stack: Stack) -> tuple[dict, dict]:
    definition, _ = api_key_connector(host_of(stack.backend.url))
    del definition["securityDefinitions"]
    return definition, {"properties": {"connectionParameters": {}}}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_every_method_is_forwarded(stack: Stack, header_connection: tuple[requests.Session, str], method: str) -> None:
    alice, connection_id = header_connection
    response = alice.request(method, f"{stack.url}/api/connections/{connection_id}/invoke/m")
    assert response.status_code == 200
    assert _last(stack.backend).method == method


def test_backend_status_headers_and_redirects_come_back_unchanged(
    stack: Stack, header_connection: tuple[requests.Session, str]
) -> None:
    alice, connection_id = header_connection
    stack.backend.respond("/v1/teapot", status=418, headers={"X-Backend": "yes"}, body=b"short and stout")
    response = alice.get(f"{stack.url}/api/connections/{connection_id}/invoke/teapot")
    assert (response.status_code, response.content, response.headers["X-Backend"]) == (418, b"short and stout", "yes")
    stack.backend.respond("/v1/moved", status=302, headers={"Location": "https://elsewhere.example/x"})
    response = alice.get(f"{stack.url}/api/connections/{connection_id}/invoke/moved", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://elsewhere.example/x"


ESCAPES = [
    "//evil.example/x",
    "/%2f%2fevil.example/x",
    "/..",
    "/../admin",
    "/a/../../admin",
    "/%2e%2e/admin",
    "/%2E%2e/admin",
    "/%252e%252e/admin",
    "/.%2e/admin",
    "/%5c%5cevil.example",
    "/\\evil.example",
    "/@evil.example",
    "/x@evil.example",
    "/http://evil.example/",
    "/https:%2f%2fevil.example",
    "/a%00b",
    "/a%0d%0aX-Injected:%201",
    "/a%09b",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_url_escapes_are_rejected_and_nothing_reaches_any_backend(
    stack: Stack, header_connection: tuple[requests.Session, str], path: str
) -> None:
    alice, connection_id = header_connection
    before = len(stack.backend.requests)
    status, body = _raw_get(stack.url, f"/api/connections/{connection_id}/invoke{path}", alice.headers)
    assert status == 400, (path, status, body)
    assert json.loads(body)["type"].endswith("path-rejected")
    assert len(stack.backend.requests) == before


def test_oversized_body_gets_413_and_is_not_forwarded(
    stack: Stack, header_connection: tuple[requests.Session, str]
) -> None:
    alice, connection_id = header_connection
    before = len(stack.backend.requests)
    response = alice.post(f"{stack.url}/api/connections/{connection_id}/invoke/up", data=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413
    problem(response)
    assert len(stack.backend.requests) == before


def test_unreachable_and_slow_backends(stack: Stack) -> None:
    closed = RecordingBackend()
    closed_host = host_of(closed.url)
    closed.stop()
    stack.register("dead", *api_key_connector(closed_host))
    bob = stack.client("bob")
    dead_id = stack.connect(bob, "dead", {"api_key": KEY})["id"]
    response = bob.get(f"{stack.url}/api/connections/{dead_id}/invoke/x")
    assert response.status_code == 502
    assert KEY not in response.text
    problem(response)

    stack.register("echo-slow", *api_key_connector(host_of(stack.backend.url), base_path="/slow"))
    slow_id = stack.connect(bob, "echo-slow", {"api_key": KEY})["id"]
    stack.backend.respond("/slow/wait", delay=3)
    response = bob.get(f"{stack.url}/api/connections/{slow_id}/invoke/wait")
    assert response.status_code == 504
    problem(response)


def test_invocations_read_key_vault_once_per_secret_version(
    stack: Stack, header_connection: tuple[requests.Session, str]
) -> None:
    alice, connection_id = header_connection
    alice.get(f"{stack.url}/api/connections/{connection_id}/invoke/warm")
    before = stack.keyvault_requests()["total"]
    for _ in range(20):
        assert alice.get(f"{stack.url}/api/connections/{connection_id}/invoke/hot").status_code == 200
    assert stack.keyvault_requests()["total"] == before


def test_unauthenticated_callers_get_401_with_a_challenge(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/api/connections")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    problem(response)
    response = requests.get(f"{stack.url}/api/connections", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert requests.get(f"{stack.url}/api/health").status_code == 200


def test_no_secret_or_credential_in_the_gateway_log(stack: Stack) -> None:
    log = stack.gateway_log()
    assert KEY not in log
    assert "pa:ss" not in log
    assert "Bearer ey" not in log  # no caller JWT either
