"""devtools.funchost: route templates (pure) and the dev host serving tests/devtools/sample_app in-process."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from devtools.funchost import MAX_REQUEST_BODY_BYTES, RunningHost, serve
from devtools.funchost._app import load_app
from devtools.funchost._front_end import add_front_end_headers, decode_path
from devtools.funchost._invoke import merge_headers, parse_query
from devtools.funchost._routes import Route, RouteTable, compile_template, find_order_conflicts
from devtools.funchost._server import FunctionHostServer, _is_loopback, split_target

SAMPLE_APP = Path(__file__).parent / "sample_app"
REPO_ROOT = Path(__file__).parents[2]
WIDGET = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


# --- route templates (pure) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("api/Items", "/API/items", {}),
        ("api/items", "/api/items/", {}),
        ("api/items", "/api/items/x", None),
        ("api/items/{id}", "/api/items/a%20b", {"id": "a b"}),
        ("api/items/{id}", "/api/items/", None),
        ("api/items/{id?}", "/api/items", {}),
        ("api/items/{id=7}", "/api/items", {"id": "7"}),
        ("api/items/{id:int}", "/api/items/-12", {"id": "-12"}),
        ("api/items/{id:int}", "/api/items/12a", None),
        ("api/items/{id:int}", "/api/items/99999999999", None),
        ("api/items/{id:alpha}", "/api/items/abcXYZ", {"id": "abcXYZ"}),
        ("api/items/{id:alpha}", "/api/items/ab1", None),
        ("api/items/{id:guid}", f"/api/items/{WIDGET}", {"id": WIDGET}),
        ("api/items/{id:guid}", "/api/items/3f2504e0", None),
        ("api/items/{id:regex(^v\\d+$)}", "/api/items/V12", {"id": "V12"}),
        ("api/items/{id:regex(^v\\d+$)}", "/api/items/x12", None),
        ("api/items/{id:regex(^\\d{{3}}$)}", "/api/items/123", {"id": "123"}),
        ("api/items/{id:regex(^\\d{{3}}$)}", "/api/items/1234", None),
        ("api/items/{id:minlength(3):maxlength(4)}", "/api/items/abcde", None),
        ("api/files/{name}.{ext}", "/api/files/a.tar.gz", {"name": "a.tar", "ext": "gz"}),
        ("c/{id}/invoke/{*path}", "/c/1/invoke/a/b%20c/d", {"id": "1", "path": "a/b c/d"}),
        ("c/{id}/invoke/{*path}", "/c/1/invoke/a/b/", {"id": "1", "path": "a/b/"}),
        ("c/{id}/invoke/{*path}", "/c/1/invoke", {"id": "1"}),
        ("c/{id}/invoke/{*path}", "/c/1/invoke/", {"id": "1"}),
        ("c/{id}/invoke/{**path}", "/c/x%2Fy/invoke/p%2Fq", {"id": "x%2Fy", "path": "p%2Fq"}),
        ("", "/", {}),
    ],
)
def test_template_matching(template, path, expected):
    assert compile_template(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    ["a/{*rest}/b", "a/{id?}/b", "a/{id}/{id}", "a/{x:nosuch}", "a/{x", "a/x}", "a/{*rest?}", "a//b", "a/{x}{y}"],
)
def test_invalid_templates_are_rejected(template):
    with pytest.raises(ValueError):
        compile_template(template)


def _table(order="precedence", **templates):
    return RouteTable([Route(name, compile_template(text), None, name) for name, text in templates.items()], order)


def test_precedence_prefers_literal_then_constrained_then_parameter_then_catch_all():
    table = _table(
        a_catch_all="connections/{*rest}",
        b_param="connections/{id}",
        c_int="connections/{id:int}",
        d_literal="connections/new",
        e_invoke="connections/{id}/invoke/{*path}",
    )
    resolved = {path: table.resolve("GET", path)[0].name for path in ("/connections/new", "/connections/7")}
    assert resolved == {"/connections/new": "d_literal", "/connections/7": "c_int"}
    assert table.resolve("GET", "/connections/x")[0].name == "b_param"
    assert table.resolve("GET", "/connections/x/invoke")[0].name == "e_invoke"
    assert table.resolve("GET", "/connections/x/other")[0].name == "a_catch_all"


def test_function_name_order_is_what_the_real_host_does():
    table = _table("function-name", a_catch_all="connections/{*rest}", d_literal="connections/new")
    assert table.resolve("GET", "/connections/new")[0].name == "a_catch_all"


def test_method_is_a_route_constraint():
    routes = [
        Route("read", compile_template("w/{id}"), frozenset({"GET"}), "read"),
        Route("write", compile_template("w/{id}"), frozenset({"PUT"}), "write"),
    ]
    table = RouteTable(routes)
    assert table.resolve("put", "/w/1")[0].name == "write"
    assert table.resolve("GET", "/w/1")[0].name == "read"
    assert table.resolve("DELETE", "/w/1") is None


def test_order_conflicts_are_reported_only_where_the_orders_disagree():
    routes = _table(a_any="items/{*rest}", b_latest="items/latest", c_other="other").routes
    conflicts = find_order_conflicts(routes)
    assert len(conflicts) == 1
    assert "b_latest" in conflicts[0] and "a_any" in conflicts[0]
    assert find_order_conflicts(_table(z_any="items/{*rest}", b_latest="items/latest").routes) == []


def test_query_and_header_dictionaries_follow_the_host():
    assert parse_query("a=1&A=2&b=&c=x+y&d=%26") == {"a": "1,2", "c": "x y", "d": "&"}
    assert merge_headers([("Accept", "a"), ("accept", "b"), ("X-One", "1")]) == {"accept": "a,b", "x-one": "1"}


def test_front_end_headers_are_what_app_service_adds():
    caller = {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https", "x-original-url": "/forged", "x-a": "1"}
    added = add_front_end_headers(
        caller,
        target="/api/a%2Fb?k=v",
        path="/api/a/b",
        query="k=v",
        peer=("10.1.1.1", 50123),
        host="gw:7071",
        scheme="http",
    )
    assert added["x-forwarded-for"] == "1.2.3.4, 10.1.1.1:50123"  # appended, with the port as App Service writes it
    assert added["client-ip"] == "10.1.1.1:50123"
    assert (added["x-forwarded-proto"], added["x-appservice-proto"]) == ("http", "http")  # the front end knows
    assert (added["x-original-url"], added["x-waws-unencoded-url"]) == ("/api/a/b?k=v", "/api/a%2Fb?k=v")
    assert (added["disguised-host"], added["was-default-hostname"], added["max-forwards"]) == ("gw", "gw", "10")
    assert uuid.UUID(added["x-arr-log-id"]) and added["x-site-deployment-id"] and added["x-a"] == "1"
    assert "x-arr-ssl" not in added and "x-forwarded-tlsversion" not in added  # TLS only; this host is plain HTTP
    ipv6 = add_front_end_headers({}, target="/", path="/", query="", peer=("::1", 8), host="[::1]:1", scheme="http")
    assert ipv6["client-ip"] == "[::1]:8"


def test_the_front_end_decodes_encoded_slash_and_backslash_only():
    assert decode_path("/a%2Fb%2f..%5Cc%5c%20%3F%252F") == "/a/b/..\\c\\%20%3F%252F"


def test_request_targets_and_admin_callers():
    assert split_target("//gw/x?a=%20") == ("//gw/x", "a=%20")  # not a host name, unlike urlsplit
    assert split_target("http://h:1/p%2Fq?z") == ("/p%2Fq", "z")
    assert [_is_loopback(peer) for peer in ("127.0.0.5", "::1", "::ffff:127.0.0.1")] == [True, True, True]
    assert [_is_loopback(peer) for peer in ("10.0.0.1", "::ffff:10.0.0.1", "nonsense")] == [False, False, False]


def test_accepted_sockets_get_tcp_nodelay():
    server = FunctionHostServer(("127.0.0.1", 0), load_app(SAMPLE_APP))
    try:
        with socket.create_connection(server.server_address[:2]) as client:
            accepted, _ = server.get_request()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            client.close()
    finally:
        server.server_close()


# --- the host, in-process -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host() -> Iterator[RunningHost]:
    running = serve(SAMPLE_APP, "127.0.0.1", 0)
    running.sample_module = sys.modules["function_app"]  # the imported app: the timer test reads its TIMER_RUNS
    yield running
    running.stop()


def get_json(host: RunningHost, path: str, **kwargs) -> dict:
    response = requests.get(host.url + path, timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_route_prefix_from_host_json(host):
    assert get_json(host, "/gw/default_route")["function"] == "default_route"
    assert requests.get(host.url + "/api/default_route", timeout=5).status_code == 404


def test_empty_route_prefix(tmp_path):
    (tmp_path / "host.json").write_text('{"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}')
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='hello/{name}')\n"
        "def hello(req: func.HttpRequest) -> str:\n"
        "    return 'hi ' + req.route_params['name']\n"
    )
    running = serve(tmp_path, "127.0.0.1", 0)
    try:
        response = requests.get(running.url + "/hello/ann", timeout=5)
        assert (response.status_code, response.text) == (200, "hi ann")
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert requests.get(running.url + "/api/hello/ann", timeout=5).status_code == 404
    finally:
        running.stop()


def test_catch_all_with_nested_segments_and_raw_url(host):
    path = "/gw/connections/c%201/invoke/v1/a%2Fb%5Cc/%C3%A9t%C3%A9?q=%2B1&q=2"
    described = get_json(host, path)
    assert described["function"] == "connection_invoke"
    # As received, except %2F and %5C: App Service's front end decodes those before the host routes.
    assert described["url"] == host.url + "/gw/connections/c%201/invoke/v1/a/b\\c/%C3%A9t%C3%A9?q=%2B1&q=2"
    assert described["route_params"] == {"id": "c 1", "path": "v1/a/b\\c/été"}
    assert described["params"] == {"q": "+1,2"}
    assert described["headers"]["x-waws-unencoded-url"] == path
    # An encoded slash can move a request to another route, as on Azure.
    assert get_json(host, "/gw/connections/c1%2Finvoke%2Fx")["function"] == "connection_invoke"


def test_empty_catch_all(host):
    described = get_json(host, "/gw/connections/c1/invoke")
    assert described["function"] == "connection_invoke"
    assert described["route_params"] == {"id": "c1"}
    assert get_json(host, "/gw/connections/c1/invoke/")["route_params"] == {"id": "c1"}


def test_precedence_between_overlapping_routes(host):
    assert get_json(host, "/gw/connections/c1")["function"] == "connection_get"
    assert get_json(host, "/gw/connectors/k1/connections")["function"] == "connector_connections"
    assert get_json(host, "/gw/items/latest")["function"] == "item_latest"
    assert get_json(host, "/gw/items/42")["route_params"] == {"id": "42"}
    assert get_json(host, "/gw/items/abc")["function"] == "item_by_name"
    assert get_json(host, "/gw/items/a-1")["function"] == "item_any"
    assert get_json(host, "/gw/items/a/b")["route_params"] == {"rest": "a/b"}


def test_function_name_route_order(host):
    running = serve(SAMPLE_APP, "127.0.0.1", 0, route_order="function-name")
    try:
        assert get_json(running, "/gw/items/latest")["function"] == "item_any"
    finally:
        running.stop()


def test_shared_route_with_different_methods(host):
    url = f"{host.url}/gw/widgets/{WIDGET}"
    assert requests.get(url, timeout=5).json()["function"] == "widget_read"
    assert requests.put(url + "/full", timeout=5).json()["route_params"] == {"id": WIDGET, "view": "full"}
    assert requests.delete(url, timeout=5).status_code == 404


def test_method_mismatch_and_unknown_paths_are_404(host):
    assert requests.post(host.url + "/gw/connectors/k1/connections", timeout=5).status_code == 404
    assert requests.delete(host.url + "/gw/connections/c1", timeout=5).status_code == 200
    assert requests.patch(host.url + "/gw/connections/c1", timeout=5).status_code == 404
    assert requests.get(host.url + "/gw/widgets/not-a-guid", timeout=5).status_code == 404
    missing = requests.get(host.url + "/gw/nowhere", timeout=5)
    assert (missing.status_code, missing.content) == (404, b"")
    assert requests.options(host.url + "/gw/default_route", timeout=5).status_code == 200


def test_query_params(host):
    params = get_json(host, "/gw/default_route?a=1&a=2&Name=x%20y&empty=&flag")["params"]
    assert params == {"a": "1,2", "Name": "x y"}


def test_headers_and_forwarding(host):
    headers = get_json(host, "/gw/default_route", headers={"X-Custom": "v", "X-Forwarded-For": "203.0.113.9"})[
        "headers"
    ]
    assert headers["x-custom"] == "v"
    assert re.fullmatch(r"203\.0\.113\.9, 127\.0\.0\.1:\d+", headers["x-forwarded-for"])
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-original-url"] == headers["x-waws-unencoded-url"] == "/gw/default_route"
    keyed = get_json(host, "/gw/default_route?subscription-key=k1&a=%2F")["headers"]
    assert keyed["x-original-url"] == keyed["x-waws-unencoded-url"] == "/gw/default_route?subscription-key=k1&a=%2F"
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=5)
    connection.putrequest("GET", "/gw/default_route")
    connection.putheader("X-Repeated", "one")
    connection.putheader("X-Repeated", "two")
    connection.endheaders()
    described = json.loads(connection.getresponse().read())
    connection.close()
    assert described["headers"]["x-repeated"] == "one,two"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", described["headers"]["x-forwarded-for"])


def test_json_and_binary_bodies(host):
    document = {"name": "ünïcode", "items": [1, 2, 3]}
    response = requests.post(host.url + "/gw/echo", json=document, timeout=5)
    assert response.status_code == 201
    assert response.json() == document
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Echo"] == "yes"
    binary = bytes(range(256)) * 64
    response = requests.put(
        host.url + "/gw/echo", data=binary, headers={"Content-Type": "application/octet-stream"}, timeout=5
    )
    assert response.content == binary
    assert int(response.headers["Content-Length"]) == len(binary)


def test_chunked_request_body(host):
    parts = [b"first,", b"", b"second,", b"x" * 70_000]
    response = requests.post(host.url + "/gw/echo", data=iter(parts), headers={"Content-Type": "text/plain"}, timeout=5)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.content == b"".join(parts)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"  # text/* mimetypes get the charset


def test_body_over_the_host_limit_is_413(host):
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as raw:
        raw.sendall(
            b"POST /gw/echo HTTP/1.1\r\nHost: x\r\n" + f"Content-Length: {MAX_REQUEST_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")
    small = serve(SAMPLE_APP, "127.0.0.1", 0, max_body_bytes=1000)
    try:
        chunks = iter([b"a" * 600, b"b" * 600])
        assert requests.post(small.url + "/gw/echo", data=chunks, timeout=5).status_code == 413
        assert requests.post(small.url + "/gw/echo", data=b"a" * 1000, timeout=5).status_code == 201
    finally:
        small.stop()


def test_exception_is_500_with_empty_body(host):
    response = requests.get(host.url + "/gw/boom", timeout=5)
    assert (response.status_code, response.content) == (500, b"")
    assert get_json(host, "/gw/default_route")["function"] == "default_route"  # the host keeps serving


def test_head_has_headers_but_no_body(host):
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as raw:
        raw.sendall(b"HEAD /gw/probe HTTP/1.1\r\nHost: x\r\n\r\nGET /gw/probe HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = ""
        while not answer.endswith("probe-body"):
            answer += raw.recv(65536).decode()
    head, get = answer.split("HTTP/1.1 200 OK")[1:]
    assert "X-Probe: HEAD" in head and "Content-Length: 10" in head
    assert head.endswith("\r\n\r\n")  # no body before the next response
    assert get.endswith("probe-body")
    assert requests.head(host.url + "/gw/connections/c1", timeout=5).status_code == 404  # GET-only


def test_async_function_context_and_none_result(host):
    assert requests.get(host.url + "/gw/async/hello?name=ann", timeout=5).text == "hello ann"
    assert requests.get(host.url + "/gw/whoami", timeout=5).text == "whoami"
    nothing = requests.get(host.url + "/gw/nothing", timeout=5)
    assert (nothing.status_code, nothing.content) == (204, b"")


def test_admin_runs_a_timer_function(host):
    runs = host.sample_module.TIMER_RUNS
    before = len(runs)
    response = requests.post(host.url + "/admin/functions/cleanup", json={"input": ""}, timeout=5)
    assert response.status_code == 202
    assert runs[before:] == [False]  # ran once, past_due False
    assert requests.post(host.url + "/admin/functions/nosuch", json={}, timeout=5).status_code == 404
    assert requests.post(host.url + "/admin/functions/boom", json={}, timeout=5).status_code == 404
    status = requests.get(host.url + "/admin/host/status", timeout=5)
    assert (status.status_code, status.json()) == (200, {"state": "Running"})


def test_keep_alive_reuses_one_connection(host):
    with requests.Session() as session:
        started = time.perf_counter()
        statuses = [session.get(host.url + "/gw/whoami", timeout=5).status_code for _ in range(200)]
        elapsed = time.perf_counter() - started
        pools = session.get_adapter(host.url).poolmanager.pools
        assert [pools[key].num_connections for key in pools.keys()] == [1]  # noqa: SIM118 - not iterable
    assert statuses == [200] * 200
    print(f"200 keep-alive requests: {elapsed * 1000:.0f} ms, {elapsed * 5:.2f} ms each")


def test_command_line_prints_functions_and_ready_line():
    environment = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "devtools.funchost", "--app-dir", str(SAMPLE_APP), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.strip())
            if line.startswith("Functions dev host ready on "):
                break
        url = lines[-1].removeprefix("Functions dev host ready on ")
        assert url.startswith("http://127.0.0.1:")
        assert f"connection_get: [GET,DELETE] {url}/gw/connections/{{id}}" in lines
        assert "cleanup: timerTrigger" in lines
        assert requests.get(url + "/gw/whoami", timeout=5).text == "whoami"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# --- responses as the worker and the host convert them; the front end's limits -----------------------------------


def raw_get(host: RunningHost, target: str) -> http.client.HTTPResponse:
    """GET `target` as written; the response is read, so its headers (repeated ones included) stay available."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_set_cookies_stay_separate_and_are_rewritten_as_the_host_writes_them(host):
    cookies = [
        "a=1; Path=/",
        "b=x/y+z=; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly; Secure; SameSite=Lax; Domain=example.com",
        'c="q v"; Max-Age=60; SameSite=None; Secure',
        "d=4",
    ]
    response = raw_get(host, "/gw/cookies?set=" + quote("|".join(cookies)))
    assert response.status == 200
    assert response.msg.get_all("Set-Cookie") == [
        "a=1; path=/",
        "b=x%2Fy%2Bz%3D; expires=Wed, 21 Oct 2026 07:28:00 GMT; domain=example.com; secure; samesite=lax; httponly",
        "c=q%20v; max-age=60; secure; samesite=none",
        "d=4",  # no path: the worker's empty path replaces CookieOptions' default "/"
    ]
    assert response.msg.get_all("Date") == ["Tue, 01 Jan 2030 00:00:00 GMT"]  # the function's, and only that one
    assert response.msg.get_all("X-Twice") == ["second"]  # the worker keeps one value per name, the last


