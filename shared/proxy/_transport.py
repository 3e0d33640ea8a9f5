"""Pooled HTTP session to backends that refuses link-local and cloud-metadata addresses.

The check runs on the *connected peer address*, right after the TCP connect and before a single
byte (TLS ClientHello included) is sent, so a hostname that resolves (or re-resolves: DNS
rebinding) to a metadata address can't get through. Loopback and private ranges stay allowed:
on-premises backends and tests live there.

The session is deliberately bare: no default headers (no python-requests User-Agent, no Accept),
no environment proxies or .netrc (`trust_env` off; a proxy would make the peer check useless),
no cookie jar shared between callers, and redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Collection, Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any, ClassVar

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util import SKIP_HEADER

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
        "169.254.0.0/16",  # link-local: AWS/GCP/Azure IMDS at 169.254.169.254
        "168.63.129.16/32",  # Azure WireServer
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
        "::/128",  # unspecified; like 0.0.0.0
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
        "fd20:ce::254/128",  # GCP metadata over IPv6
    )
)
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_POOL_HOSTS = 100  # distinct backend hosts whose pools are kept (LRU)


def quiet_transport_logging() -> None:
    """Keep urllib3 from logging request URLs: its DEBUG lines and its header-parsing warning carry the query."""
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("urllib3.connection").setLevel(logging.ERROR)


def _embedded_ipv4(address: IPAddress) -> list[IPAddress]:
    """IPv4 addresses an IPv6 address reaches through: IPv4-mapped, 6to4 and NAT64 well-known prefix."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour]
    if address in _NAT64_WELL_KNOWN:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in embedded if ip is not None]


def check_address(
    ip: str | IPAddress,
    allowed_networks: Collection[IPNetwork] = (),
    blocked_networks: Collection[IPNetwork] = BLOCKED_NETWORKS,
) -> bool:
    """True if the gateway may connect to `ip`: not in a blocked network, or inside an allowed one."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    forms = [ip, *_embedded_ipv4(ip)]
    if not any(form in network for form in forms for network in blocked_networks):
        return True
    return any(form in network for form in forms for network in allowed_networks)


class BlockedAddressError(NewConnectionError):
    """The backend's connected address is link-local/metadata. Carries the address, never the URL."""

    def __init__(self, conn: HTTPConnection, address: str) -> None:
        self.address = address
        super().__init__(conn, f"connection to blocked address {address} refused")


class _PeerCheckedConnection(HTTPConnection):
    """Mixin: checks the peer address of each new socket before anything is sent on it."""

    allowed_networks: ClassVar[Collection[IPNetwork]] = ()
    blocked_networks: ClassVar[Collection[IPNetwork]] = BLOCKED_NETWORKS

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            peer = str(sock.getpeername()[0])
            allowed = check_address(peer, self.allowed_networks, self.blocked_networks)
        except (OSError, ValueError) as error:
            sock.close()
            raise NewConnectionError(self, "could not determine the peer address") from error
        if not allowed:
            sock.close()
            raise BlockedAddressError(self, peer)
        return sock


def _guarded_pool_classes(
    allowed_networks: Collection[IPNetwork], blocked_networks: Collection[IPNetwork]
) -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes whose connections carry this session's address policy (PoolKey can't carry it)."""
    policy = {"allowed_networks": tuple(allowed_networks), "blocked_networks": tuple(blocked_networks)}
    http_connection = type("GuardedHTTPConnection", (_PeerCheckedConnection, HTTPConnection), policy)
    https_connection = type("GuardedHTTPSConnection", (_PeerCheckedConnection, HTTPSConnection), policy)
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}),
    }


class _GuardedAdapter(HTTPAdapter):
    def __init__(
        self,
        allowed_networks: Collection[IPNetwork],
        blocked_networks: Collection[IPNetwork],
        pool_maxsize: int,
    ) -> None:
        self._pool_classes = _guarded_pool_classes(allowed_networks, blocked_networks)
        # No retries: a request body must not be sent twice, and a timeout must not double.
        super().__init__(pool_connections=_POOL_HOSTS, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        # Replace, don't mutate: urllib3's default dict is module-global.
        self.poolmanager.pool_classes_by_scheme = dict(self._pool_classes)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy would be the peer the address check sees, not the backend.
        raise requests.exceptions.InvalidProxyURL("backend sessions never use a proxy")

    def add_headers(self, request: PreparedRequest, **kwargs: Any) -> None:
        # urllib3 adds its own User-Agent unless told to skip it; the caller's one (if any) is what goes out.
        request.headers.setdefault("User-Agent", SKIP_HEADER)


class BackendSession(requests.Session):
    """Pooled session for calls to connector backends. Thread-safe for concurrent `send`s."""

    def __init__(
        self,
        allowed_networks: Collection[IPNetwork] = (),
        pool_maxsize: int = 50,
        *,
        blocked_networks: Collection[IPNetwork] = BLOCKED_NETWORKS,
    ) -> None:
        super().__init__()
        quiet_transport_logging()
        self.headers.clear()
        self.trust_env = False
        # One session serves every caller: a backend's Set-Cookie must never ride along on someone else's call.
        self.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = _GuardedAdapter(allowed_networks, blocked_networks, pool_maxsize)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Never follow redirects: 3xx goes back to the caller as is (and its body isn't consumed here)."""
        return iter(())
