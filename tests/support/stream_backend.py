"""A hostile backend for the proxy's limits: one that drips its body, one that answers too much.

    with StreamingBackend() as backend:
        backend.url + "/drip"              # 200, Content-Length 1 MiB, one byte per `drip_interval`, never done
        backend.url + "/big/4194304"       # 200, 4 MiB of body without Content-Length (close-delimited)
        backend.url + "/declared/4194304"  # 200, Content-Length 4 MiB declared up front, then the bytes

`finished` counts responses written to the end; `disconnected` is set when a client went away mid-body,
which is how a test knows the gateway cut the call off (awaited, never slept on).
"""

from __future__ import annotations

import http.server
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from devtools.http_server import NoDelayHTTPServer
from tests.support.oauth_standins import self_signed

_BLOCK = b"x" * 65536


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        backend = self.server.backend
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # a POST's body (token requests)
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        try:
            if parts[-1] == "drip":
                self._head({"Content-Length": str(1 << 20)})
                while not backend.stopping.is_set():
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    backend.stopping.wait(backend.drip_interval)  # the pace of the drip, not a test's wait
            elif len(parts) >= 2 and parts[-2] in ("big", "declared"):
                size = int(parts[-1])
                headers = {"Content-Length": str(size)} if parts[-2] == "declared" else {"Connection": "close"}
                self._head(headers)
                while size > 0:
                    self.wfile.write(_BLOCK[: min(size, len(_BLOCK))])
                    size -= len(_BLOCK)
                self.wfile.flush()
                with backend.lock:
                    backend.finished += 1
            else:
                self._head({"Content-Length": "2"})
                self.wfile.write(b"ok")
        except (OSError, ssl.SSLError):  # the gateway hung up: what the tests are waiting for
            backend.disconnected.set()
            self.close_connection = True

    do_POST = do_GET

    def _head(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()


class _Server(NoDelayHTTPServer):
    backend: StreamingBackend


class StreamingBackend:
    def __init__(self, drip_interval: float = 0.05, tls: bool = False) -> None:
        self.drip_interval = drip_interval
        self.stopping = threading.Event()
        self.disconnected = threading.Event()
        self.lock = threading.Lock()
        self.finished = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.backend = self
        self.port: int = self._server.server_address[1]
        self.ca_file: str | None = self._wrap_tls() if tls else None
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="streaming-backend", daemon=True)
        self._thread.start()

    def _wrap_tls(self) -> str:
        """A self-signed certificate for 127.0.0.1; returns the file to trust."""
        key, certificate = self_signed()
        directory = Path(tempfile.mkdtemp(prefix="streaming-backend-"))
        (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        return str(directory / "cert.pem")

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StreamingBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
