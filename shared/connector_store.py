"""Registered connectors, one Table entity each (PartitionKey "connector", RowKey = connector id)."""

from __future__ import annotations

from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared import problems
from shared.connectors import (
    Connector,
    ConnectorError,
    connector_from_record,
    connector_to_record,
    validate_connector_id,
)
from shared.stores.errors import translate_errors
from shared.stores.tables import DocumentTooLarge, json_properties, read_json_properties

PARTITION = "connector"


class ConnectorStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def put(self, connector: Connector) -> bool:
        """Create or replace; True when it was created."""
        try:
            record = json_properties("record", connector_to_record(connector))
        except DocumentTooLarge as error:
            raise problems.Problem(413, "connector-too-large", "Connector too large", str(error)) from None
        existed = self.find(connector.id) is not None
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": connector.id,
            "updatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
            **record,
        }
        with translate_errors("Table Storage"):
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return not existed

    def find(self, connector_id: str) -> Connector | None:
        try:
            validate_connector_id(connector_id)
        except ConnectorError:
            return None  # no such id can exist; and it may not be a valid table key
        with translate_errors("Table Storage"):
            try:
                entity = self._table.get_entity(PARTITION, connector_id)
            except ResourceNotFoundError:
                return None
        return connector_from_record(read_json_properties("record", entity))

    def get(self, connector_id: str) -> Connector:
        connector = self.find(connector_id)
        if connector is None:
            raise problems.not_found("connector", connector_id)
        return connector

    def list(self) -> list[Connector]:
        with translate_errors("Table Storage"):
            entities = list(self._table.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}))
        return [connector_from_record(read_json_properties("record", e)) for e in entities]

    def delete(self, connector_id: str) -> None:
        with translate_errors("Table Storage"):
            self._table.delete_entity(PARTITION, connector_id)
