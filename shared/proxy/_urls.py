"""Backend URL guard: join a caller's raw path and query onto a connector's base URL without leaving it.

Pure functions. The caller's path is forwarded as received (percent-encoding intact); it is only
*decoded for inspection*, repeatedly, so that no encoding layer can smuggle in a dot segment, an
empty segment (`//`), a backslash or a control character that some backend or intermediary would
later decode and act on.

Decisions worth knowing:
- Segments made only of dots (`.`, `..`, `...`, also `..;x` Tomcat-style and full-width dots after
  NFKC) are refused, not normalised: the backend would see a different path than the one checked.
- `//` anywhere is refused (an empty segment is never a legitimate API path and `//host` is the
  classic host switch).
- `@` is refused only in the first segment, where a naive joiner reads it as userinfo; later
  segments keep it (e-mail addresses in Graph-style paths such as `/users/a@b.com`).
- A path that does not start with `/` is refused if its first segment looks like `scheme:`;
  `http:`/`https:` are refused anywhere. `:` elsewhere is fine (`/v1/images:annotate`).
- Raw `#` and `?` are refused (the query arrives separately); `%23`/`%3F` are data and pass.
- Malformed percent-escapes (`%zz`, lone `%`) are refused. Characters that can't appear raw in a
  URL (space, non-ASCII, `"<>^{|}` ...) are percent-encoded as UTF-8; everything else is kept.
- Query parameters named in `drop_query` or `add_query` are removed case-insensitively, so no
  case variant of the subscription key reaches the backend and a caller can't shadow a credential.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from urllib.parse import SplitResult, quote, unquote, unquote_plus, urlsplit

from urllib3.util import parse_url

from shared.problems import Problem

_MAX_DECODE_ROUNDS = 4
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_HTTP_SCHEME_ANYWHERE = re.compile(r"(?:^|[^A-Za-z0-9+.-])https?:", re.IGNORECASE)
# RFC 3986 pchar minus unreserved (never quoted anyway), plus "/" and "%" so existing escapes stay.
_PATH_SAFE = "/%!$&'()*+,;=:@"
_QUERY_SAFE = _PATH_SAFE + "?"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _rejected(detail: str) -> Problem:
    return Problem(400, "path-rejected", "Path rejected", detail)


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def _decoded_forms(raw_path: str) -> list[str]:
    """The path after each round of percent-decoding until it stops changing, plus its NFKC form."""
    forms = [raw_path]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    else:
        if unquote(forms[-1]) != forms[-1]:
            raise _rejected(f"The path is percent-encoded more than {_MAX_DECODE_ROUNDS} times.")
    normalised = unicodedata.normalize("NFKC", forms[-1])
    if normalised != forms[-1]:
        forms.append(normalised)
    return forms


def _is_dot_segment(segment: str) -> bool:
    name = segment.split(";", 1)[0].strip()
    return bool(name) and set(name) == {"."}


def _check_form(form: str, starts_with_slash: bool) -> None:
    """Refuse anything in one (raw or decoded) form of the path that could move the request."""
    if _has_control_character(form):
        raise _rejected("The path contains a control character.")
    if _HTTP_SCHEME_ANYWHERE.search(form):
        raise _rejected("The path contains an absolute URL.")
    if "\\" in form:
        raise _rejected("The path contains a backslash.")
    if "//" in form:
        raise _rejected("The path contains an empty segment ('//').")
    segments = form.split("/")
    if any(_is_dot_segment(segment) for segment in segments):
        raise _rejected("The path contains a dot segment ('.' or '..').")
    first_segment = segments[1] if starts_with_slash else segments[0]
    if "@" in first_segment:
        raise _rejected("The path's first segment contains '@'.")
    if not starts_with_slash and _SCHEME_PREFIX.match(form):
        raise _rejected("The path starts with a URL scheme.")


def guard_path(raw_path: str) -> str:
    """Validate the caller's raw path and return it ready to append (leading "/", illegal bytes encoded)."""
    if "#" in raw_path:
        raise _rejected("The path contains a fragment ('#').")
    if "?" in raw_path:
        raise _rejected("The path contains '?'; the query is passed separately.")
    if _MALFORMED_ESCAPE.search(raw_path):
        raise _rejected("The path contains a malformed percent-escape.")
    starts_with_slash = raw_path.startswith("/")
    for form in _decoded_forms(raw_path):
        _check_form(form, starts_with_slash)
    if not raw_path:
        return ""
    encoded = quote(raw_path, safe=_PATH_SAFE)
    return encoded if starts_with_slash else "/" + encoded


def filter_query(
    raw_query: str,
    drop_query: Collection[str] = (),
    add_query: Mapping[str, str] | None = None,
) -> str:
    """Keep the caller's parameters byte-for-byte except dropped/overridden names; append `add_query`."""
    if _has_control_character(raw_query) or "#" in raw_query:
        raise _rejected("The query contains a control character or '#'.")
    add_query = add_query or {}
    removed = {name.lower() for name in (*drop_query, *add_query)}
    kept = [
        quote(part, safe=_QUERY_SAFE)
        for part in raw_query.removeprefix("?").split("&")
        if part and unquote_plus(part.split("=", 1)[0]).lower() not in removed
    ]
    added = [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in add_query.items()]
    return "&".join(kept + added)


def _effective_port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def _split_base(base_url: str) -> tuple[SplitResult, str]:
    base = urlsplit(base_url)
    try:
        usable = base.scheme in _DEFAULT_PORTS and bool(base.hostname) and base.port != 0
    except ValueError:  # port out of range
        usable = False
    if not usable:
        raise ValueError("backend base URL must be an absolute http(s) URL")
    if base.username is not None or base.query or base.fragment:
        raise ValueError("backend base URL must not carry userinfo, a query or a fragment")
    return base, base.path.rstrip("/")


def _assert_inside(url: str, base: SplitResult, base_path: str) -> None:
    """Defence in depth: re-parse the result with both parsers in play and compare with the base."""
    try:
        joined = urlsplit(url)
        by_urllib3 = parse_url(url)
        ports = {
            _effective_port(joined.scheme, joined.port),
            _effective_port(by_urllib3.scheme or "", by_urllib3.port),
        }
    except ValueError:
        raise _rejected("The path would leave the connector's backend.") from None
    same_origin = (
        {joined.scheme, by_urllib3.scheme} == {base.scheme}
        and {joined.hostname, (by_urllib3.host or "").lower().strip("[]")} == {base.hostname}
        and ports == {_effective_port(base.scheme, base.port)}
        and joined.username is None
        and by_urllib3.auth is None
        and not joined.fragment
    )
    inside = joined.path == base_path or joined.path.startswith(base_path + "/")
    if not (same_origin and inside):
        raise _rejected("The path would leave the connector's backend.")


def backend_url(
    base_url: str,
    raw_path: str,
    raw_query: str,
    drop_query: Collection[str] = (),
    add_query: Mapping[str, str] | None = None,
) -> str:
    """The backend URL for a caller's raw path and query; raises Problem(400, "path-rejected")."""
    base, base_path = _split_base(base_url)
    path = base_path + guard_path(raw_path)
    origin = f"{base.scheme}://{base.netloc}"
    query = filter_query(raw_query, drop_query, add_query)
    url = origin + (path or "/") + (f"?{query}" if query else "")
    _assert_inside(url, base, base_path)
    return url
