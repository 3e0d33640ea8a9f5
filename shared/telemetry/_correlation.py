"""The correlation id of the request being handled: from the caller's `traceparent`, else its
`x-ms-client-request-id`, else minted. Held in a context variable so every log line and span of
the request carries it without being passed around."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

CORRELATION_HEADER = "X-Correlation-Id"
TRACEPARENT_HEADER = "traceparent"
CLIENT_REQUEST_ID_HEADER = "x-ms-client-request-id"

# W3C Trace Context: version-traceid-parentid-flags; version ff and all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^(?!ff)([0-9a-f]{2})-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})")
# A caller's request id is echoed in headers and logs: only a short, plain token is taken as it is.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True)
class Correlation:
    id: str
    parent_span_id: str | None = None  # the caller's span, when the id came from its traceparent
    sampled: bool = True

    @property
    def trace_id(self) -> str | None:
        """The id as a W3C trace id, when it is one (traceparent or minted), so spans join the same trace."""
        return self.id if re.fullmatch(r"[0-9a-f]{32}", self.id) else None


def mint() -> Correlation:
    return Correlation(secrets.token_hex(16))


def from_headers(headers: Mapping[str, str]) -> Correlation:
    """Headers are looked up case-insensitively (the Functions request headers are)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    match = _TRACEPARENT.match(lowered.get(TRACEPARENT_HEADER, "").strip())
    if match:
        return Correlation(match.group(2), match.group(3), bool(int(match.group(4), 16) & 1))
    request_id = lowered.get(CLIENT_REQUEST_ID_HEADER, "").strip()
    if _CLIENT_REQUEST_ID.fullmatch(request_id):
        return Correlation(request_id)
    return mint()


_current: ContextVar[Correlation | None] = ContextVar("gateway_correlation", default=None)


def current() -> Correlation | None:
    return _current.get()


def current_id() -> str | None:
    correlation = _current.get()
    return correlation.id if correlation else None


@contextmanager
def bound(correlation: Correlation) -> Iterator[Correlation]:
    token = _current.set(correlation)
    try:
        yield correlation
    finally:
        _current.reset(token)
