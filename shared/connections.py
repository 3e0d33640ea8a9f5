"""Connections: a user's credentials for one connector, split over two stores.

The Table record holds what isn't secret (owner, status, the connector's runtime
snapshot, plain parameter values, and the *name and version* of the secret);
Key Vault holds the secret values. Writes go record-first so a crash can never
leave an orphan secret nor a record claiming Connected without its secret:

    create:  record Pending (names the secret) -> secret -> record Connected
    delete:  record Deleting -> secret deleted and purged -> record deleted

A Pending record older than PENDING_GRACE, or a Deleting one, is finished by
`finish_interrupted` (the cleanup timer). The record carries a snapshot of the
connector's backend and auth scheme, so an invocation needs one point read.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from requests.auth import AuthBase

from shared import problems
from shared.auth_schemes import auth_for
from shared.callers import Principal
from shared.connectors import AuthScheme, Connector, ConnectorError, validate_connection_values
from shared.stores.errors import translate_errors
from shared.stores.secrets import SecretStore
from shared.stores.tables import json_properties, read_json_properties

log = logging.getLogger(__name__)

ROW = "connection"
PENDING_GRACE = timedelta(minutes=10)
MAX_DISPLAY_NAME = 200


@dataclass(frozen=True)
class ResolvedConnection:
    """What the proxy needs to call the backend for one connection."""

    id: str
    backend_url: str
    auth: AuthBase | None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _connector_snapshot(connector: Connector) -> dict[str, Any]:
    return {"backendUrl": connector.backend.url, "auth": dataclasses.asdict(connector.auth)}


def _public(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entity["PartitionKey"],
        "connectorId": entity["connectorId"],
        "displayName": entity["displayName"],
        "status": entity["status"],
        "createdAt": entity["createdAt"],
        "owner": entity["owner"],
    }


def _parse_create_body(body: Any, connector: Connector) -> tuple[str, Any]:
    if not isinstance(body, dict):
        raise problems.bad_request("The body must be a JSON object with displayName and parameters.")
    unknown = sorted(set(body) - {"displayName", "parameters"})
    if unknown:
        raise problems.invalid_parameters(
            f"Unknown field(s): {', '.join(unknown)}.",
            [{"pointer": f"/{name}", "detail": "unknown field"} for name in unknown],
        )
    display_name = body.get("displayName", connector.title or connector.id)
    if not isinstance(display_name, str) or not display_name.strip() or len(display_name) > MAX_DISPLAY_NAME:
        raise problems.invalid_parameters(
            "displayName must be a non-empty string.",
            [{"pointer": "/displayName", "detail": f"a string of 1-{MAX_DISPLAY_NAME} characters"}],
        )
    return display_name.strip(), body.get("parameters", {})


class ConnectionService:
    def __init__(self, table: TableClient, secrets: SecretStore, clock: Callable[[], datetime] = _now) -> None:
        self._table = table
        self._secrets = secrets
        self._clock = clock

    # -- reads -----------------------------------------------------------------------------------

    def _read(self, connection_id: str) -> dict[str, Any] | None:
        if not (len(connection_id) == 32 and all(c in "0123456789abcdef" for c in connection_id)):
            return None  # not an id we could have made; don't ask the table
        with translate_errors("Table Storage"):
            try:
                return dict(self._table.get_entity(connection_id, ROW))
            except ResourceNotFoundError:
                return None

    def _read_owned(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        entity = self._read(connection_id)
        if entity is None or entity["owner"] != principal.id:
            raise problems.not_found("connection", connection_id)  # the same answer either way: no probing
        return entity

    def _query(self, query: str, **parameters: Any) -> Iterator[dict[str, Any]]:
        with translate_errors("Table Storage"):
            yield from (dict(e) for e in self._table.query_entities(query, parameters=parameters))

    def get(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        return _public(self._read_owned(principal, connection_id))

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        owned = self._query("owner eq @owner", owner=principal.id)
        return sorted((_public(e) for e in owned), key=lambda c: c["createdAt"])

    def resolve(self, principal: Principal, connection_id: str) -> ResolvedConnection:
        """One point read, plus Key Vault only when this secret version isn't cached yet."""
        entity = self._read_owned(principal, connection_id)
        if entity["status"] != "Connected":
            raise problems.Problem(
                409,
                "connection-not-ready",
                "Connection not ready",
                f"The connection is {entity['status']}; it can be used once it is Connected.",
                connectionStatus=entity["status"],
            )
        snapshot = read_json_properties("connector", entity)
        values = read_json_properties("plain", entity)
        if entity.get("secretName"):
            values = {**values, **self._secrets.get(entity["secretName"], entity["secretVersion"])}
        auth = auth_for(AuthScheme(**snapshot["auth"]), values)
        return ResolvedConnection(connection_id, snapshot["backendUrl"], auth)

    # -- writes ----------------------------------------------------------------------------------

    def create(self, principal: Principal, connector: Connector, body: Any) -> dict[str, Any]:
        display_name, parameters = _parse_create_body(body, connector)
        if not connector.auth.supported:
            raise problems.not_implemented(
                f"Connections to connectors with {connector.auth.kind} authentication are not supported yet."
            )
        try:
            values = validate_connection_values(connector, parameters)
        except ConnectorError as error:
            raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None

        connection_id = uuid.uuid4().hex
        secret_name = f"conn-{connection_id}" if values.secret else ""
        entity: dict[str, Any] = {
            "PartitionKey": connection_id,
            "RowKey": ROW,
            "connectorId": connector.id,
            "displayName": display_name,
            "owner": principal.id,
            "status": "Pending",
            "createdAt": _iso(self._clock()),
            "secretName": secret_name,
            "secretVersion": "",
            **json_properties("connector", _connector_snapshot(connector)),
            **json_properties("plain", values.plain),
        }
        with translate_errors("Table Storage"):
            self._table.create_entity(entity)
        try:
            if secret_name:
                entity["secretVersion"] = self._secrets.put(secret_name, values.secret)
            entity["status"] = "Connected"
            with translate_errors("Table Storage"):
                self._table.update_entity(
                    {
                        "PartitionKey": connection_id,
                        "RowKey": ROW,
                        "status": "Connected",
                        "secretVersion": entity["secretVersion"],
                    },
                    mode=UpdateMode.MERGE,
                )
        except problems.Problem:
            self._discard(entity)
            raise
        log.info("connection %s created for connector %s", connection_id, connector.id)
        return _public(entity)

    def delete(self, principal: Principal, connection_id: str) -> None:
        self._finish_delete(self._read_owned(principal, connection_id))

    def delete_for_connector(self, connector_id: str) -> int:
        doomed = list(self._query("connectorId eq @id", id=connector_id))
        for entity in doomed:
            self._finish_delete(entity)
        return len(doomed)

    def update_connector_snapshots(self, connector: Connector) -> int:
        """After a connector is replaced, its connections call the new backend and auth scheme."""
        snapshot = json_properties("connector", _connector_snapshot(connector))
        entities = list(self._query("connectorId eq @id", id=connector.id))
        for entity in entities:
            # A snapshot is a URL and an auth scheme: always one property, so no stale chunks remain.
            with translate_errors("Table Storage"):
                self._table.update_entity(
                    {"PartitionKey": entity["PartitionKey"], "RowKey": ROW, **snapshot}, mode=UpdateMode.MERGE
                )
        return len(entities)

    def finish_interrupted(self) -> int:
        """Finish creations and deletions a crash or an outage interrupted. Run by the cleanup timer."""
        cutoff = _iso(self._clock() - PENDING_GRACE)
        stuck = list(
            self._query("status eq 'Deleting' or ( status eq 'Pending' and createdAt lt @cutoff )", cutoff=cutoff)
        )
        for entity in stuck:
            self._finish_delete(entity)
        return len(stuck)

    def _finish_delete(self, entity: dict[str, Any]) -> None:
        key = {"PartitionKey": entity["PartitionKey"], "RowKey": ROW}
        with translate_errors("Table Storage"):
            if entity["status"] != "Deleting":
                # From here on the connection can't be used, whatever else fails.
                self._table.update_entity({**key, "status": "Deleting"}, mode=UpdateMode.MERGE)
        if entity.get("secretName"):
            self._secrets.delete(entity["secretName"])
        with translate_errors("Table Storage"):
            self._table.delete_entity(key["PartitionKey"], ROW)
        log.info("connection %s deleted", entity["PartitionKey"])

    def _discard(self, entity: dict[str, Any]) -> None:
        """Undo a failed creation now if the stores let us; otherwise the record is left for the cleanup timer."""
        try:
            self._finish_delete({**entity, "status": "Pending"})
        except problems.Problem:
            log.warning("connection %s left for the cleanup timer", entity["PartitionKey"])
