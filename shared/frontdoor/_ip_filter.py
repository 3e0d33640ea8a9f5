"""Caller IP filtering, like API Management's `ip-filter` policy, and finding the caller's address. Pure.

Entries are single addresses (`203.0.113.7`, `2001:db8::1`), CIDR ranges (`10.0.0.0/8`) or
APIM-style from-to ranges (`10.0.0.5-10.0.0.20`). An empty allow list admits everyone who isn't
forbidden; a forbid entry always wins over an allow entry. IPv4-mapped IPv6 addresses
(`::ffff:10.0.0.1`, as dual-stack sockets report IPv4 peers) compare as the IPv4 address, in entries
and in callers alike.

The caller's address comes from the forwarding header the platform writes. App Service's front end
appends the address it accepted the connection from as the rightmost `X-Forwarded-For` entry;
anything to the left of the entries written by trusted proxies was sent by the caller and can be
forged, so `client_address` counts `trusted_hops` entries from the right and ignores the rest.
There is no other source: the Functions host doesn't hand the worker the TCP peer, so without a
trusted proxy (0 hops) the caller's address is unknown.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shared.problems import Problem

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ForwardingHeader = Literal["x-forwarded-for", "forwarded"]

_MAPPED_IPV4 = ipaddress.IPv6Network("::ffff:0:0/96")


def _unmapped_address(address: IpAddress) -> IpAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmapped_network(network: IpNetwork) -> IpNetwork:
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 and network.subnet_of(_MAPPED_IPV4):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None  # inside ::ffff:0:0/96
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def parse_entry(entry: str) -> tuple[IpNetwork, ...]:
    """The networks one allow/forbid entry covers. ValueError names the entry when it isn't one."""
    text = entry.strip()
    try:
        if "-" in text:
            first_text, last_text = (part.strip() for part in text.split("-", 1))
            first = _unmapped_address(ipaddress.ip_address(first_text))
            last = _unmapped_address(ipaddress.ip_address(last_text))
            if first.version != last.version:
                raise ValueError("both ends must be IPv4 or both IPv6")
            if first > last:  # type: ignore[operator]  # same version, checked above
                raise ValueError("the range ends before it starts")
            return tuple(ipaddress.summarize_address_range(first, last))  # type: ignore[arg-type]
        # strict=False: "10.1.2.3/24" means 10.1.2.0/24, as in the gateway's other CIDR settings.
        return (_unmapped_network(ipaddress.ip_network(text, strict=False)),)
    except ValueError as error:
        raise ValueError(f"{entry!r} is not an IP address, CIDR range or from-to range ({error})") from None


def _parse_entries(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    return tuple(network for entry in entries if entry.strip() for network in parse_entry(entry))


def _listed(address: IpAddress, networks: tuple[IpNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


@dataclass(frozen=True)
class _Rule:
    allow: tuple[IpNetwork, ...]
    forbid: tuple[IpNetwork, ...]

    def permits(self, address: IpAddress | None) -> bool:
        if address is None:
            # Unknown caller: only a rule without an allow list can let it through.
            return not self.allow
        if _listed(address, self.forbid):
            return False
        return not self.allow or _listed(address, self.allow)


class IpFilter:
    """Allow and forbid lists. `combine` makes a filter that passes only what every part passes."""

    __slots__ = ("_rules",)

    def __init__(self, allow: Sequence[str] = (), forbid: Sequence[str] = ()) -> None:
        rule = _Rule(_parse_entries(allow), _parse_entries(forbid))
        self._rules: tuple[_Rule, ...] = (rule,) if rule.allow or rule.forbid else ()

    @classmethod
    def combine(cls, *filters: IpFilter) -> IpFilter:
        """Deployment filter AND connector filter: a caller must pass each of them."""
        combined = cls()
        combined._rules = tuple(rule for part in filters for rule in part._rules)
        return combined

    @property
    def restricts(self) -> bool:
        """False when the filter lets every caller through (so finding the address can be skipped)."""
        return bool(self._rules)

    def permits(self, address: str | IpAddress | None) -> bool:
        """Whether a caller at `address` (None: unknown) may call. An unparseable address is unknown."""
        parsed = _as_address(address)
        return all(rule.permits(parsed) for rule in self._rules)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IpFilter) and self._rules == other._rules

    def __hash__(self) -> int:
        return hash(self._rules)

    def __repr__(self) -> str:
        parts = [f"allow={[str(n) for n in r.allow]} forbid={[str(n) for n in r.forbid]}" for r in self._rules]
        return f"IpFilter({'; '.join(parts) or 'open'})"


def _as_address(address: str | IpAddress | None) -> IpAddress | None:
    if address is None:
        return None
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
    return _unmapped_address(address)


def check(ip_filter: IpFilter, address: str | None) -> None:
    """Raises 403 `ip-forbidden` unless the filter permits the caller. The lists are never echoed."""
    if ip_filter.permits(address):
        return
    parsed = _as_address(address)
    if parsed is None:
        detail = "The gateway couldn't determine your IP address, and only listed addresses may call it."
    else:
        detail = f"Calls from your IP address {parsed} aren't allowed. Ask the gateway's administrator."
    raise Problem(403, "ip-forbidden", "Forbidden", detail)


# --- the caller's address, from the header the trusted proxies write ---


def _strip_port(node: str) -> str:
    """'1.2.3.4:5678' -> '1.2.3.4'; '[::1]:80' / '[::1]' -> '::1'; a bare IPv6 address stays."""
    node = node.strip()
    if node.startswith("["):
        end = node.find("]")
        return node[1:end] if end > 0 else node
    if node.count(":") == 1:
        return node.split(":", 1)[0]
    return node


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    return [value for key, value in headers.items() if key.lower() == name]


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """Splits on `separator` except inside RFC 9110 quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _forwarded_for(element: str) -> str:
    """The `for=` node of one RFC 7239 `Forwarded` element, unquoted; '' when it has none."""
    for pair in _split_outside_quotes(element, ";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            return value
    return ""


def _forwarding_chain(headers: Mapping[str, str], header: ForwardingHeader) -> list[str]:
    """The nodes the proxies recorded, leftmost (furthest from us) first; empty entries dropped."""
    values = _header_values(headers, header)
    if header == "forwarded":
        elements = [element for value in values for element in _split_outside_quotes(value, ",")]
        return [_forwarded_for(element) for element in elements if element.strip()]
    return [entry.strip() for value in values for entry in value.split(",") if entry.strip()]


def client_address(
    headers: Mapping[str, str],
    trusted_hops: int,
    header: ForwardingHeader = "x-forwarded-for",
) -> str | None:
    """The caller's IP address, or None when it can't be known.

    `trusted_hops` is the number of proxies in front of the gateway that each append one entry
    (App Service: 1, its front end). The caller is the entry `trusted_hops` from the right; entries
    further left were written by the caller or untrusted proxies and are ignored. With 0 hops no
    proxy vouches for any entry, so the caller is unknown (None). Fewer entries than hops, or an
    entry that isn't an IP address (RFC 7239 `unknown` and obfuscated nodes), gives None too.

    `header="forwarded"` reads RFC 7239 `Forwarded: for=...` instead. Read only the header the
    trusted proxies write: the other one passes through them untouched, so the caller controls it.
    """
    if trusted_hops < 0:
        raise ValueError("trusted_hops must be 0 or more")
    if trusted_hops == 0:
        return None
    chain = _forwarding_chain(headers, header)
    if len(chain) < trusted_hops:
        return None
    candidate = chain[-trusted_hops]
    if not candidate:
        return None
    address = _as_address(_strip_port(candidate))
    return None if address is None else str(address)
