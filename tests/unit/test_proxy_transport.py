"""Transport: forward through the guarded pooled session against the recording backend."""

from __future__ import annotations

import gzip
import ipaddress
import logging
import socket
import traceback
from collections.abc import Iterator

import pytest
import requests
import urllib3.util.connection
from requests.auth import AuthBase, HTTPBasicAuth

from shared.problems import Problem
from shared.proxy import AddressClass, AddressPolicy, BackendSession, ProxiedResponse, classify, forward
from tests.support.backend import RecordingBackend
from tests.support.stream_backend import StreamingBackend

TIMEOUT = (2.0, 5.0)
LOCAL = AddressPolicy(allow_loopback=True)  # the recording backend lives on loopback


@pytest.fixture(scope="module")
def backend() -> Iterator[RecordingBackend]:
    with RecordingBackend() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(backend: RecordingBackend) -> None:
    backend.clear()


@pytest.fixture(scope="module")
def session() -> Iterator[BackendSession]:
    with BackendSession(LOCAL) as backend_session:
        yield backend_session


def _get(session: requests.Session, url: str, headers=None, auth=None, timeout=TIMEOUT) -> ProxiedResponse:
    return forward(session, "GET", url, headers or {}, None, auth, timeout)


def _header(response: ProxiedResponse, name: str) -> list[str]:
    return [value for key, value in response.headers if key.lower() == name.lower()]


def _problem(call, *args, **kwargs) -> Problem:
    with pytest.raises(Problem) as caught:
        call(*args, **kwargs)
    return caught.value


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- forwarding ---------------------------------------------------------------------------------


def test_get_is_forwarded_with_raw_path_query_and_headers(backend, session) -> None:
    backend.respond("/v1/items", body={"ok": True}, headers={"X-Backend": "yes"})
    target = "/v1/items/a%20b/%7Euser/caf%C3%A9?y=1&y=2&q=a%2Fb+c"
    response = _get(session, backend.url + target, {"X-Caller": "c", "Accept": "application/json"})
    assert response.status == 200
    assert response.body == b'{"ok": true}'
    assert _header(response, "X-Backend") == ["yes"]
    assert not _header(response, "Content-Length")
    [recorded] = backend.requests
    assert recorded.method == "GET"
    assert recorded.target == target  # not re-quoted: %7E stays %7E
    assert recorded.header("X-Caller") == "c"
    assert recorded.header("Accept") == "application/json"
    assert recorded.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_body_is_forwarded_exactly(backend, session, method) -> None:
    body = bytes(range(256)) * 100
    response = forward(
        session, method, backend.url + "/v1/upload", {"Content-Type": "application/octet-stream"}, body, None, TIMEOUT
    )
    assert response.status == 200
    [recorded] = backend.requests
    assert recorded.method == method
    assert recorded.body == body
    assert recorded.header("Content-Length") == str(len(body))
    assert recorded.header("Transfer-Encoding") is None


def test_empty_post_sends_content_length_zero(backend, session) -> None:
    forward(session, "POST", backend.url + "/v1/empty", {}, None, None, TIMEOUT)
    assert backend.requests[0].header("Content-Length") == "0"


def test_head_returns_no_body(backend, session) -> None:
    response = forward(session, "HEAD", backend.url + "/v1/x", {}, None, None, TIMEOUT)
    assert (response.status, response.body) == (200, b"")


def test_redirect_is_returned_not_followed(backend, session) -> None:
    backend.respond("/v1/moved", redirect=backend.url + "/v1/target", body=b"moved", gzip=True)
    response = _get(session, backend.url + "/v1/moved")
    assert response.status == 302
    assert _header(response, "Location") == [backend.url + "/v1/target"]
    assert gzip.decompress(response.body) == b"moved"  # a 3xx body isn't consumed or decoded on the way
    assert [r.path for r in backend.requests] == ["/v1/moved"]


