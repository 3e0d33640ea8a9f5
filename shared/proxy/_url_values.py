"""Values in URL templates, checked for the position they fill. Pure.

A template such as `https://{Subdomain}.example.com/{Tenant}/token?resource={Resource}` says where
each `{Placeholder}` goes; the value must fit that position and nothing more:

    LABEL          one whole DNS label of the host          `{Subdomain}.example.com`
    LABEL_PART     part of a DNS label                      `{Org}-api.example.com`
    HOST           the whole host, optionally with a port   `https://{Host}/token`
    HOST_NO_PORT   the whole host, the port is the template's  `https://{Host}:8443/token`
    PORT           the port                                 `https://idp.example.com:{Port}/`
    ORIGIN         the start of the URL: scheme, host, maybe a path  `{LoginUri}/{TenantId}/oauth2/token`
    PATH_SEGMENT   one whole path segment                   `/tenants/{Tenant}/token`
    PATH_PART      part of a path segment                   `/v{Version}/token`
    QUERY          in the query or fragment: percent-encoded, so it stays one value

So a value can never bring `/`, `?`, `#`, `@`, `:` or `\\` into a host and move the request elsewhere.
HOST, HOST_NO_PORT, PORT and ORIGIN *decide* the host (`HOST_DECIDING`): a caller of `render` learns
which values did, to decide whether whoever supplied them may choose where a request goes. The result
is still only a URL: the address guard (_addresses.py) judges where it actually connects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from enum import Enum
from urllib.parse import quote, urlsplit

PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_LABEL_PART = re.compile(r"[A-Za-z0-9-]{1,63}")
_HOST_PART = re.compile(r"[A-Za-z0-9.-]{1,253}")  # a trusted value may span labels: "zoho{Region}" + ".com.au"
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
_PATH = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*/?")
_PORT = re.compile(r"[0-9]{1,5}")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")
_SENTINEL = "zq{}qz"  # letters and digits: valid in every position, so the template's own shape shows


class Position(Enum):
    LABEL = "one DNS label"
    LABEL_PART = "part of a DNS label (letters, digits, '-')"
    HOST = "a host name or IP address, with an optional port"
    HOST_NO_PORT = "a host name or IP address"
    PORT = "a port number"
    ORIGIN = "an absolute http(s) URL without user info, query or fragment"
    PATH_SEGMENT = "one path segment"
    PATH_PART = "part of a path segment"
    QUERY = "a query value"


HOST_DECIDING = frozenset({Position.HOST, Position.HOST_NO_PORT, Position.PORT, Position.ORIGIN})
_IN_HOST = frozenset({Position.LABEL, Position.LABEL_PART, Position.HOST, Position.HOST_NO_PORT, Position.PORT})


class UnsafeValue(ValueError):
    """A value doesn't fit its position. Carries the placeholder name and the position, never the value."""

    def __init__(self, name: str, position: Position) -> None:
        super().__init__(f"the value for {{{name}}} must be {position.value}")
        self.name = name
        self.position = position


