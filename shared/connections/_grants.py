"""An index of who a connection is shared with, so "my connections" can list shared ones too.

The connection record's `shares` property is the authority (authorization reads only the
record); this table only serves listings. It is written after the record, so a crash
in between can hide a share from a listing until the next change, never grant access.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.stores.errors import translate_errors


def grantee_key(grantee: str) -> str:
    # Principal ids hold characters table keys forbid (an issuer URL's '/'), so the key is a hash.
    return hashlib.sha256(grantee.encode("utf-8")).hexdigest()


class GrantIndex:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def put(self, grantee: str, connection_id: str) -> None:
        with translate_errors("Table Storage"):
            self._table.upsert_entity(
                {"PartitionKey": grantee_key(grantee), "RowKey": connection_id}, mode=UpdateMode.REPLACE
            )

    def remove(self, grantee: str, connection_id: str) -> None:
        with translate_errors("Table Storage"), contextlib.suppress(ResourceNotFoundError):
            self._table.delete_entity(grantee_key(grantee), connection_id)

    def connection_ids(self, grantees: Iterable[str]) -> set[str]:
        found: set[str] = set()
        with translate_errors("Table Storage"):
            for grantee in grantees:
                entities = self._table.query_entities("PartitionKey eq @p", parameters={"p": grantee_key(grantee)})
                found.update(e["RowKey"] for e in entities)
        return found
