"""A Table Storage stand-in: a loopback HTTP proxy in front of Azurite that counts requests and injects faults.

    with TableStandin(azurite_connection_string) as standin:
        TableServiceClient.from_connection_string(standin.connection_string)
        standin.fail(503, count=100, method="GET")          # the next 100 GETs answer 503 (Azure's ServerBusy body)
        standin.fail(412, count=1, method="PUT", path_regex="connections")
        standin.hold(count=1, method="PUT")                 # the next PUT waits (unanswered) until release()
        standin.before(write, count=1, method="PATCH")      # the next PATCH waits for write() to run, then goes on
        standin.attempts("GET")                              # requests seen, faults included

Everything else is forwarded to Azurite unchanged (the shared-key signature covers the path and headers,
which stay the same), so the stores' final content is Azurite's.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from devtools.http_server import NoDelayHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
_CODES = {503: "ServerBusy", 500: "InternalError", 412: "UpdateConditionNotSatisfied", 429: "TooManyRequests"}


@dataclass
class _Rule:
    status: int | None  # None: hold the request until released
    remaining: int
    method: str | None
    path_regex: re.Pattern[str] | None
    retry_after: float | None
    held: threading.Event = field(default_factory=threading.Event)
    action: Callable[[], None] | None = None  # run before the request is forwarded (status is None then)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_regex is None or self.path_regex.search(path) is not None
        )


class _Server(NoDelayHTTPServer):
    def __init__(self, standin: TableStandin) -> None:
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
        standin = self.server.standin
        rule = standin._take(self.command, self.path)
        if rule is not None and rule.action is not None:
            rule.action()  # another client's write lands between this client's read and this request
            rule = None
        if rule is not None and rule.status is None:
            standin._held.release()
            rule.held.wait()
            self.close_connection = True
            return  # never answered: the client sees its read timeout or a dropped connection
        if rule is not None:
            assert rule.status is not None
            status, headers, payload = _fault(rule)
        else:
            status, headers, payload = standin._forward(self.command, self.path, dict(self.headers.items()), body)
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(payload)}"]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _handle


def _fault(rule: _Rule) -> tuple[int, list[tuple[str, str]], bytes]:
    assert rule.status is not None
    code = _CODES.get(rule.status, "InjectedFault")
    payload = json.dumps({"odata.error": {"code": code, "message": {"lang": "en-US", "value": "Injected."}}})
    headers = [("Content-Type", "application/json;odata=minimalmetadata"), ("x-ms-error-code", code)]
    if rule.retry_after is not None:
        headers.append(("Retry-After", str(rule.retry_after)))
    return rule.status, headers, payload.encode()


class TableStandin:
    def __init__(self, azurite_connection_string: str) -> None:
        parts = dict(p.split("=", 1) for p in azurite_connection_string.strip(";").split(";"))
        self._upstream = urlsplit(parts["TableEndpoint"])
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        parts["TableEndpoint"] = self.url + self._upstream.path
        self.connection_string = ";".join(f"{k}={v}" for k, v in parts.items()) + ";"
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._seen: list[tuple[str, str]] = []
        self._held = threading.Semaphore(0)
        self._released: list[_Rule] = []  # held rules whose count is used up; their requests still wait
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # -- faults ------------------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        count: int,
        method: str | None = None,
        path_regex: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `count` requests matching `method` and `path_regex` get `status`, not Azurite's answer."""
        self._add(_Rule(status, count, method, re.compile(path_regex) if path_regex else None, retry_after))

    def hold(self, count: int = 1, method: str | None = None, path_regex: str | None = None) -> None:
        """The next `count` matching requests are taken in and never answered until `release()`."""
        self._add(_Rule(None, count, method, re.compile(path_regex) if path_regex else None, None))

    def before(
        self, action: Callable[[], None], count: int = 1, method: str | None = None, path_regex: str | None = None
    ) -> None:
        """The next `count` matching requests are forwarded only after `action()` returned: an interleaving made
        deterministic (say, a competing write between a client's read and its conditional write)."""
        rule = _Rule(None, count, method, re.compile(path_regex) if path_regex else None, None, action=action)
        self._add(rule)

    def wait_held(self, timeout: float = 30) -> None:
        """Block until a held request has arrived (an event, not a sleep)."""
        if not self._held.acquire(timeout=timeout):
            raise TimeoutError("no request was held")

    def release(self) -> None:
        with self._lock:
            rules, self._rules = self._rules, []
        for rule in rules:
            rule.held.set()
        for rule in self._released:
            rule.held.set()

    def clear(self) -> None:
        self.release()

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            self._seen.append((method, path))
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                        if rule.status is None and rule.action is None:
                            self._released.append(rule)
                    return rule
        return None

    # -- what was seen -----------------------------------------------------------------------------

    def attempts(self, method: str | None = None, path_regex: str | None = None) -> int:
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            return sum(
                1
                for m, p in self._seen
                if (method is None or m == method) and (pattern is None or pattern.search(p) is not None)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self._seen.clear()

    # -- forwarding --------------------------------------------------------------------------------

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self._upstream.hostname, self._upstream.port, timeout=30)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            forwarded["Host"] = self._upstream.netloc
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            connection.close()

    def __enter__(self) -> TableStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
