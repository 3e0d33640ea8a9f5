"""Header filtering between caller and backend, both directions. Pure functions.

Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and never cross a proxy; the names a
`Connection` header lists are hop-by-hop too. Content-Length is dropped because the transport
recomputes it for the body actually sent. Bodies pass raw in both directions, so Content-Encoding
stays and a caller that didn't ask for compression gets `Accept-Encoding: identity`.

The platform's request headers never reach a backend: App Service's front end adds X-Original-URL and
X-WAWS-Unencoded-URL (the caller's full URL, query string and so any subscription key included),
X-ARR-* (log id, TLS details, the client certificate), Client-IP, Disguised-Host and more; Easy Auth adds
X-MS-CLIENT-PRINCIPAL*/X-MS-TOKEN-*; Front Door adds X-Azure-*. They describe the caller's request to the
gateway, and a caller can also send them itself. X-Forwarded-For and X-Forwarded-Proto are rebuilt, not passed.
It is a deny list by name and prefix, not an allow list, because connectors declare their own header parameters.

Backend response headers reach the caller through the Functions worker, which keeps one value per name
except Set-Cookie (azure.functions HttpResponseConverter): `caller_response_headers` joins the other
repeated ones (RFC 9110 §5.3) and keeps each Set-Cookie separate. It also drops what would make the
worker or the host fail the whole response with a bare 500 (devtools/funchost reproduces both): a value
with non-ASCII or control characters (Kestrel refuses it) and a cookie whose Expires the worker can't
parse or whose Max-Age isn't a number ASP.NET can write.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie

from werkzeug.datastructures import Headers

from shared.proxy._origin import strip_gateway_cookies

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",  # non-standard, still sent by some clients
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NEVER_FORWARDED_REQUEST = frozenset({"host", "content-length", "forwarded"})
PLATFORM_REQUEST_HEADERS = frozenset(
    {
        "x-original-url",
        "x-waws-unencoded-url",
        "x-site-deployment-id",
        "disguised-host",
        "was-default-hostname",
        "client-ip",
        "x-client-ip",
        "x-client-port",
        "max-forwards",
        "x-original-host",
    }
)
PLATFORM_REQUEST_PREFIXES = (
    "x-arr-",  # X-ARR-LOG-ID, X-ARR-SSL, X-ARR-ClientCert
    "x-appservice-",  # X-AppService-Proto
    "x-forwarded-",  # X-Forwarded-For/-Proto (rebuilt below), -Host, -TlsVersion, -Port
    "x-ms-client-principal",  # Easy Auth: -ID, -NAME, -IDP and the principal itself
    "x-ms-token-",  # Easy Auth's token store
    "x-azure-",  # Front Door: X-Azure-FDID, -Ref, -ClientIP, -SocketIP
)
_SET_COOKIE = "set-cookie"

HeaderSource = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(headers: HeaderSource) -> list[tuple[str, str]]:
    """(name, value) pairs; urllib3's HTTPHeaderDict.items() yields repeated headers separately."""
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def _connection_listed(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Names a Connection header declares hop-by-hop (`Connection: close, X-Foo`)."""
    return {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }


def _forwarded_for(pairs: Iterable[tuple[str, str]], client_ip: str | None) -> str | None:
    chain = [hop.strip() for name, value in pairs if name.lower() == "x-forwarded-for" for hop in value.split(",")]
    chain = [hop for hop in chain if hop]
    if client_ip and (not chain or chain[-1] != client_ip):
        chain.append(client_ip)
    return ", ".join(chain) or None


def is_platform_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in PLATFORM_REQUEST_HEADERS or lowered.startswith(PLATFORM_REQUEST_PREFIXES)


def forward_request_headers(
    incoming: Mapping[str, str],
    consumed: Collection[str],
    client_ip: str | None,
    proto: str,
) -> dict[str, str]:
    """The caller's headers as the backend should see them (gateway credentials in `consumed` removed)."""
    pairs = _pairs(incoming)
    dropped = HOP_BY_HOP | _NEVER_FORWARDED_REQUEST | _connection_listed(pairs) | {n.lower() for n in consumed}
    outgoing = {name: value for name, value in pairs if name.lower() not in dropped and not is_platform_header(name)}
    outgoing = strip_gateway_cookies(outgoing)  # the gateway's own __Host-cg* cookies (_origin.py)
    forwarded_for = _forwarded_for(pairs, client_ip)
    if forwarded_for:
        outgoing["X-Forwarded-For"] = forwarded_for
    outgoing["X-Forwarded-Proto"] = proto
    if not any(name.lower() == "accept-encoding" for name in outgoing):
        outgoing["Accept-Encoding"] = "identity"
    return outgoing


# A backend's response is served from the gateway's origin, so these would give it power over the whole origin in
# the caller's browser, sandbox or not: a service worker scope beyond its connection's path (every other
# connection's calls, the sign-in pages), wiping the gateway's cookies and storage, and how browsers reach the host.
ORIGIN_WIDE_RESPONSE_HEADERS = frozenset(
    {"service-worker-allowed", "clear-site-data", "alt-svc", "strict-transport-security"}
)


def forward_response_headers(headers: HeaderSource) -> list[tuple[str, str]]:
    """The backend's headers for the caller, repeated ones (Set-Cookie) kept as separate pairs."""
    pairs = _pairs(headers)
    dropped = HOP_BY_HOP | ORIGIN_WIDE_RESPONSE_HEADERS | {"content-length"} | _connection_listed(pairs)
    return [(name, value) for name, value in pairs if name.lower() not in dropped]


def _is_http_date(text: str) -> bool:
    try:
        parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            datetime.fromisoformat(text)
        except ValueError:
            return False
    return True


def _is_max_age(text: str) -> bool:
    try:
        seconds = float(text)
    except ValueError:
        return False
    return math.isfinite(seconds) and int(seconds) >= 0


def _cookie_survives_the_worker(value: str) -> bool:
    """False for a Set-Cookie the worker would fail on: it reads it with SimpleCookie, parses Expires and
    Max-Age, and the host writes Max-Age as a non-negative integer."""
    try:
        morsels = SimpleCookie(value).values()
    except CookieError:
        return False
    return all(
        (not morsel["expires"] or _is_http_date(morsel["expires"]))
        and (not morsel["max-age"] or _is_max_age(morsel["max-age"]))
        for morsel in morsels
    )


def _is_writable(value: str) -> bool:
    """Kestrel writes only visible ASCII, space and tab in a header value."""
    return all(char == "\t" or " " <= char <= "~" for char in value)


def caller_response_headers(headers: HeaderSource, replaced: Mapping[str, str] | None = None) -> Headers:
    """The backend's (already filtered) headers as `func.HttpResponse(headers=...)` should get them.

    Names in `replaced` are the gateway's own (limit headers): the backend's of that name go. A repeated
    header is joined into one value, because the worker keeps only the last value per name; Set-Cookie can't
    be joined (its dates have commas) and stays one header per cookie, which the worker passes on as such.
    """
    replaced = replaced or {}
    overridden = {name.lower() for name in replaced}
    joined: dict[str, tuple[str, list[str]]] = {}
    cookies: list[str] = []
    for name, value in _pairs(headers):
        lowered = name.lower()
        if lowered in overridden:
            continue
        if not _is_writable(value) or (lowered == _SET_COOKIE and not _cookie_survives_the_worker(value)):
            logger.warning("dropped backend response header %s: the Functions host can't pass its value on", name)
            continue
        if lowered == _SET_COOKIE:
            cookies.append(value)
        else:
            joined.setdefault(lowered, (name, []))[1].append(value)
    result = Headers([(name, ", ".join(values)) for name, values in joined.values()])
    for cookie in cookies:
        result.add("Set-Cookie", cookie)
    for name, value in replaced.items():
        result.add(name, value)
    return result
