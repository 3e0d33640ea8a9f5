"""Send one request to a backend and turn every transport failure into a Problem.

Bodies pass raw both ways (`decode_content=False`); 3xx comes back as is. Problem texts and log
lines name the backend host only: URLs may hold API keys in the query, and urllib3/requests
exception texts include the URL, so they are never passed on (`from None` keeps them out of
tracebacks too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.auth import AuthBase

from shared import telemetry
from shared.problems import Problem
from shared.proxy._headers import forward_response_headers
from shared.proxy._transport import BlockedAddressError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProxiedResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (requests wraps urllib3's MaxRetryError, which holds a `reason`)."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
        pending.extend(item for item in wrapped if isinstance(item, BaseException))


def _is_timeout(error: BaseException) -> bool:
    if isinstance(error, requests.Timeout):
        return True
    # urllib3 counts NewConnectionError (refused, DNS) as a ConnectTimeoutError subclass.
    return isinstance(error, urllib3.exceptions.TimeoutError) and not isinstance(
        error, urllib3.exceptions.NewConnectionError
    )


def _problem_for(error: BaseException, host: str, timeout: tuple[float, float]) -> Problem:
    causes = list(_causes(error))
    blocked = next((cause for cause in causes if isinstance(cause, BlockedAddressError)), None)
    if blocked is not None:
        logger.warning("refused backend host %s: it connected to %s %s", host, blocked.reason, blocked.address)
        return Problem(
            403,
            "backend-address-forbidden",
            "Backend address forbidden",
            f"Backend host {host!r} resolves to {blocked.reason}, which the gateway won't call.",
        )
    logger.warning("backend host %s failed: %s", host, " <- ".join(type(cause).__name__ for cause in causes))
    if _is_timeout(error):
        connecting = isinstance(error, requests.ConnectTimeout)
        which, limit = ("accept the connection", timeout[0]) if connecting else ("respond", timeout[1])
        return Problem(
            504, "backend-timeout", "Gateway timeout", f"Backend host {host!r} did not {which} within {limit:g} s."
        )
    if isinstance(error, requests.exceptions.InvalidHeader):
        return Problem(400, "header-rejected", "Bad request", "A request header has a value that can't be forwarded.")
    if isinstance(error, requests.exceptions.SSLError):
        detail = f"The TLS handshake with backend host {host!r} failed."
    elif any(isinstance(cause, urllib3.exceptions.NameResolutionError) for cause in causes):
        detail = f"Backend host {host!r} could not be resolved."
    elif any(isinstance(cause, urllib3.exceptions.NewConnectionError) for cause in causes):
        detail = f"Backend host {host!r} refused the connection or could not be reached."
    elif isinstance(error, requests.ConnectionError):
        detail = f"Backend host {host!r} closed the connection without responding."
    else:
        return Problem(
            502, "backend-error", "Bad gateway", f"The response from backend host {host!r} could not be read."
        )
    return Problem(502, "backend-unreachable", "Bad gateway", detail)


def forward(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    auth: AuthBase | None,
    timeout: tuple[float, float],
) -> ProxiedResponse:
    """Send the request as built by `backend_url`/`forward_request_headers`; raise Problem on transport errors."""
    parts = urlsplit(url)
    host = parts.hostname or "backend"
    # The span names the backend by host and port only: its path and query may carry a key.
    attributes = {
        "gateway.call": "backend",
        "http.request.method": method,
        "server.address": host,
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
    }
    with telemetry.span("backend " + method, "client", **attributes) as backend_span:
        response = _send(session, method, url, headers, body, auth, timeout, host)
        backend_span.set("http.response.status_code", response.status)
        return response


def _send(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    auth: AuthBase | None,
    timeout: tuple[float, float],
    host: str,
) -> ProxiedResponse:
    try:
        prepared = session.prepare_request(requests.Request(method, url, headers=headers, data=body))
        prepared.url = url  # requests re-quotes (%7E -> ~); the backend gets the path exactly as guarded
        if auth is not None:
            prepared.prepare_auth(auth)
        response = session.send(prepared, stream=True, timeout=timeout, allow_redirects=False)
        try:
            content = response.raw.read(decode_content=False)
        except BaseException:
            response.close()  # half-read connection: discard it, don't pool it
            raise
        response.raw.release_conn()
        return ProxiedResponse(response.status_code, forward_response_headers(response.raw.headers), content)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        raise _problem_for(error, host, timeout) from None
