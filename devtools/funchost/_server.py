"""The HTTP side: a threading HTTP/1.1 server that routes requests to the loaded app's functions."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.funchost._app import FunctionEntry, LoadedApp, load_app
from devtools.funchost._front_end import (
    HTTP_TIMEOUT_SECONDS,
    MAX_HEADER_BYTES,
    MAX_URL_BYTES,
    TIMED_OUT_BODY,
    add_front_end_headers,
    decode_path,
    run_with_deadline,
)
from devtools.funchost._host_http import with_date
from devtools.funchost._invoke import (
    AsyncRunner,
    InvocationContext,
    WireResponse,
    admin_trigger_input,
    build_http_request,
    call_function,
    merge_headers,
    to_wire_response,
)
from devtools.funchost._routes import RouteOrder
from devtools.http_server import NoDelayHTTPServer

log = logging.getLogger("devtools.funchost")
MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024  # the host's default maxRequestBodySize (Kestrel answers 413 above it)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
LINGER_SECONDS = 1.0
LINGER_MAX_BYTES = 4 * 1024 * 1024
ADMIN_INVOKE_PREFIX = "/admin/functions/"
_NO_BODY_STATUSES = frozenset({204, 304})


class RequestTooLarge(Exception):
    pass


class FunctionHostServer(NoDelayHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        app: LoadedApp,
        max_body_bytes: int = MAX_REQUEST_BODY_BYTES,
        http_timeout: float = HTTP_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.http_timeout = http_timeout
        self.async_runner = AsyncRunner()
        super().__init__(address, FunctionHostHandler)

    def server_close(self) -> None:
        super().server_close()
        self.async_runner.close()


class FunctionHostHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FunctionHostServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only, never the query string: callers may put a subscription key there.
        path = split_target(self.path)[0]
        log.debug('%s "%s %s" %s %s', self.client_address[0], self.command, path, code, size)

    def dispatch(self) -> None:
        try:
            self._dispatch()
        except Exception:
            # A bug here, not in the app: answer like the host would rather than reset the connection.
            log.exception("dev host failed on %s %s", self.command, split_target(self.path)[0])
            self.close_connection = True
            self._send(WireResponse(HTTPStatus.INTERNAL_SERVER_ERROR, [], b""))

    def _dispatch(self) -> None:
        if len(self.path) > MAX_URL_BYTES:
            self.close_connection = True  # the body, if any, is never read
            self._send(WireResponse(HTTPStatus.REQUEST_URI_TOO_LONG, [], b""))
            return
        if sum(len(name) + len(value) for name, value in self.headers.items()) > MAX_HEADER_BYTES:
            self.close_connection = True
            self._send(WireResponse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, [], b""))
            return
        raw_path, raw_query = split_target(self.path)
        try:
            body = self._read_body()
        except RequestTooLarge:
            self.close_connection = True  # the unread rest of the body would be taken for the next request
            self._send(WireResponse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, [], b""))
            self._linger()
            return
        except ValueError:
            self.close_connection = True
            self._send(WireResponse(HTTPStatus.BAD_REQUEST, [], b""))
            return
        if raw_path.startswith("/admin/") and _is_loopback(self.client_address[0]):
            self._send(self._admin(raw_path, body))
            return
        path = decode_path(raw_path)  # as App Service's front end hands it on
        resolved = self.server.app.routes.resolve(self.command, path)
        if resolved is None:
            self._send(WireResponse(HTTPStatus.NOT_FOUND, [], b""))
            return
        route, route_params = resolved
        self._send(self._run_http_function(route.target, path, raw_query, route_params, body))

    def _run_http_function(
        self, entry: FunctionEntry, path: str, raw_query: str, route_params: dict[str, str], body: bytes
    ) -> WireResponse:
        host = self._host()
        headers = add_front_end_headers(
            merge_headers(self.headers.items()),
            target=self.path,
            path=path,
            query=raw_query,
            peer=self.client_address[:2],
            host=host,
            scheme="http",
        )
        url = f"http://{host}{path}" + (f"?{raw_query}" if raw_query else "")
        request = build_http_request(self.command, url, raw_query, headers, route_params, body)
        context = self._context(entry, headers)
        return self._invoke(entry, request, context, to_wire_response, self.server.http_timeout)

    def _host(self) -> str:
        # Absolute-form targets name the host themselves; origin-form ones have the Host header.
        if _is_absolute_form(self.path):
            return urlsplit(self.path).netloc
        return self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"

    def _context(self, entry: FunctionEntry, headers: dict[str, str]) -> InvocationContext:
        return InvocationContext(
            entry.name,
            str(self.server.app.app_dir),
            headers.get("traceparent", ""),
            headers.get("tracestate", ""),
        )

    def _invoke(
        self,
        entry: FunctionEntry,
        trigger: Any,
        context: InvocationContext,
        convert: Callable[[Any], Any],
        timeout: float | None = None,
    ) -> WireResponse:
        started = time.perf_counter()
        outcome = run_with_deadline(
            lambda: convert(call_function(entry, trigger, context, self.server.async_runner)),
            timeout,
            context.invocation_id,
        )
        if not outcome.finished:
            # The front end gives up; the function runs on and its result goes nowhere.
            log.warning(
                "'Functions.%s' (Id=%s) ran past %g s: answered 500", entry.name, context.invocation_id, timeout
            )
            return WireResponse(HTTPStatus.INTERNAL_SERVER_ERROR, [("Content-Type", "text/html")], TIMED_OUT_BODY)
        if outcome.error is not None:
            # The host answers a failed invocation with an empty 500; the traceback only goes to the log.
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s)\n%s",
                entry.name,
                context.invocation_id,
                "".join(traceback.format_exception(outcome.error)).rstrip(),
            )
            return WireResponse(HTTPStatus.INTERNAL_SERVER_ERROR, [], b"")
        response = outcome.value
        duration_ms = (time.perf_counter() - started) * 1000
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
            entry.name,
            context.invocation_id,
            duration_ms,
        )
        return response

    def _admin(self, raw_path: str, body: bytes) -> WireResponse:
        if raw_path.rstrip("/") == "/admin/host/status" and self.command in ("GET", "HEAD"):
            payload = json.dumps({"state": "Running"}).encode()
            return WireResponse(HTTPStatus.OK, [("Content-Type", "application/json; charset=utf-8")], payload)
        if raw_path.startswith(ADMIN_INVOKE_PREFIX) and self.command == "POST":
            return self._admin_invoke(raw_path.removeprefix(ADMIN_INVOKE_PREFIX).strip("/"), body)
        return WireResponse(HTTPStatus.NOT_FOUND, [], b"")

    def _admin_invoke(self, name: str, body: bytes) -> WireResponse:
        """Runs a non-HTTP function like the host's admin API (which also needs the master key on Azure).

        The real host answers 202 at once and runs the function in the background; here 202 comes after
        the function finished, so a test can check its effects without polling. A failure is only logged.
        """
        entry = self.server.app.functions.get(name.lower())
        if entry is None or entry.is_http:
            return WireResponse(HTTPStatus.NOT_FOUND, [], b"")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return WireResponse(HTTPStatus.BAD_REQUEST, [], b"")
        input_text = payload.get("input", "") if isinstance(payload, dict) else ""
        trigger = admin_trigger_input(entry, str(input_text) if input_text is not None else "")
        context = InvocationContext(entry.name, str(self.server.app.app_dir))
        self._invoke(entry, trigger, context, lambda _result: None)
        return WireResponse(HTTPStatus.ACCEPTED, [], b"")

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        length = int(length_header.strip())  # ValueError → 400
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise RequestTooLarge
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip(), 16)  # ValueError → 400
            if size == 0:
                break
            total += size
            if total > limit:
                raise RequestTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline(65537).strip():  # trailer fields, up to the blank line
            pass
        return b"".join(chunks)

    def _linger(self) -> None:
        """Drains (boundedly) what the client is still sending before the close: closing on unread data sends an
        RST, and an RST can make the client's kernel drop the 413 before the client has read it."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            drained = 0
            while drained < LINGER_MAX_BYTES:
                data = self.rfile.read1(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass

    def _send(self, response: WireResponse) -> None:
        """Status line, headers and body in ONE write, so keep-alive clients never wait on Nagle."""
        code = int(response.status)
        reason = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {code} {reason}"]
        lines += [f"{name}: {value}" for name, value in with_date(response.headers)]
        body = response.body
        if code in _NO_BODY_STATUSES or 100 <= code < 200:
            body = b""
        else:
            lines.append(f"Content-Length: {len(body)}")  # HEAD keeps the length of the body it does not get
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)
        self.log_request(code, len(body))


