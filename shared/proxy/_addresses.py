"""Which addresses the gateway may connect to on a connection's behalf. Pure.

Every address is judged in all the forms it reaches: itself and any IPv4 address an IPv6 form
carries (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, 6to4 `2002::/16`, NAT64
`64:ff9b::/96`, Teredo). The most restrictive class any form falls in decides:

- metadata and link-local: refused always (cloud instance metadata, Azure WireServer, IMDS over IPv6);
- loopback (127.0.0.0/8, ::1, 0.0.0.0/8, ::): refused unless the policy allows loopback (local dev and tests);
- private (RFC 1918, shared address space, unique local IPv6): allowed, or only inside the operator's
  networks when the policy lists them (VNet backends are real, but an operator may narrow them);
- everything else: allowed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


METADATA_NETWORKS = _networks(
    "169.254.0.0/16",  # link-local: AWS/GCP/Azure IMDS at 169.254.169.254
    "168.63.129.16/32",  # Azure WireServer
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "192.0.0.192/32",  # Oracle Cloud metadata
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS IMDS over IPv6
    "fd20:ce::254/128",  # GCP metadata over IPv6
    "224.0.0.0/4",  # multicast: never a backend
    "240.0.0.0/4",  # reserved, and the broadcast address
    "ff00::/8",  # IPv6 multicast
)
LOOPBACK_NETWORKS = _networks(
    "127.0.0.0/8",
    "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
    "::1/128",
    "::/128",  # unspecified; like 0.0.0.0
)
PRIVATE_NETWORKS = _networks(
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "198.18.0.0/15",  # benchmarking, used inside some networks
    "fc00::/7",  # unique local IPv6
)
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressClass(Enum):
    METADATA = "a link-local or cloud-metadata address"
    LOOPBACK = "a loopback address"
    PRIVATE = "a private address"
    PUBLIC = "a public address"


def parse_address(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, str):
        return ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    return ip


def address_forms(ip: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address it reaches through: mapped, compatible, 6to4, NAT64, Teredo."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_COMPATIBLE:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [ip, *(form for form in embedded if form is not None)]


def classify(ip: str | IPAddress) -> AddressClass:
    """The most restrictive class any form of the address falls in."""
    forms = address_forms(parse_address(ip))
    for kind, networks in (
        (AddressClass.METADATA, METADATA_NETWORKS),
        (AddressClass.LOOPBACK, LOOPBACK_NETWORKS),
        (AddressClass.PRIVATE, PRIVATE_NETWORKS),
    ):
        if any(form in network for form in forms for network in networks):
            return kind
    return AddressClass.PUBLIC


@dataclass(frozen=True)
class AddressPolicy:
    """PROXY_ALLOW_LOOPBACK and PROXY_ALLOWED_NETWORKS. `private_networks` None: every private range."""

    allow_loopback: bool = False
    private_networks: tuple[IPNetwork, ...] | None = None

    def refusal(self, ip: str | IPAddress) -> str | None:
        """Why the gateway won't connect to `ip` ("a loopback address", ...), or None when it may."""
        address = parse_address(ip)
        kind = classify(address)
        if kind is AddressClass.METADATA or (kind is AddressClass.LOOPBACK and not self.allow_loopback):
            return kind.value
        if kind is AddressClass.PRIVATE and self.private_networks is not None:
            forms = address_forms(address)
            if not any(form in network for form in forms for network in self.private_networks):
                return "a private address outside PROXY_ALLOWED_NETWORKS"
        return None

    def allows(self, ip: str | IPAddress) -> bool:
        return self.refusal(ip) is None


def check_private_networks(networks: tuple[IPNetwork, ...]) -> None:
    """ValueError when an entry of PROXY_ALLOWED_NETWORKS reaches what it can't open: metadata or loopback."""
    for network in networks:
        for closed in (*METADATA_NETWORKS, *LOOPBACK_NETWORKS):
            if network.version == closed.version and network.overlaps(closed):  # type: ignore[arg-type]
                raise ValueError(
                    f"{network} overlaps {closed}: link-local, metadata and loopback addresses can't be allowed here"
                    " (loopback is PROXY_ALLOW_LOOPBACK, for local development only)"
                )