def test_gzip_body_passes_raw_with_content_encoding(backend, session) -> None:
    payload = b'{"big": "' + b"x" * 5000 + b'"}'
    backend.respond("/v1/zipped", body=payload, gzip=True, headers={"Content-Type": "application/json"})
    response = _get(session, backend.url + "/v1/zipped", {"Accept-Encoding": "gzip"})
    assert _header(response, "Content-Encoding") == ["gzip"]
    assert response.body != payload
    assert gzip.decompress(response.body) == payload
    assert backend.requests[0].header("Accept-Encoding") == "gzip"


def test_set_cookie_twice_stays_twice_and_is_not_replayed(backend, session) -> None:
    backend.respond("/v1/cookies", headers=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")])
    response = _get(session, backend.url + "/v1/cookies")
    assert _header(response, "Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    _get(session, backend.url + "/v1/next-caller")
    assert backend.requests[1].header("Cookie") is None  # one caller's cookies never reach another's call


def test_pooled_connection_is_reused(backend, session) -> None:
    for _ in range(3):
        _get(session, backend.url + "/v1/ping")
    assert len({r.client_port for r in backend.requests}) == 1


def test_session_adds_no_headers_of_its_own(backend, session) -> None:
    _get(session, backend.url + "/v1/x", {"Accept-Encoding": "identity"})
    names = backend.requests[0].header_names()
    assert names == {"host", "accept-encoding"}  # no User-Agent, Accept or Connection from requests/urllib3


def test_caller_user_agent_passes(backend, session) -> None:
    _get(session, backend.url + "/v1/x", {"User-Agent": "PowerApps/3.0"})
    assert backend.requests[0].header("User-Agent") == "PowerApps/3.0"


def test_auth_is_applied(backend, session) -> None:
    class ApiKeyHeader(AuthBase):
        def __call__(self, request):
            request.headers["X-Api-Key"] = "backend-key"
            return request

    _get(session, backend.url + "/v1/a", auth=ApiKeyHeader())
    _get(session, backend.url + "/v1/b", auth=HTTPBasicAuth("user", "pass"))
    first, second = backend.requests
    assert first.header("X-Api-Key") == "backend-key"
    assert second.header("Authorization") == "Basic dXNlcjpwYXNz"
    assert first.target == "/v1/a"


# --- errors -------------------------------------------------------------------------------------


def _assert_secret_free(problem: Problem) -> None:
    text = "".join(traceback.format_exception(problem)) + str(problem.to_dict())
    assert "SECRET" not in text


def test_unreachable_backend_is_502(session) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/x?api_key=SECRET"
    problem = _problem(_get, session, url)
    assert (problem.status, problem.slug) == (502, "backend-unreachable")
    assert "127.0.0.1" in problem.detail
    _assert_secret_free(problem)


def test_dns_failure_is_502(session, monkeypatch) -> None:
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(urllib3.util.connection.socket, "getaddrinfo", no_such_host)
    problem = _problem(_get, session, "https://nowhere.invalid/v1/x?api_key=SECRET")
    assert (problem.status, problem.slug) == (502, "backend-unreachable")
    assert "nowhere.invalid" in problem.detail
    assert "resolved" in problem.detail
    _assert_secret_free(problem)


def test_slow_backend_is_504(backend, session) -> None:
    backend.respond("/v1/slow", delay=1.0)
    problem = _problem(_get, session, backend.url + "/v1/slow?api_key=SECRET", timeout=(2.0, 0.2))
    assert (problem.status, problem.slug) == (504, "backend-timeout")
    assert "0.2 s" in problem.detail
    _assert_secret_free(problem)


def test_connect_timeout_is_504(session, monkeypatch) -> None:
    def black_hole(*args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", black_hole)
    problem = _problem(_get, session, "http://10.255.255.1/v1/x?api_key=SECRET", timeout=(0.1, 5.0))
    assert (problem.status, problem.slug) == (504, "backend-timeout")
    assert "accept the connection" in problem.detail
    _assert_secret_free(problem)


def test_loopback_is_refused_before_anything_is_sent_unless_allowed(backend) -> None:
    with BackendSession() as guarded:
        problem = _problem(_get, guarded, backend.url + "/v1/x?api_key=SECRET")
    assert (problem.status, problem.slug) == (403, "backend-address-forbidden")
    assert "loopback" in problem.detail
    assert backend.requests == []
    _assert_secret_free(problem)


def test_loopback_is_refused_over_https_too(backend) -> None:
    # The check runs before the TLS handshake: the plain-HTTP backend never sees a ClientHello.
    https_url = backend.url.replace("http://", "https://") + "/v1/x"
    with BackendSession() as guarded:
        problem = _problem(_get, guarded, https_url)
    assert problem.status == 403
    assert backend.requests == []


@pytest.mark.parametrize("host", ["127.1", "0x7f.1", "0177.0.0.1", "0x7f000001", "2130706433", "localhost"])
def test_every_spelling_of_loopback_is_judged_by_the_connected_address(backend, host) -> None:
    with BackendSession() as guarded:
        problem = _problem(_get, guarded, f"http://{host}:{backend.port}/v1/x")
    assert (problem.status, problem.slug) == (403, "backend-address-forbidden")
    assert backend.requests == []


@pytest.mark.parametrize("answer", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"])
def test_a_name_resolving_to_metadata_is_refused_without_connecting(monkeypatch, answer) -> None:
    real_getaddrinfo = socket.getaddrinfo
    connects = []

    def resolve(host, port, *args, **kwargs):
        if host == "imds.attacker.test":
            family = socket.AF_INET6 if ":" in answer else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answer, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", lambda *a, **k: connects.append(a))
    with BackendSession(LOCAL) as guarded:
        problem = _problem(_get, guarded, "http://imds.attacker.test/metadata/instance?api-version=2021")
    assert (problem.status, problem.slug) == (403, "backend-address-forbidden")
    assert "metadata" in problem.detail
    assert connects == []


def test_private_networks_narrow_to_the_operators_list(backend) -> None:
    # Loopback stands in for a private backend: the policy's verdict is what the transport acts on.
    narrowed = AddressPolicy(allow_loopback=True, private_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert narrowed.allows("10.20.1.2") and not narrowed.allows("10.30.1.2") and narrowed.allows("8.8.8.8")
    assert narrowed.refusal("::ffff:192.168.1.1") == "a private address outside PROXY_ALLOWED_NETWORKS"
    with BackendSession(narrowed) as guarded:
        assert _get(guarded, backend.url + "/v1/x").status == 200


def test_session_refuses_proxies(backend) -> None:
    with BackendSession(LOCAL) as guarded, pytest.raises(requests.exceptions.InvalidProxyURL):
        guarded.get(backend.url + "/v1/x", proxies={"http": "http://127.0.0.1:9"})


def test_urllib3_debug_logging_is_silenced(backend, session, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    BackendSession().close()  # creating a session (re)applies the quiet levels
    _get(session, backend.url + "/v1/x?api_key=SECRET")
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
    assert "SECRET" not in caplog.text


# --- address policy (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
        "fe80::1",
        "fe80::1%eth0",
        "febf::1",
        "fd00:ec2::254",
        "fd20:ce::254",
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "::a9fe:a9fe",  # IPv4-compatible
        "::ffff:168.63.129.16",
        "64:ff9b::a9fe:a9fe",  # NAT64
        "2002:a9fe:a9fe::1",  # 6to4
        "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254 (obfuscated)
        "224.0.0.1",
        "255.255.255.255",
    ],
)
def test_metadata_and_link_local_addresses_are_refused_always(address) -> None:
    assert classify(address) is AddressClass.METADATA
    for policy in (AddressPolicy(), AddressPolicy(allow_loopback=True), AddressPolicy(private_networks=())):
        assert policy.allows(address) is False


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "0.0.0.0",
        "0.1.2.3",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
    ],
)
def test_loopback_forms_are_refused_unless_loopback_is_allowed(address) -> None:
    assert classify(address) is AddressClass.LOOPBACK
    assert AddressPolicy().refusal(address) == "a loopback address"
    assert AddressPolicy(allow_loopback=True).allows(address)
    assert ipaddress.ip_address(address) and AddressPolicy(allow_loopback=True).allows(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd00::1", "::ffff:10.0.0.1"]
)
def test_private_addresses_are_allowed_unless_the_operator_narrows_them(address) -> None:
    assert classify(address) is AddressClass.PRIVATE
    assert AddressPolicy().allows(address)
    assert not AddressPolicy(private_networks=()).allows(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address) -> None:
    assert classify(address) is AddressClass.PUBLIC
    assert AddressPolicy(private_networks=()).allows(address)


def test_concurrent_calls_share_the_pool(backend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with BackendSession(LOCAL, pool_maxsize=4) as pooled, ThreadPoolExecutor(8) as workers:
        statuses = list(workers.map(lambda i: _get(pooled, f"{backend.url}/v1/n/{i}").status, range(40)))
    assert statuses == [200] * 40
    assert sorted(r.path for r in backend.requests) == sorted(f"/v1/n/{i}" for i in range(40))


# --- total deadline and response cap ------------------------------------------------------------

MIB = 1 << 20


@pytest.fixture
def streaming() -> Iterator[StreamingBackend]:
    with StreamingBackend() as server:
        yield server


def test_a_dripping_backend_is_cut_off_at_the_total_timeout(session, streaming) -> None:
    # Each read gets a byte well within the 5 s read timeout; only the total deadline can end this call.
    problem = _problem(forward, session, "GET", streaming.url + "/v1/drip", {}, None, None, (2, 5), total_timeout=0.5)
    assert (problem.status, problem.slug) == (504, "backend-timeout")
    assert "did not finish its response within 0.5 s" in problem.detail
    assert streaming.disconnected.wait(10)  # the gateway hung up on it


@pytest.mark.parametrize("tls", [False, True])
def test_the_deadline_cuts_a_pooled_connection_too_over_http_and_https(tls) -> None:
    # The first call leaves its connection in the pool; the dripping call reuses it (and over TLS the
    # socket to shut down is the TLS one, not the one the connect made).
    with StreamingBackend(tls=tls) as server, BackendSession(LOCAL) as pooled:
        pooled.verify = server.ca_file or True
        assert forward(pooled, "GET", server.url + "/v1/ok", {}, None, None, TIMEOUT, total_timeout=30).body == b"ok"
        problem = _problem(forward, pooled, "GET", server.url + "/v1/drip", {}, None, None, (2, 5), total_timeout=0.5)
        assert (problem.status, problem.slug) == (504, "backend-timeout")
        assert server.disconnected.wait(10)


def test_the_deadline_cuts_a_new_tls_connection() -> None:
    with StreamingBackend(tls=True) as server, BackendSession(LOCAL) as fresh:
        fresh.verify = server.ca_file
        problem = _problem(forward, fresh, "GET", server.url + "/v1/drip", {}, None, None, (2, 5), total_timeout=0.5)
        assert (problem.status, problem.slug) == (504, "backend-timeout")
        assert server.disconnected.wait(10)


@pytest.mark.parametrize("kind", ["big", "declared"])
def test_a_response_past_the_cap_is_cut_off_with_502(session, streaming, kind) -> None:
    url = f"{streaming.url}/v1/{kind}/{16 * MIB}"
    problem = _problem(forward, session, "GET", url, {}, None, None, TIMEOUT, max_response_bytes=MIB)
    assert (problem.status, problem.slug) == (502, "backend-response-too-large")
    assert f"larger than the {MIB} bytes" in problem.detail
    assert streaming.disconnected.wait(10)
    assert streaming.finished == 0


def test_a_response_within_the_cap_and_deadline_passes_whole(session, streaming) -> None:
    url = f"{streaming.url}/v1/big/{MIB}"
    response = forward(session, "GET", url, {}, None, None, TIMEOUT, total_timeout=30, max_response_bytes=MIB)
    assert (response.status, len(response.body)) == (200, MIB)
    ok = forward(session, "GET", streaming.url + "/v1/ok", {}, None, None, TIMEOUT, total_timeout=30)
    assert ok.body == b"ok"
