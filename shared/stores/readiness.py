"""Can this instance reach its stores? One cheap call each to Table Storage and Key Vault, in parallel,
with a short timeout and no retries: a readiness probe must answer quickly, and a slow store is a
store that isn't ready.

A check passes when the store answers as the gateway's identity: a lookup of something that doesn't
exist (404) proves the network path, the credential and the permission, and costs nothing.

The probe is anonymous, so its answer is reused for CACHE_SECONDS and concurrent callers share one
round of checks: however often anyone calls it, an instance asks each store at most once per
CACHE_SECONDS, and a flood of probes can't push Key Vault into throttling the gateway's real calls.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableClient
from azure.keyvault.secrets import SecretClient

from shared.settings import Settings
from shared.stores.clients import StorePolicy, secret_client, table_service

TIMEOUT_SECONDS = 3.0
CACHE_SECONDS = 5.0
_PROBE_NAME = "gateway-readiness-probe"  # looked up, never written
_POLICY = StorePolicy(retries=0, attempt_timeout=TIMEOUT_SECONDS, deadline=TIMEOUT_SECONDS)


@dataclass(frozen=True)
class Check:
    name: str
    ready: bool
    duration_ms: int
    reason: str = ""  # why not: an error type or status, never an SDK message (it may quote a request)

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "up" if self.ready else "down", "durationMs": self.duration_ms}
        if self.reason:
            body["reason"] = self.reason
        return body


def _answered(error: AzureError) -> bool:
    return isinstance(error, ResourceNotFoundError) or (
        isinstance(error, HttpResponseError) and error.status_code == 404
    )


def _reason(error: AzureError) -> str:
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__} (status {status})" if status else type(error).__name__


class ReadinessProbe:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        service = table_service(settings, _POLICY)
        self._table: TableClient = service.get_table_client(f"{settings.tables_prefix}connectors")
        self._vault: SecretClient = secret_client(settings, _POLICY)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readiness")
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, list[Check]] | None = None
        self._probes: tuple[tuple[str, Callable[[], object]], ...] = (
            ("tables", self._tables),
            ("keyVault", self._key_vault),
        )

    def _tables(self) -> object:
        return next(iter(self._table.query_entities(f"PartitionKey eq '{_PROBE_NAME}'", results_per_page=1)), None)

    def _key_vault(self) -> object:
        return self._vault.get_secret(_PROBE_NAME)

    @staticmethod
    def _timed(name: str, probe: Callable[[], object]) -> Check:
        started = time.perf_counter()
        try:
            probe()
            ready, reason = True, ""
        except AzureError as error:
            ready, reason = _answered(error), "" if _answered(error) else _reason(error)
        return Check(name, ready, round((time.perf_counter() - started) * 1000), reason)

    def check(self) -> list[Check]:
        """Each store's state, at most CACHE_SECONDS old."""
        with self._lock:  # callers meanwhile wait for this round instead of starting their own
            if self._last is not None and self._clock() - self._last[0] < CACHE_SECONDS:
                return self._last[1]
            checks = self._run()
            self._last = (self._clock(), checks)
            return checks

    def _run(self) -> list[Check]:
        # Each check runs in a copy of this context, so its spans and log lines keep the correlation id.
        futures = {
            name: self._pool.submit(contextvars.copy_context().run, self._timed, name, probe)
            for name, probe in self._probes
        }
        checks = []
        for name, future in futures.items():
            try:
                checks.append(future.result(timeout=TIMEOUT_SECONDS + 1))
            except FutureTimeout:
                checks.append(Check(name, False, round((TIMEOUT_SECONDS + 1) * 1000), "timeout"))
        return checks


_probe: ReadinessProbe | None = None
_lock = threading.Lock()


def readiness_probe() -> ReadinessProbe:
    """The process's probe, built on first use (settings are read then, as for the gateway)."""
    global _probe
    if _probe is None:
        with _lock:
            if _probe is None:
                _probe = ReadinessProbe(Settings.from_env())
    return _probe
