"""Test hooks: injected faults and request counters. Thread-safe; no HTTP here."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from devtools.keyvault_emulator._protocol import Response, error_response
from devtools.keyvault_emulator._store import VaultError, bad_parameter

_FAULT_CODES = {429: "Throttled", 500: "InternalServerError", 503: "ServiceUnavailable"}


HOLD_LIMIT_SECONDS = 300  # a held request never outlives a forgotten release by much


@dataclass
class Fault:
    status: int  # 0: hold the request (unanswered) until released, then serve it as usual
    remaining: int
    retry_after: float | None = None
    method: str | None = None
    path_regex: re.Pattern[str] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path_regex is None or self.path_regex.search(path) is not None

    def response(self) -> Response:
        code = _FAULT_CODES.get(self.status, "InjectedFault")
        headers: tuple[tuple[str, str], ...] = ()
        if self.retry_after is not None:
            seconds = int(self.retry_after) if float(self.retry_after).is_integer() else self.retry_after
            headers = (("Retry-After", str(seconds)),)
        return error_response(VaultError(self.status, code, f"Injected fault ({self.status})."), headers)

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
            "method": self.method,
            "path_regex": None if self.path_regex is None else self.path_regex.pattern,
            "hold": self.status == 0,
        }


def build_fault(
    status: Any = None,
    count: Any = 1,
    retry_after: Any = None,
    method: Any = None,
    path_regex: Any = None,
    hold: Any = False,
) -> Fault:
    """Validates hook input (it may come from JSON) and builds a Fault. `hold` instead of `status`: the request
    waits unanswered until released (e.g. while a test kills the client), then is served as usual."""
    if not isinstance(hold, bool):
        raise bad_parameter("'hold' must be true or false.")
    if hold:
        if status is not None:
            raise bad_parameter("Give either 'status' or 'hold', not both.")
        status = 0
    elif not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise bad_parameter("'status' must be an HTTP error status (400-599).")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise bad_parameter("'count' must be a positive integer.")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int | float)):
        raise bad_parameter("'retry_after' must be a number of seconds.")
    if retry_after is not None and retry_after < 0:
        raise bad_parameter("'retry_after' must not be negative.")
    if method is not None and not isinstance(method, str):
        raise bad_parameter("'method' must be a string.")
    if path_regex is not None and not isinstance(path_regex, str):
        raise bad_parameter("'path_regex' must be a string.")
    try:
        compiled = None if path_regex is None else re.compile(path_regex)
    except re.error as exc:
        raise bad_parameter(f"'path_regex' is not a valid regular expression: {exc}") from None
    return Fault(status, count, retry_after, None if method is None else method.upper(), compiled)


class FaultInjector:
    """Pending faults, consumed first-added-first by the requests they match; and requests being held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._released = threading.Event()
        self._holding = threading.Condition(self._lock)
        self._held = 0

    def add(self, fault: Fault) -> None:
        with self._lock:
            if fault.status == 0 and self._released.is_set():
                self._released = threading.Event()
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop pending faults and let every held request go on."""
        with self._lock:
            self._faults.clear()
            self._released.set()

    def hold(self) -> None:
        """Called for a request a hold fault took: wait until clear() (or the limit), then return to serve it."""
        with self._lock:
            released = self._released
            self._held += 1
            self._holding.notify_all()
        try:
            released.wait(HOLD_LIMIT_SECONDS)
        finally:
            with self._lock:
                self._held -= 1

    def wait_held(self, timeout: float) -> int:
        """Block until at least one request is held (an event for tests to await); returns how many are."""
        with self._lock:
            self._holding.wait_for(lambda: self._held > 0, timeout)
            return self._held

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, method: str, path: str) -> Response | None:
        """The fault response for this request, if a pending fault matches it (and uses one of its count).
        A hold fault returns None after holding the request: it is then served as usual."""
        with self._lock:
            matched = next((fault for fault in self._faults if fault.matches(method, path)), None)
            if matched is not None:
                matched.remaining -= 1
                if matched.remaining == 0:
                    self._faults.remove(matched)
        if matched is None:
            return None
        if matched.status == 0:
            self.hold()
            return None
        return matched.response()


class RequestCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_route: Counter[str] = Counter()

    def count(self, route_label: str) -> None:
        with self._lock:
            self._by_route[route_label] += 1

    def reset(self) -> None:
        with self._lock:
            self._by_route.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": sum(self._by_route.values()), "by_route": dict(self._by_route)}
