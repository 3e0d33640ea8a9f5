"""A small programmable HTTP(S) server for stand-ins: routes to handler functions, records every request.

    with StandinServer() as server:
        server.route("POST", "/token", lambda received: json_reply({"access_token": "at"}))
        server.fail_next("/token", Reply(503))      # queued replies win over the route
        server.calls("/token")[0].form

127.0.0.1 with a port from the OS, HTTP/1.1 keep-alive, TCP_NODELAY and headers + body in one send.
With tls=True it serves a self-signed certificate for 127.0.0.1; trust `ca_file` (and use a session with
trust_env off, or REQUESTS_CA_BUNDLE wins over session.verify).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from devtools.http_server import NoDelayHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def basic(self) -> tuple[str, str] | None:
        """(client_id, secret) from an Authorization: Basic header, form-decoded as RFC 6749 2.3.1 says."""
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(value).decode().partition(":")
        return unquote_plus(user), unquote_plus(password)

    @property
    def bearer(self) -> str | None:
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = b""  # bytes as is; str as text/plain; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        body, content_type = self.body, "application/octet-stream"
        if isinstance(body, str):
            body, content_type = body.encode(), "text/plain; charset=utf-8"
        elif not isinstance(body, bytes):
            body, content_type = json.dumps(body).encode(), "application/json"
        headers = {"Content-Type": content_type, **self.headers, "Content-Length": str(len(body))}
        head = f"HTTP/1.1 {self.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        return head.encode("latin-1") + body


def json_reply(payload: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})


def form_reply(payload: dict[str, Any], status: int = 200) -> Reply:
    return Reply(status, urlencode(payload).encode(), {"Content-Type": "application/x-www-form-urlencoded"})


Handler = Callable[[Received], Reply]


def self_signed(common_name: str = "127.0.0.1") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    return key, builder.sign(key, hashes.SHA256())


class _Server(NoDelayHTTPServer):
    def __init__(self, standin: StandinServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        received = Received(
            self.command,
            target.path,
            dict(parse_qsl(target.query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        self.wfile.write(self.server.standin.answer(received).encode())  # headers and body in one send

    do_GET = do_POST = do_DELETE = _handle


class StandinServer:
    """Routes (method, path) to handlers; records everything it receives; answers queued replies first."""

    def __init__(self, tls: bool = False) -> None:
        self._server = _Server(self)
        self._routes: dict[tuple[str, str], Handler] = {}
        self._queued: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.ca_file: str | None = None
        if tls:
            self._wrap_tls()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def _wrap_tls(self) -> None:
        key, certificate = self_signed()
        directory = Path(tempfile.mkdtemp(prefix="oauth-standin-"))
        (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.ca_file = str(directory / "cert.pem")

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method, path)] = handler

    def fail_next(self, path: str, *replies: Reply) -> None:
        """The next calls to `path` get these replies, whatever the route would say."""
        with self._lock:
            self._queued.setdefault(path, []).extend(replies)

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def answer(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            queued = self._queued.get(received.path)
            if queued:
                return queued.pop(0)
        handler = self._routes.get((received.method, received.path))
        if handler is None:
            return json_reply({"error": "not_found"}, 404)
        return handler(received)

    def __enter__(self) -> StandinServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
