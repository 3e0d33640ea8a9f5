"""The gateway behind the platform as Azure runs it: the dev host adds App Service's front-end request headers,
decodes %2F and %5C in the path as the front end does, and converts responses with the Functions worker's own code.

What the backend receives and what the caller gets back, through the whole stack.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import GatewayFactory, Stack, api_key_connector, host_of

CONNECTION_KEY = "conn-" + uuid.uuid4().hex
# Names App Service's front end adds (devtools/funchost/_front_end.py) and those Easy Auth / Front Door add.
FRONT_END_HEADERS = (
    "x-original-url",
    "x-waws-unencoded-url",
    "x-arr-log-id",
    "x-site-deployment-id",
    "disguised-host",
    "was-default-hostname",
    "client-ip",
    "x-appservice-proto",
    "max-forwards",
)
FORGED_PLATFORM_HEADERS = {
    "X-MS-CLIENT-PRINCIPAL-ID": "forged-principal",
    "X-MS-TOKEN-AAD-ACCESS-TOKEN": "forged-token",
    "X-Azure-FDID": "forged-frontdoor",
    "X-Forwarded-Host": "evil.example",
    "X-ARR-SSL": "forged",
}


@pytest.fixture(scope="module")
def keyed_connection(stack: Stack) -> tuple[str, str]:
    """A connection whose owner calls with a subscription key in the query string: the key is in the URL."""
    stack.register("platform-echo", *api_key_connector(host_of(stack.backend.url), "header", "X-Api-Key"))
    key = stack.key("svc-platform")
    owner = requests.Session()
    owner.headers["Ocp-Apim-Subscription-Key"] = key
    return key, stack.connect(owner, "platform-echo", {"api_key": CONNECTION_KEY})["id"]


def _raw_get(base_url: str, target: str, headers: Mapping[str, str] | None = None) -> http.client.HTTPResponse:
    """GET `target` exactly as written (no client-side normalisation); the body is read and kept as `.data`."""
    connection = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    try:
        connection.request("GET", target, headers=dict(headers or {}))
        response = connection.getresponse()
        response.data = response.read()  # type: ignore[attr-defined]
        return response
    finally:
        connection.close()


def test_the_key_in_x_original_url_and_the_platform_headers_never_reach_the_backend(
    stack: Stack, keyed_connection: tuple[str, str]
) -> None:
    key, connection_id = keyed_connection
    stack.backend.clear()
    response = _raw_get(
        stack.url,
        f"/api/connections/{connection_id}/invoke/items?subscription-key={key}&keep=1",
        {**FORGED_PLATFORM_HEADERS, "X-Custom": "kept"},
    )
    assert response.status == 200, response.data
    (seen,) = stack.backend.requests
    assert seen.target == "/v1/items?keep=1"
    assert seen.header("X-Api-Key") == CONNECTION_KEY
    assert seen.header("X-Custom") == "kept"
    assert seen.header("X-Forwarded-Proto") == "http"
    leaked = seen.header_names() & {*FRONT_END_HEADERS, *(name.lower() for name in FORGED_PLATFORM_HEADERS)}
    assert leaked == set()
    assert not [name for name in seen.header_names() if name.startswith(("x-arr-", "x-ms-client", "x-azure-"))]
    assert all(key not in value for _, value in seen.headers)
    assert all("forged" not in value and "evil.example" not in value for _, value in seen.headers)
    assert key not in stack.gateway_log()


@pytest.mark.parametrize(
    "tail",
    [
        "a%2F..%2F..%2Fx",
        "a%2f..%2f..%2fx",
        "a%5C..%5C..%5Cx",
        "a%5c..%5cx",
        "%2F%2Fevil.example%2Fx",
        "a%5C%5Cevil.example%5Cx",
        "x%2F.%2Fy",
    ],
)
def test_encoded_slashes_and_backslashes_arrive_decoded_and_are_refused(
    stack: Stack, keyed_connection: tuple[str, str], tail: str
) -> None:
    key, connection_id = keyed_connection
    stack.backend.clear()
    response = _raw_get(stack.url, f"/api/connections/{connection_id}/invoke/{tail}?subscription-key={key}")
    assert response.status == 400, response.data
    assert response.getheader("Content-Type", "").startswith("application/problem+json")
    body = json.loads(response.data)
    assert body["type"].endswith("path-rejected")
    assert key not in response.data.decode()
    assert stack.backend.requests == []
    assert len(response.msg.get_all("Date") or []) == 1


def test_an_encoded_slash_reaches_the_backend_as_a_slash(stack: Stack, keyed_connection: tuple[str, str]) -> None:
    key, connection_id = keyed_connection
    stack.backend.clear()
    response = _raw_get(stack.url, f"/api/connections/{connection_id}/invoke/files/a%2Fb%20c?subscription-key={key}")
    assert response.status == 200, response.data
    assert stack.backend.requests[-1].target == "/v1/files/a/b%20c"  # decoded by the front end, as on Azure


def test_set_cookies_reach_the_caller_as_separate_headers_with_one_date(
    stack: Stack, keyed_connection: tuple[str, str]
) -> None:
    key, connection_id = keyed_connection
    path = f"/v1/cookies-{uuid.uuid4().hex[:8]}"
    stack.backend.respond(
        path,
        headers=[
            ("Set-Cookie", "session=abc; Path=/; HttpOnly"),
            ("Set-Cookie", "theme=dark; Path=/; Max-Age=3600; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
            ("Date", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ("Vary", "Accept"),
            ("Vary", "Origin"),
        ],
        body="ok",
    )
    response = _raw_get(
        stack.url, f"/api/connections/{connection_id}/invoke{path.removeprefix('/v1')}?subscription-key={key}"
    )
    assert response.status == 200, response.data
    assert response.data == b"ok"
    # Each cookie is its own header, as the Functions host writes it (attribute names lower-cased), kept to the
    # connection's invoke path (test_attacks.py has why).
    invoke = f"/api/connections/{connection_id}/invoke"
    assert response.msg.get_all("Set-Cookie") == [
        f"session=abc; path={invoke}; httponly",
        f"theme=dark; expires=Wed, 21 Oct 2026 07:28:00 GMT; max-age=3600; path={invoke}",
    ]
    assert response.msg.get_all("Date") == ["Tue, 01 Jan 2030 00:00:00 GMT"]  # the backend's, not a second one
    assert response.msg.get_all("Vary") == ["Accept, Origin"]  # joined: the worker keeps one value per name


def test_a_backend_header_the_functions_host_would_fail_on_is_dropped_not_a_500(
    stack: Stack, keyed_connection: tuple[str, str]
) -> None:
    key, connection_id = keyed_connection
    path = f"/v1/bad-headers-{uuid.uuid4().hex[:8]}"
    stack.backend.respond(
        path,
        headers=[
            ("Set-Cookie", "broken=1; Expires=never"),
            ("Set-Cookie", "negative=1; Max-Age=-1"),
            ("Set-Cookie", "good=1; Max-Age=60"),
            ("X-Latin1", "caf\xe9"),
            ("X-Fine", "yes"),
        ],
        body="still here",
    )
    target = f"/api/connections/{connection_id}/invoke{path.removeprefix('/v1')}?subscription-key={key}"
    response = _raw_get(stack.url, target)
    assert response.status == 200, response.data
    assert response.data == b"still here"
    assert response.msg.get_all("Set-Cookie") == [f"good=1; max-age=60; path=/api/connections/{connection_id}/invoke"]
    assert response.getheader("X-Latin1") is None
    assert response.getheader("X-Fine") == "yes"


class HeldBackend:
    """A backend that takes one request and answers only once released: slower than the front end's limit,
    without a clock in the test."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve_one, name="held-backend", daemon=True)
        self.thread.start()

    def _serve_one(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:  # stopped before any request came
            return
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            self.received.set()
            self.release.wait(60)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlate")

    def stop(self) -> None:
        self.release.set()
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture
def held_backend() -> Iterator[HeldBackend]:
    backend = HeldBackend()
    yield backend
    backend.stop()


def test_an_invoke_past_the_front_end_timeout_gets_the_front_ends_500_not_a_problem(
    stack: Stack, start_gateway_process: GatewayFactory, held_backend: HeldBackend
) -> None:
    # On Azure the limit is 230 s; PROXY_READ_TIMEOUT_SECONDS above it means the caller never sees the 504 problem.
    gateway = start_gateway_process({"FUNCHOST_HTTP_TIMEOUT_SECONDS": "1", "PROXY_READ_TIMEOUT_SECONDS": "60"})
    stack.register("platform-held", *api_key_connector(held_backend.host, "header", "X-Api-Key"))
    key = stack.key("svc-held")
    owner = requests.Session()
    owner.headers["Ocp-Apim-Subscription-Key"] = key
    connection_id = stack.connect(owner, "platform-held", {"api_key": CONNECTION_KEY})["id"]
    response = owner.get(f"{gateway}/api/connections/{connection_id}/invoke/slow", timeout=60)
    assert response.status_code == 500
    assert response.text.startswith("500 - The request timed out.")
    assert not response.headers.get("Content-Type", "").startswith("application/problem+json")
    assert held_backend.received.wait(60)  # the gateway had called the backend and was still waiting on it
