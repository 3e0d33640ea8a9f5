"""Keeping backends off the gateway's origin. Pure.

Proxied responses are served from the gateway's own origin, next to its sign-in pages and cookies. A
backend's HTML or script must not run there: `Content-Security-Policy: sandbox` gives the response a
unique opaque origin (no scripts, no forms, no same-origin access to the gateway's cookies or pages),
and `X-Content-Type-Options: nosniff` keeps a browser from reading a text or JSON answer as HTML. A
backend's own CSP stays and is enforced too (several policies all apply). A connector whose backend is
a web app meant for browsers opts out through its policy (`"responses": {"sandbox": false}`).

The gateway's own cookies (named `__Host-cg...`, e.g. the sign-in cookie) belong to the gateway and
never go to a backend, whatever else the caller's Cookie header holds.

A backend's cookies are the browser's cookies for the gateway's origin, so `scoped_cookies` keeps them to the
connection that set them, the way a reverse proxy rewrites cookie paths: a cookie named like the gateway's
goes (a planted sign-in cookie would bind a victim's OAuth sign-in to the attacker's connection), so does a
`__Host-` cookie (it must have `Path=/`, so every connection's backend would get it), `Domain` goes (a
backend could otherwise set cookies for the gateway's parent domain), and `Path` becomes the connection's
invoke path (the backend's path below its base path appended), so the browser sends a backend's cookies
back to that connection only.

A backend's `Location` is meant for the backend, but the caller resolves it against the gateway: a relative
one would land on the gateway's own API, where a 307 makes the caller's client repeat its method and body with
its gateway credential. `gateway_location` resolves it the way the backend meant it: inside the backend's base
path it becomes the same place through this connection, elsewhere on the backend or anywhere else it stays
absolute, and one on the gateway's own origin goes. Either way its query loses the parameters that carry a
credential: a redirect often repeats the query it was called with, the connection's API key included.

A trigger's `Location` (a webhook subscription to DELETE later, the next poll of a polling trigger) is a URL
the caller's flow calls next, with its gateway credential. Inside the backend's base path it becomes the
absolute gateway URL (`trigger_origin` + the invoke path), so the call goes through the gateway with the
connection's credential. Anywhere else it goes: the gateway can't call it with the credential, and a flow
following it would hand its gateway credential to whichever host the backend named.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from urllib.parse import SplitResult, urljoin, urlsplit

from shared.problems import Problem
from shared.proxy._urls import filter_query, guard_path

logger = logging.getLogger(__name__)
GATEWAY_COOKIE_PREFIX = "__Host-cg"
SANDBOX_HEADERS = (("Content-Security-Policy", "sandbox"), ("X-Content-Type-Options", "nosniff"))
_NOSNIFF = "x-content-type-options"


def without_gateway_cookies(cookie_header: str) -> str:
    """The Cookie header's pairs minus the gateway's own (by name prefix, case-insensitively); "" if none left."""
    kept = [
        pair.strip()
        for pair in cookie_header.split(";")
        if pair.strip() and not pair.strip().lower().startswith(GATEWAY_COOKIE_PREFIX.lower())
    ]
    return "; ".join(kept)


def strip_gateway_cookies(headers: dict[str, str]) -> dict[str, str]:
    """Request headers for a backend: the gateway's cookies removed from every Cookie header."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() == "cookie":
            value = without_gateway_cookies(value)
            if not value:
                continue
        result[name] = value
    return result


def sandboxed(headers: Iterable[tuple[str, str]], sandbox: bool = True) -> list[tuple[str, str]]:
    """The backend's response headers with the sandbox added (its own nosniff-or-not replaced by nosniff)."""
    pairs = list(headers)
    if not sandbox:
        return pairs
    return [(name, value) for name, value in pairs if name.lower() != _NOSNIFF] + list(SANDBOX_HEADERS)


def _invoke_path(cookie_path: str, invoke_prefix: str, base_path: str) -> str:
    """The gateway path for a backend cookie's Path: below the base path it maps into the connection's invoke path;
    anything else (no Path, "/", another part of the backend) gets the whole invoke path."""
    base = base_path.rstrip("/")
    if cookie_path == base or cookie_path.startswith(base + "/"):
        return invoke_prefix + cookie_path[len(base) :].rstrip("/")
    return invoke_prefix