class MissingPlaceholder(KeyError):
    """A template names a placeholder that has no value. Carries the name only."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    labels = host.split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _valid_port(port: str) -> bool:
    return bool(_PORT.fullmatch(port)) and 0 < int(port) < 65536


def _valid_origin(value: str) -> bool:
    if any(char in value for char in "\\ \t\r\n#?@") or value != value.strip():
        return False
    parts = urlsplit(value)
    host_port = _HOST_PORT.fullmatch(parts.netloc)
    return (
        parts.scheme in ("http", "https")
        and host_port is not None
        and _valid_host(host_port["host"])
        and (host_port["port"] is None or _valid_port(host_port["port"]))
        and bool(_PATH.fullmatch(parts.path))
        and "//" not in parts.path
        and not any(segment and set(segment) == {"."} for segment in parts.path.split("/"))
    )


def check_value(value: str, position: Position, name: str = "value", *, trusted: bool = False) -> str:
    """`value` as it goes into `position` (QUERY: percent-encoded); UnsafeValue if it doesn't fit there.

    `trusted` (a value the template's author chose or listed) may span DNS labels where a label goes
    (Zoho's `accounts.zoho{Region}` with `.com.au`); it still can't bring in anything but host characters."""
    if position is Position.QUERY:
        return quote(value, safe="")
    if position in (Position.LABEL, Position.LABEL_PART) and trusted:
        valid = bool(_HOST_PART.fullmatch(value))
    elif position is Position.LABEL:
        valid = bool(_LABEL.fullmatch(value))
    elif position is Position.LABEL_PART:
        valid = bool(_LABEL_PART.fullmatch(value))
    elif position in (Position.HOST, Position.HOST_NO_PORT):
        host_port = _HOST_PORT.fullmatch(value)
        valid = (
            host_port is not None
            and _valid_host(host_port["host"])
            and (host_port["port"] is None or (position is Position.HOST and _valid_port(host_port["port"])))
        )
    elif position is Position.PORT:
        valid = _valid_port(value)
    elif position is Position.ORIGIN:
        valid = _valid_origin(value)
    else:  # a path segment or part of one
        valid = bool(_SEGMENT.fullmatch(value)) and set(value) != {"."}
    if not valid:
        raise UnsafeValue(name, position)
    return value


def _host_position(host_port: str, sentinel: str) -> Position:
    host, _, port = host_port.rpartition(":") if not host_port.endswith("]") else (host_port, "", "")
    if not host:  # no port in the template
        host, port = host_port, ""
    if host_port == sentinel:
        return Position.HOST
    if host == sentinel:
        return Position.HOST_NO_PORT
    if sentinel in port:
        return Position.PORT
    labels = host.split(".")
    if sentinel in labels:
        return Position.LABEL
    if any(sentinel in label for label in labels) and _LABEL_PART.fullmatch(host.replace(".", "")):
        return Position.LABEL_PART
    return Position.HOST  # anything stranger (inside an IP literal, user info): the strictest host check


def _position(marked: str, sentinel: str) -> Position:
    """Where `sentinel` sits in `marked`, a template whose placeholders are all sentinels."""
    if marked.startswith(sentinel):
        return Position.ORIGIN
    parts = urlsplit(marked)
    if sentinel in parts.netloc:
        return _host_position(parts.netloc.rpartition("@")[2], sentinel)
    if sentinel in parts.path:
        segments = parts.path.split("/")
        return Position.PATH_SEGMENT if sentinel in segments else Position.PATH_PART
    if sentinel in parts.query or sentinel in parts.fragment:
        return Position.QUERY
    return Position.ORIGIN  # in the scheme, or a template that isn't a URL: the value must be a URL itself


def positions(template: str) -> list[tuple[str, Position]]:
    """Each placeholder occurrence (name as written) and the position it fills."""
    names = PLACEHOLDER.findall(template)
    marked = template
    for index in range(len(names)):
        marked = PLACEHOLDER.sub(_SENTINEL.format(index), marked, count=1)
    return [(name, _position(marked, _SENTINEL.format(index))) for index, name in enumerate(names)]


def render(template: str, values: Mapping[str, str], trusted: Collection[str] = ()) -> tuple[str, frozenset[str]]:
    """The template with each value checked for its position, and the (lower-cased) names of the values
    that decided the host. `values` and `trusted` (see check_value) are keyed by lower-cased name."""
    found = positions(template)
    checked = []
    for name, position in found:
        value = values.get(name.lower())
        if value is None:
            raise MissingPlaceholder(name)
        checked.append(check_value(value, position, name, trusted=name.lower() in trusted))
    pieces = iter(checked)
    url = PLACEHOLDER.sub(lambda _: next(pieces), template)
    in_host = [name for name, position in found if position in _IN_HOST]
    if in_host and not template.startswith("{"):
        netloc = urlsplit(url).netloc.rpartition("@")[2]
        host_port = _HOST_PORT.fullmatch(netloc)
        if host_port is None or not _valid_host(host_port["host"]):  # "zoho." + ".eu": an empty label
            raise UnsafeValue(in_host[0], Position.HOST)
    return url, frozenset(name.lower() for name, position in found if position in HOST_DECIDING)


def host_deciding(template: str, names: Collection[str]) -> list[str]:
    """The placeholders among `names` (lower-cased) that decide the template's host."""
    wanted = {name.lower() for name in names}
    return [name for name, position in positions(template) if position in HOST_DECIDING and name.lower() in wanted]
