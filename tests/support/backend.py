"""A recording HTTP backend for tests: records every request, answers as programmed per path prefix.

    with RecordingBackend() as backend:
        backend.respond("/v1/slow", delay=1.0)
        backend.respond("/v1/moved", redirect="/v1/elsewhere")
        backend.respond("/v1/held", hold=release, arrived=arrived)  # answers once the test sets `release`
        ... call backend.url + "/v1/items?x=1" ...
        assert backend.requests[0].target == "/v1/items?x=1"

Unprogrammed paths get 200 with a JSON echo of the request. HTTP/1.1 keep-alive, TCP_NODELAY and
one send per response, so keep-alive calls don't stall on Nagle/delayed-ACK.
"""

from __future__ import annotations

import gzip as gzip_module
import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from devtools.http_server import NoDelayHTTPServer

HOLD_LIMIT_SECONDS = 120  # a guard against a test that forgets to release a held answer, not a timing


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str  # raw path+query exactly as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    client_port: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def header_names(self) -> set[str]:
        return {key.lower() for key, _ in self.headers}


@dataclass(frozen=True)
class Programmed:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    delay: float = 0.0
    gzip: bool = False
    hold: threading.Event | None = None  # answer only once this is set
    arrived: threading.Event | None = None  # set when a request for this answer has arrived


def _body_bytes(body: bytes | str | Any) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, then the blank line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        recorded = RecordedRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self._read_body(),
            client_port=self.client_address[1],
        )
        self.server.backend._record(recorded)
        answer = self.server.backend._answer_for(recorded)
        if answer.arrived:
            answer.arrived.set()
        if answer.hold and not answer.hold.wait(HOLD_LIMIT_SECONDS):
            self.close_connection = True  # the test never released it: fail that call rather than hang
            return
        if answer.delay:
            time.sleep(answer.delay)
        body = gzip_module.compress(answer.body) if answer.gzip else answer.body
        headers = list(answer.headers)
        if answer.gzip:
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        if self.close_connection:
            headers.append(("Connection", "close"))
        head = f"HTTP/1.1 {answer.status} {self.responses.get(answer.status, ('',))[0]}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        try:
            self.wfile.write(head.encode("latin-1") + (b"" if self.command == "HEAD" else body))
        except OSError:  # the client gave up (timeout tests)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(NoDelayHTTPServer):
    backend: RecordingBackend


class RecordingBackend:
    """Threaded HTTP server on 127.0.0.1 (OS-chosen port) that records requests; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._programmed: dict[str, Programmed] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.backend = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-backend", daemon=True)
        self._thread.start()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def respond(
        self,
        path_prefix: str,
        status: int | None = None,
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
        body: bytes | str | Any = b"",
        delay: float = 0.0,
        redirect: str | None = None,
        gzip: bool = False,
        hold: threading.Event | None = None,
        arrived: threading.Event | None = None,
    ) -> None:
        """Program the answer for paths starting with `path_prefix` (longest prefix wins).

        `body` bytes pass as is, str is UTF-8 text, anything else JSON. `redirect` adds a Location
        header and defaults the status to 302. `gzip` compresses the body and sets Content-Encoding.
        `hold` keeps each such request open until the event is set; `arrived` is set as one comes in.
        """
        header_list = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        body_bytes, content_type = _body_bytes(body)
        if body_bytes and not any(name.lower() == "content-type" for name, _ in header_list):
            header_list.append(("Content-Type", content_type))
        if redirect is not None:
            header_list.append(("Location", redirect))
        programmed = Programmed(
            status or (302 if redirect else 200), header_list, body_bytes, delay, gzip, hold, arrived
        )
        with self._lock:
            self._programmed[path_prefix] = programmed

    def _record(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(recorded)

    def _answer_for(self, recorded: RecordedRequest) -> Programmed:
        with self._lock:
            matches = [prefix for prefix in self._programmed if recorded.path.startswith(prefix)]
            if matches:
                return self._programmed[max(matches, key=len)]
        echo = {
            "method": recorded.method,
            "target": recorded.target,
            "headers": recorded.headers,
            "body": recorded.body.decode("utf-8", "replace"),
        }
        return Programmed(200, [("Content-Type", "application/json")], json.dumps(echo).encode())

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RecordingBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