def _scoped_cookie(value: str, invoke_prefix: str, base_path: str) -> str | None:
    pair, *attributes = value.split(";")
    name = pair.split("=", 1)[0].strip().lower()
    if name.startswith((GATEWAY_COOKIE_PREFIX.lower(), "__host-")):
        return None
    kept, cookie_path = [], ""
    for attribute in attributes:
        key, _, attribute_value = attribute.strip().partition("=")
        if key.lower() == "path":
            cookie_path = attribute_value.strip()
        elif key.lower() != "domain":
            kept.append(attribute.strip())
    path = _invoke_path(cookie_path if cookie_path.startswith("/") else "", invoke_prefix, base_path)
    return "; ".join([pair.strip(), f"Path={path}", *kept])


def scoped_cookies(headers: Iterable[tuple[str, str]], invoke_prefix: str, base_path: str) -> list[tuple[str, str]]:
    """The backend's response headers with each Set-Cookie kept to this connection (see the module docstring)."""
    result = []
    for name, value in headers:
        if name.lower() == "set-cookie":
            scoped = _scoped_cookie(value, invoke_prefix, base_path)
            if scoped is None:
                logger.warning("dropped a backend cookie named like the gateway's own or __Host-")
                continue
            value = scoped
        result.append((name, value))
    return result


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(parts: SplitResult) -> tuple[str, str, int | None]:
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())


def _invoke_target(target: SplitResult, base: str, invoke_prefix: str, drop_query: Collection[str] = ()) -> str | None:
    """The place below the backend's base path as the same place below the invoke path (no origin); None when the
    rest of the path fails the caller-path guard: the caller's client resolves `..` (and `\\`) before calling, so
    `/invoke/../../other/invoke` would reach another connection or another gateway endpoint."""
    if not (target.path == base or target.path.startswith(base + "/")):
        return None
    try:
        path, query = guard_path(target.path[len(base) :]), filter_query(target.query, drop_query)
    except Problem:
        return None
    return target._replace(scheme="", netloc="", path=invoke_prefix + path, query=query).geturl()


def gateway_link(
    value: str,
    backend_request_url: str,
    base_path: str,
    invoke_prefix: str,
    public_origin: str,
    drop_query: Collection[str] = (),
) -> str | None:
    """A backend URL the caller is told to call next (a trigger's Location, a paging nextLink) as the absolute
    gateway URL of the same place through this connection, without the `drop_query` parameters; None when it isn't
    inside the backend's base path (see the module docstring: nobody may be sent off the backend with a gateway
    credential)."""
    request = urlsplit(backend_request_url)
    try:
        target = urlsplit(urljoin(request._replace(query="", fragment="").geturl(), value.strip()))
        inside = _origin_of(target) == _origin_of(request)
    except ValueError:  # a port out of range, a broken IPv6 literal
        return None
    place = _invoke_target(target, base_path.rstrip("/"), invoke_prefix, drop_query) if inside else None
    return None if place is None else public_origin + place


def gateway_location(
    headers: Iterable[tuple[str, str]],
    backend_request_url: str,
    base_path: str,
    invoke_prefix: str,
    gateway_origins: Collection[str],
    trigger_origin: str | None = None,
    drop_query: Collection[str] = (),
) -> list[tuple[str, str]]:
    """The backend's response headers with Location resolved for the caller (see the module docstring).
    `trigger_origin`: the call is a trigger's, and this is the gateway's public origin for its Location.
    `drop_query`: parameters that carry a credential, which a backend's redirect may repeat from the query it was
    called with (the connection's API key) or plant (a gateway key that would win over the caller's own)."""
    request = urlsplit(backend_request_url)
    base = base_path.rstrip("/")
    gateway = {_origin_of(urlsplit(url)) for url in gateway_origins if url}
    result = []
    for name, value in headers:
        if name.lower() == "location":
            try:
                # Resolved against the backend URL without its query, which may hold an apiKey ("#x" keeps it).
                target = urlsplit(urljoin(request._replace(query="", fragment="").geturl(), value.strip()))
                origin = _origin_of(target)
            except ValueError:  # a port out of range, a broken IPv6 literal
                origin, target = None, None
            if target is None or origin in gateway:
                logger.warning("dropped a backend Location that pointed at the gateway itself or couldn't be read")
                continue
            inside = _invoke_target(target, base, invoke_prefix, drop_query) if origin == _origin_of(request) else None
            if inside is not None:
                value = (trigger_origin or "") + inside
            elif trigger_origin is not None:
                logger.warning("dropped a trigger's Location outside the connector's backend")
                continue
            else:
                try:
                    value = target._replace(query=filter_query(target.query, drop_query)).geturl()
                except Problem:  # a control character: no header carries it
                    logger.warning("dropped a backend Location whose query couldn't be read")
                    continue
        result.append((name, value))
    return result
