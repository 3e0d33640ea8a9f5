"""The connections table: one entity per connection (PartitionKey = connection id).

An entity holds only what isn't secret: owner, status, the connector snapshot,
plain parameter values, token expiry, refresh lease, and the name and version of
the connection's Key Vault secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared.stores.errors import translate_errors
from shared.stores.tables import read_json_properties

ROW = "connection"

# Statuses a connection moves through.
PENDING = "Pending"  # being created; not usable; finished or removed by the cleanup timer
UNAUTHENTICATED = "Unauthenticated"  # OAuth: waiting for the person to sign in
CONNECTED = "Connected"
ERROR = "Error"  # OAuth: refresh was refused (e.g. invalid_grant); needs reauthorization. Or its connector changed
DELETING = "Deleting"
# errorReason of connections whose connector got a new backend or auth scheme (a forced replace): they never
# send their credential to the new destination; an OAuth one is fixed by reauthorizing, the others are recreated.
CONNECTOR_CHANGED = "connector changed"


class RecordChanged(Exception):
    """The entity changed since it was read (ETag mismatch): someone else got there first."""


def is_connection_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def public_view(entity: dict[str, Any]) -> dict[str, Any]:
    view = {
        "id": entity["PartitionKey"],
        "connectorId": entity["connectorId"],
        "displayName": entity["displayName"],
        "status": entity["status"],
        "createdAt": entity["createdAt"],
        "owner": entity["owner"],
    }
    if entity.get("errorReason"):
        view["error"] = entity["errorReason"]
    return view


def snapshot_of(entity: dict[str, Any]) -> dict[str, Any]:
    return read_json_properties("connector", entity)


def plain_values_of(entity: dict[str, Any]) -> dict[str, Any]:
    return read_json_properties("plain", entity)


class ConnectionRecords:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def read(self, connection_id: str) -> TableEntity | None:
        if not is_connection_id(connection_id):
            return None  # not an id we could have made; don't ask the table
        with translate_errors("Table Storage"):
            try:
                return self._table.get_entity(connection_id, ROW)
            except ResourceNotFoundError:
                return None

    def query(self, query: str, **parameters: Any) -> Iterator[TableEntity]:
        with translate_errors("Table Storage"):
            yield from self._table.query_entities(query, parameters=parameters)

    def insert(self, entity: dict[str, Any]) -> str:
        """Create the entity; returns its ETag."""
        with translate_errors("Table Storage"):
            return self._table.create_entity({**entity, "RowKey": ROW}).get("etag", "")

    def merge(self, connection_id: str, fields: dict[str, Any], etag: str | None = None) -> str:
        """Merge `fields`; with `etag`, only if the entity is unchanged. Returns the new ETag."""
        entity = {"PartitionKey": connection_id, "RowKey": ROW, **fields}
        with translate_errors("Table Storage"):
            try:
                if etag:
                    result = self._table.update_entity(
                        entity, mode=UpdateMode.MERGE, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
                else:
                    result = self._table.update_entity(entity, mode=UpdateMode.MERGE)
            except ResourceModifiedError:
                raise RecordChanged(connection_id) from None
        return result.get("etag", "")

    def delete(self, connection_id: str) -> None:
        with translate_errors("Table Storage"):
            self._table.delete_entity(connection_id, ROW)


def etag_of(entity: TableEntity) -> str:
    return entity.metadata["etag"]
