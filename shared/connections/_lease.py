"""The token lease on a connection's record: the one writer of its tokens at a time, across all instances.

Whoever writes a connection's tokens (a refresh, a sign-in callback, a reauthorization) first takes
the lease: an ETag-conditional merge that sets `refreshLeaseUntil` and a fresh `refreshLeaseId`.
While the holder works (a token call can take as long as the OAuth client's timeouts allow), a
background thread renews the lease, each renewal conditional on the lease still being this holder's.
The holder's final write is conditional too: it goes through only while the record's
`refreshLeaseId` is still its own and nobody changed the connection's status or connector snapshot
meanwhile (a forced connector replace that disconnected it, a deletion). A holder that stalled past
its lease and lost it to someone else therefore can't overwrite the newer, rotated token the new
holder wrote, nor mark a disconnected connection Connected again; it gets LeaseLost.

Writers put their lease id into the Key Vault secret they write (`lease`). A secret version the
record doesn't name yet is trusted only when it was written under the record's latest lease (a
holder that crashed after writing Key Vault); a late loser's orphan version never is.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared import problems
from shared.connections._records import ConnectionRecords, RecordChanged, etag_of, snapshot_of
from shared.stores.secrets import SecretStore
from shared.stores.tables import now_iso

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
RENEW_EVERY_SECONDS = 10
POLL_SECONDS = 0.05
LEASE_FIELD = "lease"  # in the secret: the id of the lease it was written under


class LeaseLost(Exception):
    """Someone else took the connection's lease: this holder must not write its tokens."""


def iso_at(epoch: float | None) -> str:
    return now_iso(datetime.fromtimestamp(epoch, UTC)) if epoch else ""


class Lease:
    """A held lease. `entity` is the record as read just before taking it. Use as a context manager."""

    def __init__(
        self, leases: Leases, entity: dict[str, Any], lease_id: str, etag: str, renew_every: float | None
    ) -> None:
        self._leases = leases
        self.entity = entity
        self.id = lease_id
        self._etag = etag
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._lost = False
        self._renewer: threading.Thread | None = None
        if renew_every:
            self._renewer = threading.Thread(target=self._renew_until_done, args=(renew_every,), daemon=True)
            self._renewer.start()

    @property
    def connection_id(self) -> str:
        return str(self.entity["PartitionKey"])

    @property
    def previous_id(self) -> str:
        """The lease the record named before this one: whose Key Vault writes may be newer than the record."""
        return str(self.entity.get("refreshLeaseId") or "")

    def _merge_while_ours(self, fields: dict[str, Any]) -> None:
        """Merge `fields` only while the record still names this lease; other fields' writers don't count."""
        records = self._leases.records
        while not self._lost:
            try:
                self._etag = records.merge(self.connection_id, fields, etag=self._etag)
                return
            except RecordChanged:
                current = records.read(self.connection_id)
                if current is None or not self._still_ours(current):
                    self._lost = True
                    break
                self._etag = etag_of(current)  # someone merged something unrelated (a share, a rename): retry
        raise LeaseLost(self.connection_id)

    def _still_ours(self, current: dict[str, Any]) -> bool:
        """Still this lease, on the connection it was taken on: a status or connector snapshot someone else changed
        meanwhile (a forced connector replace disconnecting it, a deletion) wins over this holder's write."""
        return (
            current.get("refreshLeaseId") == self.id
            and current.get("status") == self.entity.get("status")
            and snapshot_of(current) == snapshot_of(self.entity)
        )

    def renew(self) -> None:
        """Extend the lease by its full length from now. LeaseLost if someone else took it."""
        with self._lock:
            if self._done.is_set():
                return
            self._merge_while_ours({"refreshLeaseUntil": iso_at(self._leases.clock() + self._leases.seconds)})

    def _renew_until_done(self, every: float) -> None:
        while not self._done.wait(every):
            try:
                self.renew()
            except LeaseLost:
                log.warning("connection %s: token lease lost to another writer", self.connection_id)
                return
            except problems.Problem:
                continue  # Table Storage hiccup: the next renewal tries again

    def write(self, fields: dict[str, Any]) -> None:
        """The holder's last write, releasing the lease with it. LeaseLost if someone else holds it now."""
        with self._lock:
            self._done.set()
            self._merge_while_ours({**fields, "refreshLeaseUntil": ""})

    def release(self) -> None:
        """Let go without writing (e.g. nothing changed). Losing the lease meanwhile is fine here."""
        with self._lock:
            if self._done.is_set():
                return
            self._done.set()
            with contextlib.suppress(LeaseLost, problems.Problem):  # else it expires on its own
                self._merge_while_ours({"refreshLeaseUntil": ""})

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        if self._renewer is not None:
            self._renewer.join()


class Leases:
    def __init__(
        self,
        records: ConnectionRecords,
        secret_store: SecretStore,
        clock: Callable[[], float] = time.time,
        seconds: float = LEASE_SECONDS,
        renew_every: float | None = RENEW_EVERY_SECONDS,
    ) -> None:
        self.records = records
        self._secrets = secret_store
        self.clock = clock
        self.seconds = seconds
        self._renew_every = renew_every

    def held_by_someone(self, entity: dict[str, Any]) -> bool:
        return str(entity.get("refreshLeaseUntil") or "") > iso_at(self.clock())

    def try_take(self, entity: dict[str, Any]) -> Lease | None:
        """Take the lease if the record is unchanged since `entity` was read; None if someone got there first."""
        lease_id = secrets.token_hex(8)
        fields = {"refreshLeaseUntil": iso_at(self.clock() + self.seconds), "refreshLeaseId": lease_id}
        try:
            etag = self.records.merge(entity["PartitionKey"], fields, etag=etag_of(entity))
        except RecordChanged:
            return None
        return Lease(self, dict(entity), lease_id, etag, self._renew_every)

    def hold(self, connection_id: str) -> Lease:
        """Wait for the lease (as long as a holder may keep it without renewing) and take it."""
        deadline = time.monotonic() + self.seconds + 5
        while True:
            entity = self.records.read(connection_id)
            if entity is None:
                raise problems.not_found("connection", connection_id)
            if self.held_by_someone(entity):
                if time.monotonic() > deadline:
                    raise problems.unavailable("The connection's tokens are being updated; try again shortly.")
                time.sleep(POLL_SECONDS)  # another writer holds it: Table Storage has no change notification
                continue
            lease = self.try_take(entity)
            if lease is not None:
                return lease

    def current_payload(self, lease: Lease) -> dict[str, Any]:
        """The connection's secret as the lease holder must build on: the newest Key Vault version when it was
        written under the record's previous lease (also a holder that crashed before updating the record), else
        the version the record names (the newest may be a late loser's orphan)."""
        entity = lease.entity
        latest_version, latest = self._secrets.get_latest(entity["secretName"])
        named = str(entity.get("secretVersion") or "")
        if latest_version == named or not named or str(latest.get(LEASE_FIELD) or "") == lease.previous_id:
            return latest
        log.warning("connection %s: ignoring a secret version no lease holder committed", lease.connection_id)
        return self._secrets.get(entity["secretName"], named)
