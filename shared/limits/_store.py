"""Counters shared by every gateway instance, in Azure Table Storage, updated with optimistic concurrency.

Each counter is one entity: PartitionKey = the escaped limit key, RowKey = "rate-<period>"
or "quota-<period>", so every key is its own partition (Table Storage scales by partition)
and a key can carry several policies. An update reads the entity, decides, and writes it
back only if its ETag is unchanged (If-Match -> 412 when another instance wrote first), or
creates it (409 when another instance created it first); on either conflict it reads again
and decides again. So no call is ever admitted on a count another instance has moved past.

Each instance remembers the last entity and ETag it saw per counter, and tries the write
straight from that: with one instance per key that is one round trip per admitted call
instead of two. The remembered copy never decides on its own - a write from a stale copy
fails its ETag check, and a denial is always confirmed with a fresh read.

Entities carry ExpiresAt, after which they hold nothing that counts; `purge_expired`
deletes those (lifetime quotas never expire).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

from shared.stores.errors import translate_errors
from shared.stores.tables import StripedLocks

from ._windows import contention_problem

T = TypeVar("T")
Properties = dict[str, Any]

SERVICE = "Table Storage"
EXPIRES_AT = "ExpiresAt"
_KEY_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:-_.@")
_MAX_KEY_CHARS = 255  # Table keys hold up to 1 KiB; longer keys are hashed
_HASHED_PREFIX = "!!"  # never produced by escaping: every escaped "!" is followed by two hex digits


def table_key(key: str) -> str:
    """A PartitionKey for any string: readable where it can be, "!XX" per UTF-8 byte elsewhere, hashed if long.

    Table keys forbid / \\ # ? and control characters; escaping every character outside a
    small safe set keeps distinct keys distinct without listing what the service forbids.
    """
    if not key:
        raise ValueError("a limit key can't be empty")
    escaped = "".join(
        ch if ch in _KEY_SAFE else "".join(f"!{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass")) for ch in key
    )
    if len(escaped) <= _MAX_KEY_CHARS:
        return escaped
    return _HASHED_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def int64(value: int) -> EntityProperty:
    # The SDK sends a bare int as Edm.Int32 and refuses values from 2**31; byte counts get there.
    return EntityProperty(value, EdmType.INT64)


def read_int(entity: Properties, name: str) -> int:
    value = entity.get(name, 0)
    return int(value.value if isinstance(value, EntityProperty) else value)


def expires_at(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


class CounterTable:
    """Read-decide-write of single entities with ETag retries, and a per-instance copy of the last one seen."""

    def __init__(self, table: TableClient, *, max_attempts: int = 40, remembered: int = 4096) -> None:
        self.table = table
        self.max_attempts = max_attempts
        self._remembered = remembered
        self._last_seen: OrderedDict[tuple[str, str], tuple[Properties | None, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        # Threads of one instance take turns per counter, so only other instances ever race its ETag.
        self._key_locks = StripedLocks()
        self.conflicts = 0  # writes that lost a race; for tests and measurements

    def update(self, partition: str, row: str, decide: Callable[[Properties | None], tuple[T, Properties | None]]) -> T:
        """Applies `decide` to the entity (None when absent) until its answer is stored or nothing needs storing.

        `decide` returns (result, properties to store or None) and may be called several times.
        """
        with self._key_locks(partition, row):
            return self._update(partition, row, decide)

    def _update(
        self, partition: str, row: str, decide: Callable[[Properties | None], tuple[T, Properties | None]]
    ) -> T:
        slot = (partition, row)
        seen = self._recall(slot)
        fresh = seen is None
        attempt = 0
        while attempt < self.max_attempts:
            if seen is None:
                seen, fresh = self._read(partition, row), True
            properties, etag = seen
            result, new_properties = decide(properties)
            if new_properties is None:
                if fresh:
                    return result
                seen = None  # a denial from the remembered copy: confirm it on a fresh read
                continue
            stored_etag = self._write(partition, row, new_properties, etag)
            if stored_etag is not None:
                self._remember(slot, (new_properties, stored_etag))
                return result
            self.conflicts += 1
            attempt += 1
            seen = None
            # Jittered backoff spreads the contenders out so that one of them wins the next round.
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))  # noqa: S311 - jitter, not security
        self._forget(slot)
        raise contention_problem()

    def _read(self, partition: str, row: str) -> tuple[Properties | None, str | None]:
        with translate_errors(SERVICE):
            try:
                entity = self.table.get_entity(partition, row)
            except ResourceNotFoundError:
                return None, None
        return dict(entity), entity.metadata["etag"]

    def _write(self, partition: str, row: str, properties: Properties, etag: str | None) -> str | None:
        """The new ETag, or None when another writer got there first."""
        entity = {**properties, "PartitionKey": partition, "RowKey": row}
        with translate_errors(SERVICE):
            try:
                if etag is None:
                    response = self.table.create_entity(entity)
                else:
                    response = self.table.update_entity(
                        entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                # 409 created meanwhile, 412 changed meanwhile, 404 purged meanwhile.
                return None
        return response["etag"]

    def _recall(self, slot: tuple[str, str]) -> tuple[Properties | None, str | None] | None:
        with self._lock:
            seen = self._last_seen.get(slot)
            if seen is not None:
                self._last_seen.move_to_end(slot)
            return seen

    def _remember(self, slot: tuple[str, str], seen: tuple[Properties, str]) -> None:
        with self._lock:
            self._last_seen[slot] = seen
            self._last_seen.move_to_end(slot)
            while len(self._last_seen) > self._remembered:
                self._last_seen.popitem(last=False)

    def _forget(self, slot: tuple[str, str]) -> None:
        with self._lock:
            self._last_seen.pop(slot, None)


def purge_expired(table: TableClient, now: float | None = None) -> int:
    """Deletes counters whose ExpiresAt has passed; returns how many. Safe to run while counters are in use.

    A counter rewritten since it was listed fails the delete's ETag check and stays. Lists the
    whole table (a scan), so run it from a timer, not per request.
    """
    cutoff = expires_at(time.time() if now is None else now)
    deleted = 0
    with translate_errors(SERVICE):
        expired = table.query_entities(
            f"{EXPIRES_AT} lt @cutoff", parameters={"cutoff": cutoff}, select=["PartitionKey", "RowKey"]
        )
        for entity in expired:
            with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
                table.delete_entity(
                    entity["PartitionKey"],
                    entity["RowKey"],
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                deleted += 1
    return deleted
