"""Calls per subscription and key slot per UTC day, counted without a Table write per call.

`record` only adds to an in-memory buffer. `flush` adds the buffered counts to one entity per
subscription and day (PartitionKey "usage-{subscriptionId}", RowKey "YYYY-MM-DD", properties
`primary` and `secondary`), read-add-write with the entity's ETag, re-reading on 412/409, so
every instance's counts add up exactly (shared/limits' CounterTable does the ETag dance).
A flush starts by itself in a background thread once the buffer holds `flush_after_calls`
calls or `flush_interval_seconds` passed since the last one; the gateway should also call
`flush` from a timer and when it shuts down.

Counts buffered in an instance are lost if it crashes: at most one flush interval's worth
(or `flush_after_calls` calls). A failed flush keeps its counts for the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError
from azure.data.tables import TableClient

from shared.callers._subscription_model import SLOTS, KeySlot
from shared.limits._store import CounterTable, int64, read_int
from shared.problems import Problem

log = logging.getLogger(__name__)

USAGE_PARTITION_PREFIX = "usage-"
DEFAULT_FLUSH_INTERVAL_SECONDS = 30.0
DEFAULT_FLUSH_AFTER_CALLS = 1000
MIN_FLUSH_GAP_SECONDS = 1.0  # a full buffer still waits this long, so an outage doesn't start a flush per call

Clock = Callable[[], float]
_Bucket = tuple[str, str]  # (subscription id, UTC day)


@dataclass(frozen=True)
class DailyUsage:
    day: date
    primary: int
    secondary: int

    @property
    def calls(self) -> int:
        return self.primary + self.secondary

    def to_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "primary": self.primary, "secondary": self.secondary, "calls": self.calls}


def usage_partition(subscription_id: str) -> str:
    return USAGE_PARTITION_PREFIX + subscription_id


def utc_day(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).date().isoformat()


def added_counts(entity: dict[str, Any] | None, subscription_id: str, day: str, counts: Counter[str]) -> dict[str, Any]:
    """The usage entity's properties after adding `counts` (slot -> calls) to what it holds."""
    properties: dict[str, Any] = {"subscription": subscription_id, "date": day}
    for slot in SLOTS:
        properties[slot] = int64((read_int(entity, slot) if entity else 0) + counts[slot])
    return properties


class UsageCounter:
    """Buffers calls in memory and adds them to Table Storage in batches. Thread-safe; one per process."""

    def __init__(
        self,
        table: TableClient,
        *,
        flush_interval_seconds: float = DEFAULT_FLUSH_INTERVAL_SECONDS,
        flush_after_calls: int = DEFAULT_FLUSH_AFTER_CALLS,
        flush_in_background: bool = True,
        clock: Clock = time.time,
    ) -> None:
        self._table = table
        self._counters = CounterTable(table)
        self._interval = flush_interval_seconds
        self._flush_after = flush_after_calls
        self._background = flush_in_background
        self._clock = clock
        self._lock = threading.Lock()  # guards the buffer
        self._flush_lock = threading.Lock()  # one flush at a time
        self._pending: defaultdict[_Bucket, Counter[str]] = defaultdict(Counter)
        self._pending_calls = 0
        self._last_flush = clock()
        self._flush_running = False

    def record(self, subscription_id: str, slot: KeySlot) -> None:
        now = self._clock()
        with self._lock:
            self._pending[(subscription_id, utc_day(now))][slot] += 1
            self._pending_calls += 1
            since_flush = now - self._last_flush
            due = since_flush >= self._interval or (
                self._pending_calls >= self._flush_after and since_flush >= MIN_FLUSH_GAP_SECONDS
            )
            start = due and not self._flush_running
            if start:
                self._flush_running = True
        if start:
            if self._background:
                threading.Thread(target=self._flush_started, name="usage-flush", daemon=True).start()
            else:
                self._flush_started()

    def pending_calls(self) -> int:
        with self._lock:
            return self._pending_calls

    def discard(self, subscription_id: str) -> None:
        """Drops buffered counts of a deleted subscription, so a flush doesn't bring its usage back."""
        with self._lock:
            for bucket in [bucket for bucket in self._pending if bucket[0] == subscription_id]:
                self._pending_calls -= sum(self._pending.pop(bucket).values())

    def flush(self) -> int:
        """Adds the buffered counts to the table; returns how many calls were written.
        Counts that couldn't be written stay buffered for the next flush."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, defaultdict(Counter)
                self._pending_calls = 0
                self._last_flush = self._clock()
            written = 0
            for (subscription_id, day), counts in batch.items():
                if self._add(subscription_id, day, counts):
                    written += sum(counts.values())
                else:
                    self._keep(subscription_id, day, counts)
            return written

    def daily(self, subscription_id: str, days: int = 30) -> list[DailyUsage]:
        """Flushed counts of the last `days` UTC days, oldest first; days without calls are left out."""
        first = (datetime.fromtimestamp(self._clock(), UTC).date() - timedelta(days=days - 1)).isoformat()
        entities = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @first",
            parameters={"pk": usage_partition(subscription_id), "first": first},
        )
        usage = [
            DailyUsage(date.fromisoformat(entity["RowKey"]), read_int(entity, "primary"), read_int(entity, "secondary"))
            for entity in entities
        ]
        return sorted(usage, key=lambda day_usage: day_usage.day)

    def delete_all(self, subscription_id: str) -> None:
        """Deletes a subscription's usage entities and buffered counts."""
        self.discard(subscription_id)
        entities = self._table.query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": usage_partition(subscription_id)},
            select=["PartitionKey", "RowKey"],
        )
        for entity in entities:
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])

    def _flush_started(self) -> None:
        try:
            self.flush()
        except Exception:  # a background thread has nobody to raise to
            log.exception("Flushing subscription usage failed")
        finally:
            with self._lock:
                self._flush_running = False

    def _add(self, subscription_id: str, day: str, counts: Counter[str]) -> bool:
        def add(entity: dict[str, Any] | None) -> tuple[None, dict[str, Any]]:
            return None, added_counts(entity, subscription_id, day, counts)

        try:
            self._counters.update(usage_partition(subscription_id), day, add)
        except (Problem, AzureError) as failure:  # an outage (503) or lasting contention (429)
            reason = failure.detail if isinstance(failure, Problem) else type(failure).__name__
            log.warning("Usage of subscription %s not flushed yet: %s", subscription_id, reason)
            return False
        return True

    def _keep(self, subscription_id: str, day: str, counts: Counter[str]) -> None:
        with self._lock:
            self._pending[(subscription_id, day)].update(counts)
            self._pending_calls += sum(counts.values())
