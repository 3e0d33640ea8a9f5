"""The host's half of an HTTP response: the worker's RpcHttp written out as ASP.NET Core / Kestrel write it.

Ported from Azure/azure-functions-host (MIT) at 89dc438d4 and dotnet/aspnetcore, since they are C#:
- GrpcMessageExtensionUtilities.RpcHttpCookieConverter: each RpcHttpCookie becomes CookieOptions. A Python
  SimpleCookie always carries `path` and `domain` (as "" when unset) and `secure`/`httponly` (as False), so
  CookieOptions' default Path "/" is always overwritten, and "" means "leave the attribute out".
- RawScriptResult.ExecuteResultAsync: `content-type` sets ContentType; every other header is added unless one of
  that name (case-insensitively) is already there, in which case it is dropped (and only logged); then the cookies
  are appended with HttpResponse.Cookies.Append.
- ResponseCookies.Append + SetCookieHeaderValue.ToString: the value is Uri.EscapeDataString-ed (the name is not),
  attributes come out lower-case as `expires`, `max-age`, `domain`, `path`, `secure`, `samesite`, `httponly`.
- Kestrel: a Date header only when the response has none; non-ASCII or control characters in a header value
  make Kestrel throw, which the caller sees as a 500.
"""

from __future__ import annotations

from email.utils import formatdate
from urllib.parse import quote

from devtools.funchost._worker_http import RpcHttp, RpcHttpCookie, SameSite

# SameSiteMode as RpcSameSiteEnumConverter maps it; None = Unspecified = the attribute is left out.
_SAME_SITE = {SameSite.STRICT: "strict", SameSite.LAX: "lax", SameSite.EXPLICIT_NONE: "none", SameSite.NONE: None}
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class InvalidResponseHeader(ValueError):
    """Kestrel refuses to write this header value (InvalidOperationException in the host: a 500)."""


def set_cookie_header(cookie: RpcHttpCookie) -> str:
    """One `Set-Cookie` value as the host writes the cookie (CookieOptions -> SetCookieHeaderValue.ToString())."""
    parts = [f"{cookie.name}={quote(cookie.value, safe='')}"]
    if cookie.expires is not None:
        parts.append(f"expires={formatdate(cookie.expires.seconds, usegmt=True)}")
    if cookie.max_age is not None:
        seconds = int(cookie.max_age.value)  # TimeSpan.FromSeconds, then (long)TotalSeconds
        if seconds < 0:
            raise InvalidResponseHeader("max-age must not be negative")  # FormatNonNegativeInt64 throws
        parts.append(f"max-age={seconds}")
    if cookie.domain is not None and cookie.domain.value:
        parts.append(f"domain={cookie.domain.value}")
    path = "/" if cookie.path is None else cookie.path.value  # CookieOptions.Path defaults to "/"
    if path:
        parts.append(f"path={path}")
    if cookie.secure is not None and cookie.secure.value:
        parts.append("secure")
    same_site = _SAME_SITE.get(cookie.same_site)
    if same_site is not None:
        parts.append(f"samesite={same_site}")
    if cookie.http_only is not None and cookie.http_only.value:
        parts.append("httponly")
    return "; ".join(parts)


def _checked(name: str, value: str) -> tuple[str, str]:
    if any(not (char == "\t" or " " <= char <= "~") for char in value):
        raise InvalidResponseHeader(f"invalid non-ASCII or control character in header {name!r}")
    return name, value


def response_headers(message: RpcHttp) -> list[tuple[str, str]]:
    """The response headers RawScriptResult sets for an RpcHttp (without Date or framing headers)."""
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in message.headers.items():
        lowered = name.lower()
        if lowered in _FRAMING_HEADERS:
            continue  # Kestrel frames the body itself
        if lowered in seen:
            continue  # RawScriptResult: an existing header wins, the duplicate is only logged
        seen.add(lowered)
        headers.append(_checked("Content-Type" if lowered == "content-type" else name, value))
    headers += [_checked("Set-Cookie", set_cookie_header(cookie)) for cookie in message.cookies]
    return headers


def with_date(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Kestrel adds Date only when the application set none: one Date header either way."""
    if any(name.lower() == "date" for name, _ in headers):
        return headers
    return [("Date", formatdate(usegmt=True)), *headers]
