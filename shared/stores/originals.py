"""A connector's files as they were uploaded (apiDefinition, apiProperties, icon, script), for paconn downloads.

Kept in the connectors table, apart from the connector entities: partition `file|{connectorId}`, one group of
entities per file version, named by its SHA-256. A Table property holds at most 64 KiB and an entity 1 MiB, so a
file is cut into binary chunks over as many entities as it needs (an upload is at most 16 MiB).

Content-addressed, so writing is idempotent: the files are written before the connector entity that names their
digests, and a replace deletes the versions the entity no longer names only after the entity changed. A crash in
between leaves unreferenced copies of files (never secrets: apiProperties is kept as stored, without client
secrets), which the next replace or delete of the connector removes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared import problems
from shared.stores.errors import translate_errors

CHUNK_BYTES = 60_000  # under the 64 KiB property limit
CHUNKS_PER_ENTITY = 10  # 600 KB: base64 on the wire (800 KB) stays under the 1 MiB entity limit, as Azurite counts it


@dataclass(frozen=True)
class FileRef:
    """What the connector entity records of one kept file."""

    name: str  # apiDefinition, apiProperties, icon or script
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size}


def refs_from_json(document: Mapping[str, Any] | None) -> dict[str, FileRef]:
    return {name: FileRef(name, ref["sha256"], int(ref["size"])) for name, ref in (document or {}).items()}


def _partition(connector_id: str) -> str:
    return f"file|{connector_id}"


def _row(ref: FileRef, index: int) -> str:
    return f"{ref.name}|{ref.sha256}|{index:04d}"


def _entity_count(size: int) -> int:
    per_entity = CHUNK_BYTES * CHUNKS_PER_ENTITY
    return max(1, -(-size // per_entity))


class OriginalFiles:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def put(self, connector_id: str, files: Mapping[str, bytes]) -> dict[str, FileRef]:
        """Keeps each file (idempotent: the same bytes land on the same rows); returns what to record."""
        refs: dict[str, FileRef] = {}
        for name, data in files.items():
            ref = FileRef(name, hashlib.sha256(data).hexdigest(), len(data))
            per_entity = CHUNK_BYTES * CHUNKS_PER_ENTITY
            for index in range(_entity_count(len(data))):
                piece = data[index * per_entity : (index + 1) * per_entity]
                entity: dict[str, Any] = {"PartitionKey": _partition(connector_id), "RowKey": _row(ref, index)}
                for chunk in range(CHUNKS_PER_ENTITY):
                    part = piece[chunk * CHUNK_BYTES : (chunk + 1) * CHUNK_BYTES]
                    if part:
                        entity[f"d{chunk:02d}"] = part
                with translate_errors("Table Storage"):
                    self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
            refs[name] = ref
        return refs

    def get(self, connector_id: str, ref: FileRef) -> bytes:
        pieces: list[bytes] = []
        for index in range(_entity_count(ref.size)):
            with translate_errors("Table Storage"):
                try:
                    entity = self._table.get_entity(_partition(connector_id), _row(ref, index))
                except ResourceNotFoundError:
                    raise _damaged(connector_id, ref) from None
            pieces.extend(
                bytes(entity[f"d{chunk:02d}"]) for chunk in range(CHUNKS_PER_ENTITY) if f"d{chunk:02d}" in entity
            )
        data = b"".join(pieces)
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise _damaged(connector_id, ref)
        return data

    def delete_except(self, connector_id: str, kept: Mapping[str, FileRef]) -> None:
        """Removes every kept file version of the connector that `kept` doesn't name (all of them for {})."""
        keep = {_row(ref, index) for ref in kept.values() for index in range(_entity_count(ref.size))}
        with translate_errors("Table Storage"):
            rows = [
                e["RowKey"]
                for e in self._table.query_entities(
                    "PartitionKey eq @p", parameters={"p": _partition(connector_id)}, select=["RowKey"]
                )
            ]
            for row in rows:
                if row not in keep:
                    with contextlib.suppress(ResourceNotFoundError):
                        self._table.delete_entity(_partition(connector_id), row)


def _damaged(connector_id: str, ref: FileRef) -> problems.Problem:
    return problems.Problem(
        500,
        "stored-file-damaged",
        "Stored file damaged",
        f"The kept copy of connector {connector_id!r}'s {ref.name} is missing or doesn't match its digest; "
        "upload the connector again.",
    )
