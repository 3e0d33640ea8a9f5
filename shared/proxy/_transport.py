"""Pooled HTTP session to backends that refuses the addresses its AddressPolicy refuses (_addresses.py).

The check runs on the *connected peer address*, right after the TCP connect and before a single
byte (TLS ClientHello included) is sent, so a hostname that resolves (or re-resolves: DNS
rebinding) to a metadata or loopback address, and every spelling of one (`127.1`, `0x7f.1`,
`0177.0.0.1`, `[::ffff:127.0.0.1]`), is judged by the address actually connected to.

The session is deliberately bare: no default headers (no python-requests User-Agent, no Accept),
no environment proxies or .netrc (`trust_env` off; a proxy would make the peer check useless),
no cookie jar shared between callers, and redirects are never followed.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.cookiejar import DefaultCookiePolicy
from typing import Any, ClassVar

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util import SKIP_HEADER

from shared.proxy._addresses import AddressPolicy

_POOL_HOSTS = 100  # distinct backend hosts whose pools are kept (LRU)


def quiet_transport_logging() -> None:
    """Keep urllib3 from logging request URLs: its DEBUG lines and its header-parsing warning carry the query."""
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("urllib3.connection").setLevel(logging.ERROR)


class CallDeadline:
    """A total time limit for one backend call: connect, send, wait, read the last byte.

    Socket timeouts limit each read, so a backend dripping a byte at a time would never hit them. The
    process's one watchdog thread (_Watchdog) instead shuts down the call's sockets when the time is up,
    which wakes any blocked read (no polling); the caller then sees `expired` and answers 504 whatever
    the transport raised.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.due = time.monotonic() + seconds
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._finished = False

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self._finished:
                return
            self._sockets.append(sock)
            if self.expired.is_set():
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:  # the call ended first: its sockets may serve another call by now
                return
            self.expired.set()
            for sock in self._sockets:
                _shut(sock)

    def _finish(self) -> None:
        with self._lock:
            self._finished = True
            self._sockets.clear()  # the watchdog may hold this deadline until it is due; the sockets go now


class _Watchdog:
    """One daemon thread per process expiring CallDeadlines when due, in place of a timer thread per call
    (starting one cost about 0.2 ms CPU per call). A finished call's entry stays queued until it is due,
    inert."""

    def __init__(self) -> None:
        # Weak: a finished call's deadline is freed with its call, not held until it would have been due.
        self._due: list[tuple[float, int, weakref.ref[CallDeadline]]] = []
        self._sequence = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def watch(self, deadline: CallDeadline) -> None:
        with self._wake:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._run, name="call-deadline-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (deadline.due, next(self._sequence), weakref.ref(deadline)))
            if self._due[0][2]() is deadline:  # due before whatever the thread is waiting for
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, reference = heapq.heappop(self._due)
            deadline = reference()
            if deadline is not None:
                deadline._expire()


_watchdog = _Watchdog()


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()  # the CallDeadline of the call this thread is making, if any


@contextmanager
def call_deadline(seconds: float | None) -> Iterator[CallDeadline | None]:
    """Run one backend call on this thread under a CallDeadline (None: no total limit)."""
    if seconds is None:
        yield None
        return
    deadline = CallDeadline(seconds)
    _current.deadline = deadline
    _watchdog.watch(deadline)
    try:
        yield deadline
    finally:
        deadline._finish()
        _current.deadline = None


def _attach_to_deadline(sock: socket.socket | None) -> None:
    deadline: CallDeadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.attach(sock)


class BlockedAddressError(NewConnectionError):
    """The backend's connected address is one the policy refuses. Carries the address and why, never the URL."""

    def __init__(self, conn: HTTPConnection, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(conn, f"connection to {reason} ({address}) refused")


def refused_address(error: BaseException) -> BlockedAddressError | None:
    """The BlockedAddressError behind a requests/urllib3 error (requests wraps urllib3's MaxRetryError)."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, BlockedAddressError):
            return current
        seen.add(id(current))
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])
    return None


class _PeerCheckedConnection(HTTPConnection):
    """Mixin: checks the peer address of each new socket before anything is sent on it."""

    address_policy: ClassVar[AddressPolicy] = AddressPolicy()

    def _refuse_resolved(self) -> None:
        """Refuse before connecting when the host resolves to a refused address (an unreachable metadata
        address would otherwise just time out). The peer check after connecting still decides: DNS may
        answer differently the second time."""
        try:
            resolved = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return  # super()._new_conn() resolves again and reports the failure as urllib3 does
        for *_, sockaddr in resolved:
            address = str(sockaddr[0])
            refusal = self.address_policy.refusal(address)
            if refusal is not None:
                raise BlockedAddressError(self, address, refusal)

    def _new_conn(self) -> socket.socket:
        self._refuse_resolved()
        sock = super()._new_conn()
        try:
            peer = str(sock.getpeername()[0])
            refusal = self.address_policy.refusal(peer)
        except (OSError, ValueError) as error:
            sock.close()
            raise NewConnectionError(self, "could not determine the peer address") from error
        if refusal is not None:
            sock.close()
            raise BlockedAddressError(self, peer, refusal)
        _attach_to_deadline(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach_to_deadline(self.sock)  # a pooled connection, reused: its socket serves this call now
        super().request(*args, **kwargs)


def _guarded_pool_classes(address_policy: AddressPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes whose connections carry this session's address policy (PoolKey can't carry it)."""
    policy = {"address_policy": address_policy}
    http_connection = type("GuardedHTTPConnection", (_PeerCheckedConnection, HTTPConnection), policy)
    https_connection = type("GuardedHTTPSConnection", (_PeerCheckedConnection, HTTPSConnection), policy)
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}),
    }


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, address_policy: AddressPolicy, pool_maxsize: int) -> None:
        self._pool_classes = _guarded_pool_classes(address_policy)
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

    def __init__(self, address_policy: AddressPolicy | None = None, pool_maxsize: int = 50) -> None:
        super().__init__()
        self.address_policy = address_policy or AddressPolicy()
        quiet_transport_logging()
        self.headers.clear()
        self.trust_env = False
        # One session serves every caller: a backend's Set-Cookie must never ride along on someone else's call.
        self.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = _GuardedAdapter(self.address_policy, pool_maxsize)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Never follow redirects: 3xx goes back to the caller as is (and its body isn't consumed here)."""
        return iter(())
