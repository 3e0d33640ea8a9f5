"""The part of connections an invocation needs: the one point read, then the admitted call's credential.

Apart from `ConnectionService` (creation, sharing, deletion) so the invoke pipeline depends on exactly
this: a `ConnectionTarget` known before any secret, and a `Credential` only for calls the policy admits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from requests.auth import AuthBase

import shared.connections._access as access
from shared.audit import AuditLog
from shared.auth_schemes import BearerToken, auth_for
from shared.callers import Principal
from shared.connections._records import CONNECTED, ConnectionRecords, plain_values_of, snapshot_of
from shared.connections._refresh import TokenRefresher
from shared.connections._unusable import not_usable
from shared.connectors import AuthScheme
from shared.stores.secrets import SecretStore

# After a backend 401 the token is refreshed once and the call retried, unless it was refreshed this recently.
RETRY_REFRESH_NOT_WITHIN_SECONDS = 60.0


@dataclass(frozen=True)
class ConnectionTarget:
    """Where a connection's calls go and under which policy: known from the one point read, before any secret."""

    id: str
    connector_id: str
    backend_url: str
    policy: dict[str, Any] | None  # the connector's gateway policy (IP filter, limits), from the snapshot
    entity: dict[str, Any] = field(repr=False)
    runtime_version: str | None = None  # the connector's operations and templates, by content hash (snapshot)
    plain_values: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Credential:
    """How to authenticate a connection's call to its backend, and the connection's values for templates."""

    auth: AuthBase | None
    reauthenticate: Callable[[], AuthBase] | None = None  # OAuth: after a backend 401, refresh once
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)  # plain and secret: never logged


class ConnectionUse:
    def __init__(
        self, records: ConnectionRecords, secrets: SecretStore, refresher: TokenRefresher, audit: AuditLog
    ) -> None:
        self._records = records
        self._secrets = secrets
        self._refresher = refresher
        self._audit = audit

    def target(self, principal: Principal, connection_id: str) -> ConnectionTarget:
        """The one point read of an invocation: who may use it, where it goes, under which policy. No secrets yet,
        so a call the policy refuses costs no Key Vault read and no token refresh."""
        entity = self._records.read(connection_id)
        access.require(entity, principal, access.USE, connection_id)
        assert entity is not None
        if entity["status"] != CONNECTED:
            raise not_usable(connection_id, entity["status"], entity.get("errorReason", ""))
        snapshot = snapshot_of(entity)
        backend_url = entity.get("backendUrl") or snapshot["backendUrl"]
        return ConnectionTarget(
            connection_id,
            entity["connectorId"],
            backend_url,
            snapshot.get("policy"),
            entity,
            snapshot.get("runtimeVersion"),
            plain_values_of(entity),
        )

    def _payload(self, entity: dict[str, Any]) -> dict[str, Any]:
        if not entity.get("secretName") or not entity.get("secretVersion"):
            return {}
        return self._secrets.get(entity["secretName"], entity["secretVersion"])

    def credential(self, principal: Principal, target: ConnectionTarget) -> Credential:
        """The admitted call's credential: Key Vault only when this secret version isn't cached yet."""
        entity = target.entity
        self._audit.used(target.id, principal)
        snapshot = snapshot_of(entity)
        payload = self._payload(entity)
        values = {**target.plain_values, **payload.get("values", {})}
        if not snapshot.get("oauth"):
            return Credential(auth_for(AuthScheme(**snapshot["auth"]), values), values=values)
        tokens = self._refresher.current(entity, payload)

        def reauthenticate() -> AuthBase:
            refreshed = self._refresher.refresh(
                target.id, entity["secretVersion"], force=True, not_within=RETRY_REFRESH_NOT_WITHIN_SECONDS
            )
            return BearerToken(refreshed)

        return Credential(BearerToken(tokens), reauthenticate, values)
