"""The audit log: who created, used, shared, reauthorized and deleted each connection.

One row per event (PartitionKey = connection id, newest first), except use: calls are
counted in memory per connection, actor and hour, and flushed as one row per hour
(merged with ETags, so several instances add up). A failed flush keeps its counts for the next one;
a crash loses at most the counts since the last successful flush. Rows hold ids and actions only, never a secret.

The actor is the authenticated principal, never a name a caller chose. A call made with a
subscription key that an admin minted for someone else is that someone's action, and its row
also names the admin (`mintedBy`), so a key minted to act as another principal stays traceable.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.callers import Principal
from shared.stores.errors import translate_errors
from shared.stores.tables import now_iso

log = logging.getLogger(__name__)

FLUSH_AFTER_CALLS = 200
FLUSH_AFTER_SECONDS = 60.0
MAX_MERGE_ATTEMPTS = 10
_NEWEST_FIRST = 10**13  # RowKeys sort ascending; an inverted millisecond clock lists the newest first
Actor = Principal | str  # a bare id: an actor without a key minter (e.g. a timer acting for the gateway)


def _actor(actor: Actor) -> tuple[str, str]:
    """(principal id, minted by or "")."""
    if isinstance(actor, Principal):
        return actor.id, actor.minted_by or ""
    return actor, ""


class AuditLog:
    def __init__(self, table: TableClient, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock
        self._uses: Counter[tuple[str, str, str, str]] = Counter()  # connection, principal, minted by, hour
        self._lock = threading.Lock()
        self._last_flush = clock()
        self._flush_failed = False  # then only the time trigger flushes: a down table mustn't cost every call a try

    def record(self, connection_id: str, action: str, actor: Actor, detail: str = "") -> None:
        """One event. Best effort: a failing audit write is logged, never turned into a failed operation."""
        now = self._clock()
        principal_id, minted_by = _actor(actor)
        entity = {
            "PartitionKey": connection_id,
            "RowKey": f"{_NEWEST_FIRST - int(now * 1000):013d}-{uuid.uuid4().hex[:8]}",
            "action": action,
            "principal": principal_id,
            "mintedBy": minted_by,
            "detail": detail[:500],
            "at": now_iso(datetime.fromtimestamp(now, UTC)),
        }
        try:
            self._table.create_entity(entity)
        except AzureError as error:
            log.warning("audit %s for connection %s not written (%s)", action, connection_id, type(error).__name__)

    def used(self, connection_id: str, actor: Actor) -> None:
        principal_id, minted_by = _actor(actor)
        hour = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%dT%H:00Z")
        with self._lock:
            self._uses[(connection_id, principal_id, minted_by, hour)] += 1
            due = (sum(self._uses.values()) >= FLUSH_AFTER_CALLS and not self._flush_failed) or (
                self._clock() - self._last_flush > FLUSH_AFTER_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> int:
        """Write this instance's pending use counts; returns how many calls were written. Counts that can't be
        written now (Table Storage down, too much contention) stay pending for the next flush, not dropped."""
        with self._lock:
            uses, self._uses = self._uses, Counter()
            self._last_flush = self._clock()
        kept: Counter[tuple[str, str, str, str]] = Counter()
        for (connection_id, principal_id, minted_by, hour), count in uses.items():
            try:
                written = self._add_use(connection_id, principal_id, minted_by, hour, count)
            except AzureError as error:
                log.warning("audit use counts for %s kept for the next flush (%s)", connection_id, type(error).__name__)
                written = False
            if not written:
                kept[(connection_id, principal_id, minted_by, hour)] += count
        with self._lock:
            self._uses.update(kept)
            self._flush_failed = bool(kept)
        return sum(uses.values()) - sum(kept.values())

    def _add_use(self, connection_id: str, principal_id: str, minted_by: str, hour: str, count: int) -> bool:
        """Add `count` to the hour's row; False when other instances kept winning the ETag race."""
        # One row per actor: the same principal through an admin-minted key counts apart from its own calls.
        actor = principal_id if not minted_by else f"{principal_id}\n{minted_by}"
        key = {
            "PartitionKey": connection_id,
            "RowKey": f"use-{hour}-{hashlib.sha256(actor.encode()).hexdigest()[:16]}",
        }
        for _ in range(MAX_MERGE_ATTEMPTS):
            try:
                current = self._table.get_entity(key["PartitionKey"], key["RowKey"])
            except ResourceNotFoundError:
                try:
                    self._table.create_entity(
                        {
                            **key,
                            "action": "used",
                            "principal": principal_id,
                            "mintedBy": minted_by,
                            "count": count,
                            "at": hour,
                            "detail": "",
                        }
                    )
                    return True
                except ResourceExistsError:
                    continue  # another instance created it first: merge into theirs
            try:
                self._table.update_entity(
                    {**key, "count": current["count"] + count}, mode=UpdateMode.MERGE,
                    etag=current.metadata["etag"], match_condition=MatchConditions.IfNotModified,
                )  # fmt: skip
                return True
            except ResourceModifiedError:
                continue
        log.warning("audit use counts for %s kept after %d contended attempts", connection_id, MAX_MERGE_ATTEMPTS)
        return False

    def entries(self, connection_id: str, limit: int = 500) -> list[dict[str, Any]]:
        with translate_errors("Table Storage"):
            rows = self._table.query_entities("PartitionKey eq @p", parameters={"p": connection_id})
            entries = [
                {k: row.get(k) for k in ("action", "principal", "detail", "at")}
                | ({"mintedBy": row["mintedBy"]} if row.get("mintedBy") else {})
                | ({"count": row["count"]} if "count" in row else {})
                for _, row in zip(range(limit), rows, strict=False)
            ]
        return sorted(entries, key=lambda e: e["at"], reverse=True)
