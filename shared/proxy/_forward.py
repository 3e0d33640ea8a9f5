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
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.auth import AuthBase

from shared import telemetry
from shared.problems import Problem
from shared.proxy._headers import forward_response_headers
from shared.proxy._transport import BlockedAddressError, CallDeadline, call_deadline

logger = logging.getLogger(__name__)
_CHUNK = 64 * 1024


class ResponseTooLarge(requests.RequestException):
    """The body passed the cap; the read stopped there."""


class PastDeadline(requests.Timeout):
    """The call's total deadline passed (its sockets were shut down)."""


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


def _read_body(response: requests.Response, max_bytes: int | None) -> bytes:
    """The raw body, read in chunks and stopped past `max_bytes` (a declared Content-Length is checked first)."""
    declared = response.headers.get("Content-Length", "")
    if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := response.raw.read(_CHUNK, decode_content=False):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise ResponseTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(host: str, max_bytes: int | None) -> Problem:
    logger.warning("backend host %s answered with more than %s bytes; cut off", host, max_bytes)
    return Problem(
        502,
        "backend-response-too-large",
        "Bad gateway",
        f"The response from backend host {host!r} is larger than the {max_bytes} bytes this gateway passes on.",
    )


def _past_deadline(host: str, deadline: CallDeadline) -> Problem:
    logger.warning("backend host %s did not finish within the total timeout of %g s", host, deadline.seconds)
    return Problem(
        504,
        "backend-timeout",
        "Gateway timeout",
        f"Backend host {host!r} did not finish its response within {deadline.seconds:g} s.",
    )


def _total(timeout: float | tuple[float, float]) -> float:
    return sum(timeout) if isinstance(timeout, tuple) else 2 * timeout


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float],
    max_bytes: int,
    **kwargs: Any,
) -> requests.Response:
    """`session.request` for the gateway's own small calls (OAuth): the whole call within connect + read timeout,
    the body read up to `max_bytes`. Raises requests exceptions (ResponseTooLarge, PastDeadline among them)."""
    with call_deadline(_total(timeout)) as deadline:
        response = session.request(method, url, stream=True, timeout=timeout, **kwargs)
        try:
            body = _read_body(response, max_bytes)
        except ResponseTooLarge:
            response.close()
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:  # raw reads raise urllib3's own errors
            response.close()
            if deadline is not None and deadline.expired.is_set():
                raise PastDeadline("the call did not finish in time") from None
            raise requests.ConnectionError(f"the answer could not be read ({type(error).__name__})") from None
        except BaseException:
            response.close()
            raise
        if deadline is not None and deadline.expired.is_set():
            response.close()
            raise PastDeadline("the call did not finish in time")
        response._content = body  # what .content/.text/.json() read: the body is consumed
        response._content_consumed = True
        response.raw.release_conn()
        return response


def forward(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    auth: AuthBase | None,
    timeout: tuple[float, float],
    *,
    total_timeout: float | None = None,
    max_response_bytes: int | None = None,
) -> ProxiedResponse:
    """Send the request as built by `backend_url`/`forward_request_headers`; raise Problem on transport errors.

    `total_timeout` bounds the whole call (PROXY_TOTAL_TIMEOUT), `timeout` each connect and read;
    `max_response_bytes` caps the body read (PROXY_MAX_RESPONSE_BYTES): past it, 502 and the connection goes."""
    parts = urlsplit(url)
    host = parts.hostname or "backend"
    # The span names the backend by host and port only: its path and query may carry a key.
    attributes = {
        "gateway.call": "backend",
        "http.request.method": method,
        "server.address": host,
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
    }
    if total_timeout is not None:
        timeout = (min(timeout[0], total_timeout), min(timeout[1], total_timeout))
    with telemetry.span("backend " + method, "client", **attributes) as backend_span:
        with call_deadline(total_timeout) as deadline:
            response = _send(session, method, url, headers, body, auth, timeout, host, deadline, max_response_bytes)
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
    deadline: CallDeadline | None,
    max_response_bytes: int | None,
) -> ProxiedResponse:
    try:
        prepared = session.prepare_request(requests.Request(method, url, headers=headers, data=body))
        prepared.url = url  # requests re-quotes (%7E -> ~); the backend gets the path exactly as guarded
        if auth is not None:
            prepared.prepare_auth(auth)
        response = session.send(prepared, stream=True, timeout=timeout, allow_redirects=False)
        try:
            content = _read_body(response, max_response_bytes)
        except BaseException:
            response.close()  # half-read connection: discard it, don't pool it
            raise
        if deadline is not None and deadline.expired.is_set():
            response.close()  # its socket was shut down: what was read may be cut short
            raise _past_deadline(host, deadline)
        response.raw.release_conn()
        return ProxiedResponse(response.status_code, forward_response_headers(response.raw.headers), content)
    except ResponseTooLarge:
        raise _too_large(host, max_response_bytes) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        if deadline is not None and deadline.expired.is_set():
            raise _past_deadline(host, deadline) from None
        if not isinstance(error, (requests.RequestException, urllib3.exceptions.HTTPError)):
            raise
        raise _problem_for(error, host, timeout) from None
