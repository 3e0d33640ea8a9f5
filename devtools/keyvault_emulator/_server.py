"""HTTPS listener for the emulator and the in-process API (`start_emulator`)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devtools.keyvault_emulator._app import EmulatorApp
from devtools.keyvault_emulator._certs import ensure_certificates
from devtools.keyvault_emulator._hooks import build_fault
from devtools.keyvault_emulator._protocol import Request, Response
from devtools.keyvault_emulator._store import SecretStore

SECRETS_FILE = "secrets.json"
_IDLE_CONNECTION_SECONDS = 120
_WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class _EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: EmulatorApp, tls: ssl.SSLContext, public_url: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.tls = tls
        self.public_url = public_url
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections, so no client is served by a stopped emulator."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    socket.socket.shutdown(connection, socket.SHUT_RDWR)  # not SSLSocket.shutdown: keep TLS state

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients dropping connections or failing the TLS handshake are routine; anything else is a bug to show.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    timeout = _IDLE_CONNECTION_SECONDS
    server: _EmulatorServer

    def setup(self) -> None:
        raw: socket.socket = self.request
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(self.timeout)
        self.request = self.server.tls.wrap_socket(raw, server_side=True)  # handshake in this thread
        self.server.track(self.request, open_=True)
        super().setup()

    def finish(self) -> None:
        self.server.track(self.request, open_=False)
        super().finish()

    def _dispatch(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._send(Response(411))
            return
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.close_connection = True
            self._send(Response(400))
            return
        body = self.rfile.read(int(length)) if int(length) else b""
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        request = Request(self.command, split.path, query, body, self.headers)
        host = self.headers.get("Host")
        base_url = f"https://{host}/" if host else self.server.public_url
        started = time.perf_counter()
        try:
            response = self.server.app.handle(request, base_url)
        except Exception as error:  # a bug must answer 500, not drop the connection
            sys.stderr.write(f"keyvault-emulator: internal error: {type(error).__name__}\n")
            response = Response(500, b'{"error": {"code": "InternalServerError", "message": "Emulator bug."}}')
        elapsed_ms = (time.perf_counter() - started) * 1000
        # Path only: names are not secret, values never appear in a path; the query may carry tokens.
        sys.stderr.write(f"keyvault-emulator: {self.command} {split.path} {response.status} {elapsed_ms:.1f}ms\n")
        self._send(response)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _dispatch

    def _send(self, response: Response) -> None:
        lines = [
            f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}",
            f"Date: {self.date_time_string()}",
            "Server: keyvault-emulator",
            f"Content-Length: {len(response.body)}",
        ]
        if response.body:
            lines.append("Content-Type: application/json; charset=utf-8")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        # One write for head and body: a separate small write stalls keep-alive clients (Nagle + delayed ACK).
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"keyvault-emulator: {format % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs its own line; this only fires for malformed requests the base class answers


class RunningEmulator:
    """A started emulator. `stop()` closes it; usable as a context manager."""

    def __init__(self, server: _EmulatorServer, state_dir: Path, ca_bundle: Path, owns_state_dir: bool) -> None:
        self._server = server
        self._owns_state_dir = owns_state_dir
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="keyvault-emulator", daemon=True
        )
        self._thread.start()
        self.url = server.public_url
        self.ca_bundle = str(ca_bundle)
        self.state_dir = state_dir

    @property
    def app(self) -> EmulatorApp:
        return self._server.app

    def inject_faults(
        self,
        status: int,
        count: int,
        retry_after: float | None = None,
        method: str | None = None,
        path_regex: str | None = None,
    ) -> None:
        """The next `count` authenticated requests matching `method`/`path_regex` get `status`."""
        self.app.faults.add(build_fault(status, count, retry_after, method, path_regex))

    def hold_requests(self, count: int = 1, method: str | None = None, path_regex: str | None = None) -> None:
        """The next `count` matching requests wait unanswered until `clear_faults()`, then are served."""
        self.app.faults.add(build_fault(None, count, None, method, path_regex, hold=True))

    def wait_held(self, timeout: float = 30) -> int:
        return self.app.faults.wait_held(timeout)

    def clear_faults(self) -> None:
        """Drop pending faults and release held requests."""
        self.app.faults.clear()

    def request_counts(self) -> dict[str, Any]:
        """{"total": n, "by_route": {"GET /secrets/{name}/{version}": k, ...}} of authenticated requests."""
        return self.app.requests.snapshot()

    def reset_request_counts(self) -> None:
        self.app.requests.reset()

    def state(self) -> dict[str, list[str]]:
        active, deleted = self.app.store.names()
        return {"secrets": active, "deleted": deleted}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Path | str | None = None,
    persist: bool = False,
    purge_protection: bool = False,
) -> RunningEmulator:
    """Serve the emulator on a background thread. Without `state_dir`, a temp dir removed by `stop()`.
    With `purge_protection`, purging a deleted secret is refused with Key Vault's 403, as in the Bicep's vault."""
    owns_state_dir = state_dir is None
    directory = Path(tempfile.mkdtemp(prefix="kv-emulator-") if state_dir is None else state_dir).absolute()
    url_host = _WILDCARD_HOSTS.get(host, host)
    certificates = ensure_certificates(directory, (url_host,))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificates.server_cert, certificates.server_key)
    store = SecretStore(directory / SECRETS_FILE if persist else None, purge_protection=purge_protection)
    server = _EmulatorServer((host, port), EmulatorApp(store), tls, "")
    bracketed = f"[{url_host}]" if ":" in url_host else url_host
    server.public_url = f"https://{bracketed}:{server.server_port}/"
    return RunningEmulator(server, directory, certificates.ca_cert, owns_state_dir)


def ready_line(emulator: RunningEmulator) -> str:
    return json.dumps({"url": emulator.url, "ca_bundle": emulator.ca_bundle})
