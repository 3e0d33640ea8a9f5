"""Keeping backends off the gateway's origin. Pure.

Proxied responses are served from the gateway's own origin, next to its sign-in pages and cookies. A
backend's HTML or script must not run there: `Content-Security-Policy: sandbox` gives the response a
unique opaque origin (no scripts, no forms, no same-origin access to the gateway's cookies or pages),
and `X-Content-Type-Options: nosniff` keeps a browser from reading a text or JSON answer as HTML. A
backend's own CSP stays and is enforced too (several policies all apply). A connector whose backend is
a web app meant for browsers opts out through its policy (`"responses": {"sandbox": false}`).

The gateway's own cookies (named `__Host-cg...`, e.g. the sign-in cookie) belong to the gateway and
never go to a backend, whatever else the caller's Cookie header holds.
"""

from __future__ import annotations

from collections.abc import Iterable

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
