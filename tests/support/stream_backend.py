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
import threading
from typing import Any

from devtools.http_server import NoDelayHTTPServer

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
        except OSError:  # the gateway hung up: what the tests are waiting for
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
    def __init__(self, drip_interval: float = 0.05) -> None:
        self.drip_interval = drip_interval
        self.stopping = threading.Event()
        self.disconnected = threading.Event()
        self.lock = threading.Lock()
        self.finished = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.backend = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="streaming-backend", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StreamingBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
