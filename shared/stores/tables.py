"""The gateway's tables in Azure Table Storage, and how JSON documents fit in entities.

A Table entity's string property holds at most 64 KiB (32K UTF-16 characters),
so larger JSON documents are split over numbered properties and joined back.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient

from shared.settings import Settings
from shared.stores.clients import table_service

_CHUNK_CHARS = 30_000
_MAX_CHUNKS = 30  # ~900K characters; an entity holds at most 1 MiB


def now_iso(moment: datetime | None = None) -> str:
    """A UTC timestamp as the gateway stores them: ISO 8601, seconds, 'Z'. Sorts as text."""
    return (moment or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")


class StripedLocks:
    """A fixed set of locks picked by key hash: serialises work on one key within a process, bounded in memory."""

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def __call__(self, *key: str) -> threading.Lock:
        return self._locks[hash(key) % len(self._locks)]


class DocumentTooLarge(ValueError):
    pass


def json_properties(prefix: str, document: Any) -> dict[str, str]:
    """`document` as JSON in properties prefix0, prefix1, ... each within the property size limit."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    chunks = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
    if len(chunks) > _MAX_CHUNKS:
        raise DocumentTooLarge(f"{prefix} is {len(text)} characters; at most {_CHUNK_CHARS * _MAX_CHUNKS} fit")
    return {f"{prefix}{i}": chunk for i, chunk in enumerate(chunks)}


def read_json_properties(prefix: str, entity: dict[str, Any]) -> Any:
    parts = []
    i = 0
    while f"{prefix}{i}" in entity:
        parts.append(entity[f"{prefix}{i}"])
        i += 1
    return json.loads("".join(parts))


@dataclass(frozen=True)
class Tables:
    connectors: TableClient
    connections: TableClient
    keys: TableClient
    states: TableClient  # OAuth sign-in state, single use
    grants: TableClient  # who each connection is shared with, for listings
    audit: TableClient


def open_tables(settings: Settings) -> Tables:
    """Table clients for the gateway's tables, creating the tables on first use."""
    service = table_service(settings)
    clients = {}
    for name in ("connectors", "connections", "keys", "states", "grants", "audit"):
        client = service.get_table_client(f"{settings.tables_prefix}{name}")
        with contextlib.suppress(ResourceExistsError):
            client.create_table()
        clients[name] = client
    return Tables(**clients)
