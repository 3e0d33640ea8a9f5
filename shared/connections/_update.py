"""PATCH /connections/{id}: a new display name, or new non-OAuth parameter values (a credential rotation).

New values are merged over the current ones and validated as at creation. Secret values become a new version of the
connection's Key Vault secret, written before the record names it; the record's write is conditional on the ETag
read, so a concurrent change (a delete, a connector replace) wins and the new version is disabled again. Once the
record names the new version the old one is disabled: Key Vault refuses to read it, and the in-process cache, keyed
by (name, version), is never asked for it again because every invocation reads the version from the record.
OAuth connections change their credential by reauthorizing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared import problems
from shared.audit import AuditLog
from shared.callers import Principal
from shared.connections._records import (
    CONNECTED,
    DELETING,
    PENDING,
    ConnectionRecords,
    RecordChanged,
    etag_of,
    plain_values_of,
    public_view,
    snapshot_of,
)
from shared.connector_store import RegisteredConnector
from shared.connectors import Connector, ConnectorError, validate_connection_values
from shared.stores.secrets import SecretStore
from shared.stores.tables import json_properties

log = logging.getLogger(__name__)

FIELDS = ("displayName", "parameters")


def parse_update_body(body: Any, max_display_name: int) -> tuple[str | None, dict[str, Any] | None]:
    if not isinstance(body, dict):
        raise problems.bad_request("The body must be a JSON object with displayName and/or parameters.")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise problems.invalid_parameters(
            f"Unknown field(s): {', '.join(unknown)}. Only displayName and parameters change.",
            [{"pointer": f"/{name}", "detail": "unknown field"} for name in unknown],
        )
    if not body:
        raise problems.invalid_parameters(
            "Nothing to change: send displayName and/or parameters.",
            [{"pointer": "", "detail": "needs displayName or parameters"}],
        )
    display_name = body.get("displayName")
    if "displayName" in body and (
        not isinstance(display_name, str) or not display_name.strip() or len(display_name) > max_display_name
    ):
        raise problems.invalid_parameters(
            "displayName must be a non-empty string.",
            [{"pointer": "/displayName", "detail": f"a string of 1-{max_display_name} characters"}],
        )
    parameters = body.get("parameters")
    if "parameters" in body and not isinstance(parameters, dict):
        raise problems.invalid_parameters(
            "parameters must be an object of name: value.", [{"pointer": "/parameters", "detail": "an object"}]
        )
    return (display_name.strip() if isinstance(display_name, str) else None), parameters


def _changed_meanwhile(connection_id: str) -> problems.Problem:
    return problems.Problem(
        409,
        "connection-changed",
        "Connection changed meanwhile",
        f"Connection {connection_id!r} was changed by another request meanwhile; read it and retry.",
    )


class ConnectionUpdate:
    def __init__(self, records: ConnectionRecords, secrets: SecretStore, audit: AuditLog) -> None:
        self._records = records
        self._secrets = secrets
        self._audit = audit

    def apply(
        self,
        principal: Principal,
        entity: dict[str, Any],
        connector_of: Callable[[str], RegisteredConnector | None],
        display_name: str | None,
        parameters: dict[str, Any] | None,
        test_connection: Callable[[Connector, dict[str, Any]], None],
    ) -> dict[str, Any]:
        """Changes the permitted, freshly read `entity`; returns its public view. `connector_of` gives the connector
        the connection authenticates against (its parameter set's view); `test_connection` checks new values with
        the connector's test operation, as creation does, before anything is stored."""
        connection_id = entity["PartitionKey"]
        if entity["status"] in (PENDING, DELETING):
            raise problems.Problem(
                409,
                "connection-not-ready",
                "Connection not ready",
                f"Connection {connection_id!r} is {entity['status']}.",
            )
        etag = etag_of(entity)
        fields: dict[str, Any] = {}
        changed: list[str] = []
        if display_name is not None:
            fields["displayName"] = display_name
            changed.append("displayName")
        old_version, new_version = "", ""
        if parameters is not None:
            connector, values = self._new_values(entity, connector_of, parameters)
            test_connection(connector, {**values.plain, **values.secret})  # a refused credential changes nothing
            secret_name = entity.get("secretName") or ""
            if values.secret and not secret_name:  # optional secrets first given now: name the secret first
                secret_name = f"conn-{connection_id}"
                etag = self._merge(connection_id, {"secretName": secret_name}, etag)
            if secret_name:
                old_version = entity.get("secretVersion") or ""
                current = self._secrets.get(secret_name, old_version) if old_version else {}
                new_version = self._secrets.put(secret_name, {**current, "values": values.secret})
                fields["secretName"], fields["secretVersion"] = secret_name, new_version
            fields.update(_plain_fields(entity, values.plain))
            changed.append(f"parameters ({', '.join(sorted(parameters)) or 'none'})")
        try:
            self._merge(connection_id, fields, etag)
        except problems.Problem:
            if new_version:
                self._disable(fields["secretName"], new_version, connection_id)
            raise
        if old_version:
            self._disable(fields["secretName"], old_version, connection_id)
        self._audit.record(connection_id, "updated", principal, "; ".join(changed))
        log.info("connection %s updated: %s", connection_id, ", ".join(changed))
        return public_view({**entity, **fields})

    def _new_values(
        self,
        entity: dict[str, Any],
        connector_of: Callable[[str], RegisteredConnector | None],
        given: dict[str, Any],
    ) -> tuple[Connector, Any]:
        connection_id = entity["PartitionKey"]
        if snapshot_of(entity).get("oauth"):
            raise problems.Problem(
                409,
                "oauth-connection",
                "OAuth connection",
                "An OAuth connection's credential changes by signing in again: POST .../reauthorize.",
            )
        if entity["status"] != CONNECTED:
            raise problems.Problem(
                409,
                "connection-not-connected",
                "Connection not connected",
                f"Connection {connection_id!r} is {entity['status']}: create a new one instead.",
            )
        registered = connector_of(entity["connectorId"])
        if registered is None:
            raise problems.not_found("connector", entity["connectorId"])
        secret_name, version = entity.get("secretName") or "", entity.get("secretVersion") or ""
        current_secret = self._secrets.get(secret_name, version).get("values", {}) if secret_name and version else {}
        merged = {**plain_values_of(entity), **current_secret, **given}
        merged = {name: value for name, value in merged.items() if value is not None or name in given}
        try:
            return registered.connector, validate_connection_values(registered.connector, merged)
        except ConnectorError as error:
            raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None

    def _merge(self, connection_id: str, fields: dict[str, Any], etag: str) -> str:
        try:
            return self._records.merge(connection_id, fields, etag=etag)
        except RecordChanged:
            raise _changed_meanwhile(connection_id) from None

    def _disable(self, name: str, version: str, connection_id: str) -> None:
        try:
            self._secrets.disable(name, version)
        except problems.Problem:
            # The record names another version, so nothing reads this one; it goes with the connection's secret.
            log.warning("connection %s: a replaced secret version could not be disabled now", connection_id)


def _plain_fields(entity: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    """The plain values' properties; chunks the new values no longer need are emptied (a merge can't remove them)."""
    fields = json_properties("plain", plain)
    index = len(fields)
    while f"plain{index}" in entity:
        fields[f"plain{index}"] = ""
        index += 1
    return fields
