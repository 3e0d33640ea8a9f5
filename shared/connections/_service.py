"""Connections: a user's credentials for one connector, split over two stores.

Writes go record-first so a crash can never leave an orphan secret nor a record
claiming Connected without its secret:

    create:  record Pending (names the secret) -> secret -> record Connected (or Unauthenticated, for OAuth sign-in)
    delete:  record Deleting -> tokens revoked -> secret deleted and purged -> record deleted

A Pending record older than PENDING_GRACE, or a Deleting one, is finished by
`finish_interrupted` (the cleanup timer; _removal.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from requests.auth import AuthBase

import shared.connections._access as access
from shared import problems
from shared.audit import AuditLog
from shared.auth_schemes import BearerToken, auth_for
from shared.callers import Principal, grantee_identities
from shared.connections._connection_checks import ConnectionTester
from shared.connections._create_body import MAX_DISPLAY_NAME, parse_create_body, require_usable, with_parameter_set
from shared.connections._grants import GrantIndex
from shared.connections._records import (
    CONNECTED,
    DELETING,
    PENDING,
    UNAUTHENTICATED,
    ConnectionRecords,
    RecordChanged,
    etag_of,
    plain_values_of,
    public_view,
    snapshot_of,
)
from shared.connections._refresh import TokenRefresher, iso_at
from shared.connections._removal import ConnectionRemoval
from shared.connections._signin import SignIn
from shared.connections._snapshot import (
    client_credential,
    connector_snapshot,
    oauth_config,
    signed_out_snapshot,
    snapshot_oauth,
)
from shared.connections._unusable import DISCONNECTED, connector_changed_meanwhile, not_usable
from shared.connections._update import ConnectionUpdate, parse_update_body
from shared.connector_store import RegisteredConnector
from shared.connectors import Connector, ConnectorError, validate_connection_values
from shared.oauth import OAuthClient, OAuthError, ProviderAddressRefused, TokenSet
from shared.stores.secrets import SecretStore
from shared.stores.tables import json_properties, now_iso

log = logging.getLogger(__name__)

SHARE_WRITE_ATTEMPTS = 5  # concurrent writes to one record are rare; a record that keeps changing gets a 409


class ConnectionService:
    def __init__(
        self,
        records: ConnectionRecords,
        secrets: SecretStore,
        signin: SignIn,
        refresher: TokenRefresher,
        oauth: OAuthClient,
        redirect_allowed: Callable[[str], bool],
        grants: GrantIndex,
        audit: AuditLog,
        clock: Callable[[], float] = time.time,
        tester: ConnectionTester | None = None,
    ) -> None:
        self._tester = tester  # None: testConnection capabilities are not called (unit tests without a backend)
        self._grants = grants
        self.audit = audit
        self._records = records
        self._secrets = secrets
        self._signin = signin
        self._refresher = refresher
        self._oauth = oauth
        self._redirect_allowed = redirect_allowed
        self._removal = ConnectionRemoval(records, secrets, grants, oauth, clock)

    # -- reads -----------------------------------------------------------------------------------

    def _read_permitted(self, principal: Principal, connection_id: str, permission: str) -> dict[str, Any]:
        entity = self._records.read(connection_id)
        access.require(entity, principal, permission, connection_id)
        assert entity is not None
        return entity

    def _view(self, entity: dict[str, Any], principal: Principal) -> dict[str, Any]:
        return {**public_view(entity), "permissions": sorted(access.permissions_of(entity, principal))}

    def get(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        return self._view(self._read_permitted(principal, connection_id, access.USE), principal)

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        """The principal's own connections and those shared with it or its groups."""
        visible = {e["PartitionKey"]: e for e in self._records.query("owner eq @owner", owner=principal.id)}
        identities = sorted(grantee_identities(principal.id, principal.groups))
        for connection_id in self._grants.connection_ids(identities) - set(visible):
            entity = self._records.read(connection_id)
            if entity is not None and access.permissions_of(entity, principal):  # the record is the authority
                visible[connection_id] = entity
        reachable = [e for e in visible.values() if access.in_scope(e, principal)]
        return sorted((self._view(e, principal) for e in reachable), key=lambda c: c["createdAt"])

    def shares(self, principal: Principal, connection_id: str) -> list[dict[str, Any]]:
        entity = self._read_permitted(principal, connection_id, access.MANAGE)
        return [share.to_json() for share in access.shares_of(entity)]

    def share(self, principal: Principal, connection_id: str, body: Any) -> dict[str, Any]:
        share = access.parse_share(body)
        self._change_shares(
            principal,
            connection_id,
            lambda shares, entity: access.with_share(
                shares, share, entity["owner"], access.permissions_of(entity, principal)
            ),
        )
        self._grants.put(share.grantee, connection_id)
        self.audit.record(
            connection_id, "shared", principal, f"{share.grantee}: {', '.join(sorted(share.permissions))}"
        )
        return share.to_json()

    def unshare(self, principal: Principal, connection_id: str, share_id: str) -> None:
        doomed: list[access.Share] = []

        def without(shares: list[access.Share], _: dict[str, Any]) -> list[access.Share]:
            doomed[:] = [s for s in shares if s.id == share_id]
            if not doomed:
                raise problems.not_found("share", share_id)
            return [s for s in shares if s.id != share_id]

        self._change_shares(principal, connection_id, without)
        self._grants.remove(doomed[0].grantee, connection_id)
        self.audit.record(connection_id, "unshared", principal, doomed[0].grantee)

    def _change_shares(
        self,
        principal: Principal,
        connection_id: str,
        change: Callable[[list[access.Share], dict[str, Any]], list[access.Share]],
    ) -> None:
        """Read, change and write the shares, conditional on the record's ETag. Another write in between (a share,
        a refresh, a delete) makes it read again, permission included: no change is lost or made on stale rights."""
        for _ in range(SHARE_WRITE_ATTEMPTS):
            entity = self._read_permitted(principal, connection_id, access.MANAGE)
            shares = change(access.shares_of(entity), entity)
            try:
                self._records.merge(connection_id, {"shares": access.shares_property(shares)}, etag=etag_of(entity))
                return
            except RecordChanged:
                continue
        raise problems.Problem(
            409,
            "connection-changed-meanwhile",
            "Connection changed meanwhile",
            "The connection kept changing while its shares were being updated; nothing was changed. Try again.",
        )

    def audit_entries(self, principal: Principal, connection_id: str) -> list[dict[str, Any]]:
        self._read_permitted(principal, connection_id, access.MANAGE)
        self.audit.flush()  # this instance's pending use counts, so a manager sees them now
        return self.audit.entries(connection_id)

    def _payload(self, entity: dict[str, Any]) -> dict[str, Any]:
        if not entity.get("secretName") or not entity.get("secretVersion"):
            return {}
        return self._secrets.get(entity["secretName"], entity["secretVersion"])

    def token(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        """The current access token (APIM's get-authorization-context), where the connector allows it."""
        entity = self._read_permitted(principal, connection_id, access.TOKEN)
        snapshot = snapshot_of(entity)
        if not snapshot.get("oauth") or not snapshot.get("allowTokenRetrieval"):
            raise problems.forbidden("This connector doesn't allow token retrieval.")
        if entity["status"] != CONNECTED:
            raise not_usable(connection_id, entity["status"], entity.get("errorReason", ""))
        tokens = self._refresher.current(entity, self._payload(entity))
        return {
            "accessToken": tokens.access_token,
            "tokenType": tokens.token_type or "Bearer",
            "expiresAt": iso_at(tokens.expires_at) or None,
            "extra": tokens.extra,
        }

    # -- writes ----------------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        registered: RegisteredConnector,
        body: Any,
        connector_unchanged: Callable[[], bool] = lambda: True,
    ) -> dict[str, Any]:
        """`connector_unchanged` says whether `registered` is still the stored connector: asked after the record is
        written, so a replace either sees the new record (and rewrites or disconnects it) or this creation sees the
        replace and gives up. No connection is ever left Connected on a snapshot of a replaced connector."""
        connector = registered.connector
        grant = principal.subscription
        if grant is not None and not grant.permits_connector(connector.id):
            raise problems.forbidden(
                f"This subscription key is limited to {grant.scope}; it can't create connections here."
            )
        display_name, parameters, post_login, set_name = parse_create_body(body, connector, self._redirect_allowed)
        registered = with_parameter_set(registered, set_name)
        connector = registered.connector  # from here on: the parameter set's scheme and parameters, if it has sets
        require_usable(connector)
        try:
            values = validate_connection_values(connector, parameters)
        except ConnectorError as error:
            raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
        config = oauth_config(registered, values.plain)
        snapshot = connector_snapshot(registered, values.plain)
        if config is None:  # before anything is stored: a refused credential leaves no record and no secret
            self._test_connection(connector, auth_for(connector.auth, {**values.plain, **values.secret}))

        connection_id = uuid.uuid4().hex
        entity: dict[str, Any] = {
            "PartitionKey": connection_id,
            "connectorId": connector.id,
            "displayName": display_name,
            "owner": principal.id,
            "status": PENDING,
            "createdAt": now_iso(),
            "secretName": f"conn-{connection_id}" if (values.secret or config) else "",
            "secretVersion": "",
            **json_properties("connector", snapshot),
            **json_properties("plain", values.plain),
            **({"parameterSet": set_name} if set_name is not None else {}),
        }
        etag = self._records.insert(entity)
        view_extra: dict[str, Any] = {}
        try:
            if not connector_unchanged():
                raise connector_changed_meanwhile(connector.id)
            payload: dict[str, Any] = {"values": values.secret}
            fields: dict[str, Any] = {"status": CONNECTED}
            if config and config.grant_type == "client_credentials":
                tokens = self._client_credentials_token(config, snapshot, values.secret, connector.id)
                self._test_connection(connector, BearerToken(tokens))  # before the secret: a failure stores none
                payload["tokens"] = tokens.to_secret()
                fields["tokenExpiresAt"] = iso_at(tokens.expires_at)
            elif config:
                login = self._signin.begin(connection_id, principal, config, post_login)
                payload["login"] = login.secret_part
                fields["status"] = UNAUTHENTICATED
                view_extra["loginUrl"] = login.url
            if entity["secretName"]:
                fields["secretVersion"] = self._secrets.put(entity["secretName"], payload)
            try:
                self._records.merge(connection_id, fields, etag=etag)  # a replaced connector rewrote it meanwhile
            except RecordChanged:
                raise connector_changed_meanwhile(connector.id) from None
            entity.update(fields)
        except problems.Problem:
            self._removal.discard(entity)
            raise
        log.info("connection %s created for connector %s", connection_id, connector.id)
        self.audit.record(connection_id, "created", principal, f"connector {connector.id}")
        return {**public_view(entity), **view_extra}

    def _test_connection(self, connector: Connector, auth: AuthBase | None) -> None:
        if self._tester is not None:
            self._tester.check(connector.test_connection, connector.backend.url, auth)

    def _client_credentials_token(
        self, config: Any, snapshot: dict[str, Any], secret_values: dict, connector_id: str
    ) -> TokenSet:
        try:
            return self._oauth.client_credentials(config, client_credential(self._secrets, snapshot, secret_values))
        except ProviderAddressRefused as refused:
            raise problems.Problem(
                409,
                "connector-misconfigured",
                "Connector misconfigured",
                f"The connector's token endpoint (host {urlsplit(config.token_url).hostname!r}) resolves to "
                f"{refused.reason}, which the gateway's address guard refuses, so no token was requested. Nothing "
                "you enter can fix this: its maker must point the token endpoint at a host the gateway may call.",
                connectorId=connector_id,
            ) from None
        except OAuthError as error:
            raise problems.Problem(
                502,
                "token-request-failed",
                "Token request failed",
                f"The identity provider refused the client credentials ({error.error}). Check the connector's "
                "client id and secret.",
            ) from None

    def update(
        self,
        principal: Principal,
        connection_id: str,
        body: Any,
        connector_of: Callable[[str], RegisteredConnector | None],
    ) -> dict[str, Any]:
        """PATCH: a new displayName, or new non-OAuth parameter values (see _update.py). Owners and managers."""
        display_name, parameters = parse_update_body(body, MAX_DISPLAY_NAME)
        entity = self._read_permitted(principal, connection_id, access.MANAGE)

        def as_connected(connector_id: str) -> RegisteredConnector | None:  # its parameter set, if it named one
            registered = connector_of(connector_id)
            return registered and with_parameter_set(registered, entity.get("parameterSet"))

        def test_connection(connector: Connector, values: dict[str, Any]) -> None:
            self._test_connection(connector, auth_for(connector.auth, values))

        updater = ConnectionUpdate(self._records, self._secrets, self.audit)
        view = updater.apply(principal, entity, as_connected, display_name, parameters, test_connection)
        return {**view, "permissions": sorted(access.permissions_of(entity, principal))}

    def reauthorize(self, principal: Principal, connection_id: str, body: Any) -> dict[str, Any]:
        entity = self._read_permitted(principal, connection_id, access.MANAGE)
        config = snapshot_oauth(snapshot_of(entity))
        if config is None or config.grant_type != "authorization_code":
            raise problems.Problem(
                409, "not-reauthorizable", "Nothing to reauthorize", "Only OAuth sign-in connections are reauthorized."
            )
        post_login = body.get("postLoginRedirectUrl") if isinstance(body, dict) else None
        if post_login is not None and (not isinstance(post_login, str) or not self._redirect_allowed(post_login)):
            raise problems.bad_request("postLoginRedirectUrl is not on the operator's allowlist.")
        login_url = self._signin.begin_again(connection_id, principal, config, post_login)
        self.audit.record(connection_id, "reauthorized", principal)
        return {**self._view(entity, principal), "loginUrl": login_url}

    def delete(self, principal: Principal, connection_id: str) -> None:
        entity = self._read_permitted(principal, connection_id, access.MANAGE)
        self.audit.record(connection_id, "deleted", principal)
        self._removal.finish_delete(entity)

    def delete_for_connector(self, connector_id: str) -> int:
        doomed = list(self._records.query("connectorId eq @id", id=connector_id))
        for entity in doomed:
            self._removal.finish_delete(entity)
        return len(doomed)

    def _of_connector(self, connector_id: str) -> list[dict[str, Any]]:
        entities = self._records.query("connectorId eq @id", id=connector_id)
        return [e for e in entities if e["status"] != DELETING]  # those are going: leave them to finish

    def count_for_connector(self, connector_id: str) -> int:
        return len(self._of_connector(connector_id))

    def disconnect_for_connector(self, connector_id: str) -> int:
        """Before a connector gets a new backend or auth scheme: every connection moves to Error ("connector
        changed") and loses its sign-in backend override, so none sends its credential anywhere from now on."""
        entities = self._of_connector(connector_id)
        for entity in entities:
            self._records.merge(entity["PartitionKey"], DISCONNECTED)
        if entities:
            log.info("connector %s changed: %d connection(s) moved to Error", connector_id, len(entities))
        return len(entities)

    def update_connector_snapshots(self, registered: RegisteredConnector, disconnect: bool = False) -> int:
        """After a connector is replaced, its connections call the new backend with the new auth scheme.

        With `disconnect` (the backend or auth scheme changed), each connection also moves to Error in the same
        write, including any created between `disconnect_for_connector` and the replace."""
        # A snapshot is always one property (it is small), so no stale chunks can remain.
        entities = self._of_connector(registered.connector.id)
        for entity in entities:
            try:
                # Its parameter set's scheme (a set the new connector dropped is a 400, like unusable settings)
                as_connected = with_parameter_set(registered, entity.get("parameterSet"))
                snapshot = connector_snapshot(as_connected, plain_values_of(entity))  # with its token:* values
            except problems.Problem:
                if not disconnect:
                    raise
                snapshot = signed_out_snapshot(registered)
            fields = json_properties("connector", snapshot)
            self._records.merge(entity["PartitionKey"], {**fields, **(DISCONNECTED if disconnect else {})})
        return len(entities)

    def finish_interrupted(self) -> int:
        """Finish creations and deletions a crash or an outage interrupted. Run by the cleanup timer."""
        return self._removal.finish_interrupted()