def test_cookies_the_worker_cannot_parse_are_lost_or_fail_the_call(host):
    assert raw_get(host, "/gw/cookies?set=" + quote("a=1; Partitioned")).msg.get_all("Set-Cookie") is None
    split = raw_get(host, "/gw/cookies?set=" + quote("a=1; Priority=High")).msg.get_all("Set-Cookie")
    assert split == ["a=1", "Priority=High"]  # SimpleCookie reads an unknown attribute as a second cookie
    failed = raw_get(host, "/gw/cookies?set=" + quote("a=1; Expires=never"))
    assert failed.status == 500  # dateutil can't parse it: the worker fails the invocation


def test_one_date_header_and_ascii_only_header_values(host):
    assert len(raw_get(host, "/gw/probe").msg.get_all("Date")) == 1
    assert raw_get(host, "/gw/header?value=plain").msg.get_all("X-Value") == ["plain"]
    assert raw_get(host, "/gw/header?value=" + quote("é")).status == 500  # Kestrel refuses non-ASCII values


def test_a_url_or_headers_over_the_platform_limits_are_refused(host):
    fits = "/gw/default_route?q=" + "a" * (4096 - len("/gw/default_route?q="))
    assert raw_get(host, fits).status == 200
    assert raw_get(host, fits + "a").status == 414
    headers = {f"X-H{index}": "v" * 1000 for index in range(32)}  # 32 * ~1004 bytes: under 32 KB with Host
    assert requests.get(host.url + "/gw/default_route", headers=headers, timeout=5).status_code == 200
    headers["X-Last"] = "v" * 1000
    assert requests.get(host.url + "/gw/default_route", headers=headers, timeout=5).status_code == 431
    many = {f"X-H{index}": "v" for index in range(101)}
    assert requests.get(host.url + "/gw/default_route", headers=many, timeout=5).status_code == 431


def test_an_http_function_past_the_front_end_timeout_gets_its_500_and_runs_on():
    running = serve(SAMPLE_APP, "127.0.0.1", 0, http_timeout=0.5)
    sample = sys.modules["function_app"]
    try:
        response = requests.get(running.url + "/gw/slow", timeout=30)
        assert response.status_code == 500
        assert response.text.startswith("500 - The request timed out.")
        assert not sample.SLOW_FINISHED.is_set()  # the front end answered while the function was still running
        sample.SLOW_RELEASE.set()
        assert sample.SLOW_FINISHED.wait(30)
    finally:
        sample.SLOW_RELEASE.set()
        running.stop()


def test_the_front_end_timeout_is_230_seconds_unless_told_otherwise():
    from devtools.funchost.__main__ import parse_arguments
    from devtools.funchost._front_end import HTTP_TIMEOUT_SECONDS

    assert parse_arguments(["--app-dir", "x"]).http_timeout == HTTP_TIMEOUT_SECONDS == 230
    assert parse_arguments(["--app-dir", "x", "--http-timeout", "2.5"]).http_timeout == 2.5