def _is_absolute_form(target: str) -> bool:
    return "://" in target.split("?", 1)[0]


def split_target(target: str) -> tuple[str, str]:
    """Raw path and raw query of a request target, undecoded (urlsplit would take `//x/y`'s `x` for a host)."""
    if _is_absolute_form(target):
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path or "/", query


def _is_loopback(address: str) -> bool:
    """Admin routes answer loopback callers only; to anyone else /admin/... is just another unknown path."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


for _method in HTTP_METHODS:
    setattr(FunctionHostHandler, f"do_{_method}", FunctionHostHandler.dispatch)


@dataclass
class RunningHost:
    """A host serving on a background thread; `url` is its base URL, e.g. http://127.0.0.1:54321."""

    server: FunctionHostServer
    thread: threading.Thread
    url: str

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def app(self) -> LoadedApp:
        return self.server.app

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(
    app_dir: Path,
    host: str = "127.0.0.1",
    port: int = 7071,
    *,
    route_order: RouteOrder = "precedence",
    max_body_bytes: int = MAX_REQUEST_BODY_BYTES,
    http_timeout: float = HTTP_TIMEOUT_SECONDS,
) -> RunningHost:
    """Loads DIR/function_app.py and serves it; port 0 lets the OS choose. Returns once the socket listens.
    `http_timeout` is the front end's limit on an HTTP response (tests make it short)."""
    app = load_app(Path(app_dir), route_order)
    server = FunctionHostServer((host, port), app, max_body_bytes, http_timeout)
    thread = threading.Thread(target=server.serve_forever, name="funchost-server", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return RunningHost(server, thread, f"http://{bound_host}:{bound_port}")
