"""Keeps OAuth tokens fresh: one refresh per connection at a time, across all instances.

Across instances, a lease on the connection's Table entity (written with its ETag)
elects one refresher; the others wait for the record's secret version to change
and read the new token instead of refreshing again. Inside one process, callers
that need the same connection refreshed share the one refresh in flight.

A refresh always reads the newest secret version (the refresh token may have
rotated), never a cached one. `invalid_grant` puts the connection in Error; a
transient failure opens a backoff window with at most one attempt per connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from shared import problems
from shared.connections._records import CONNECTED, ERROR, ConnectionRecords, RecordChanged, etag_of, snapshot_of
from shared.connections._snapshot import client_credential, snapshot_oauth
from shared.oauth import OAuthClient, OAuthError, TokenSet
from shared.stores.secrets import SecretStore
from shared.stores.tables import now_iso

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
POLL_SECONDS = 0.05


def iso_at(epoch: float | None) -> str:
    return now_iso(datetime.fromtimestamp(epoch, UTC)) if epoch else ""


def needs_reauthorization(connection_id: str, reason: str) -> problems.Problem:
    return problems.Problem(
        409,
        "connection-needs-reauthorization",
        "Connection needs reauthorization",
        f"The identity provider no longer accepts this connection ({reason}). Its owner must sign in again: "
        f"POST /api/connections/{connection_id}/reauthorize and open the loginUrl it returns.",
        reauthorizeUrl=f"/api/connections/{connection_id}/reauthorize",
    )


class TokenRefresher:
    def __init__(
        self,
        records: ConnectionRecords,
        secrets: SecretStore,
        oauth: OAuthClient,
        margin_seconds: float,
        backoff_seconds: float,
        redirect_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redirect_url = redirect_url  # some oauth2generic refresh templates send {RedirectUrl}
        self._records = records
        self._secrets = secrets
        self._oauth = oauth
        self._margin = margin_seconds
        self._backoff = backoff_seconds
        self._clock = clock
        self._flights: dict[str, Future[TokenSet]] = {}
        self._lock = threading.Lock()

    def expiring(self, tokens: TokenSet, margin: float | None = None) -> bool:
        if tokens.expires_at is None:
            return False  # e.g. GitHub: tokens that don't expire
        return tokens.expires_at - self._clock() < (self._margin if margin is None else margin)

    def current(self, entity: dict[str, Any], payload: dict[str, Any]) -> TokenSet:
        """The connection's tokens, refreshed first if they expire within the margin."""
        tokens = TokenSet.from_secret(payload["tokens"])
        if not self.expiring(tokens):
            return tokens
        return self.refresh(entity["PartitionKey"], entity["secretVersion"])

    def refresh(self, connection_id: str, seen_version: str, force: bool = False) -> TokenSet:
        """Refresh, unless someone already did since `seen_version`. Concurrent callers share one refresh."""
        with self._lock:
            flight = self._flights.get(connection_id)
            leader = flight is None
            if leader:
                flight = self._flights[connection_id] = Future()
        assert flight is not None
        if not leader:
            return flight.result(timeout=LEASE_SECONDS + 10)
        try:
            tokens = self._refresh_across_instances(connection_id, seen_version, force)
            flight.set_result(tokens)
            return tokens
        except BaseException as error:
            flight.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._flights[connection_id]

    def _refresh_across_instances(self, connection_id: str, seen_version: str, force: bool) -> TokenSet:
        deadline = self._clock() + LEASE_SECONDS + 5
        while True:
            entity = self._records.read(connection_id)
            if entity is None:
                raise problems.not_found("connection", connection_id)
            if entity["status"] == ERROR:
                raise needs_reauthorization(connection_id, entity.get("errorReason") or "refresh refused")
            if entity["secretVersion"] != seen_version:  # another instance refreshed meanwhile
                tokens = TokenSet.from_secret(
                    self._secrets.get(entity["secretName"], entity["secretVersion"])["tokens"]
                )
                if force or not self.expiring(tokens):
                    return tokens
                seen_version = entity["secretVersion"]
            now = now_iso(datetime.fromtimestamp(self._clock(), UTC))
            if entity.get("refreshNotBefore", "") > now:
                return self._during_backoff(entity)
            if entity.get("refreshLeaseUntil", "") > now and self._clock() < deadline:
                time.sleep(POLL_SECONDS)  # someone holds the lease: wait for its new version
                continue
            try:
                lease_until = iso_at(self._clock() + LEASE_SECONDS)
                self._records.merge(connection_id, {"refreshLeaseUntil": lease_until}, etag=etag_of(entity))
            except RecordChanged:
                continue  # another instance took the lease first
            return self._refresh_holding_lease(entity)

    def _during_backoff(self, entity: dict[str, Any]) -> TokenSet:
        tokens = TokenSet.from_secret(self._secrets.get(entity["secretName"], entity["secretVersion"])["tokens"])
        if not self.expiring(tokens, margin=0):
            return tokens  # still valid: use it until the window ends
        raise problems.unavailable(
            "The identity provider could not refresh this connection's token just now; the gateway retries "
            "after a short backoff.",
            retry_after_seconds=int(self._backoff),
        )

    def _refresh_holding_lease(self, entity: dict[str, Any]) -> TokenSet:
        connection_id = entity["PartitionKey"]
        snapshot = snapshot_of(entity)
        config = snapshot_oauth(snapshot)
        assert config is not None
        _, payload = self._secrets.get_latest(entity["secretName"])
        old = TokenSet.from_secret(payload["tokens"])
        credential = client_credential(self._secrets, snapshot, payload.get("values", {}))
        try:
            if config.grant_type == "client_credentials":
                new = self._oauth.client_credentials(config, credential)
            elif old.refresh_token:
                new = self._oauth.refresh(config, credential, old.refresh_token, self._redirect_url)
            else:
                raise OAuthError("invalid_grant", "the provider issued no refresh token")
        except OAuthError as error:
            return self._after_failure(entity, old, error)
        tokens = new.merged_with(old)
        version = self._secrets.put(entity["secretName"], {**payload, "tokens": tokens.to_secret()})
        self._records.merge(
            connection_id,
            {
                "status": CONNECTED,
                "secretVersion": version,
                "tokenExpiresAt": iso_at(tokens.expires_at),
                "refreshLeaseUntil": "",
                "refreshNotBefore": "",
                "errorReason": "",
            },
        )
        log.info("connection %s: token refreshed", connection_id)
        return tokens

    def _after_failure(self, entity: dict[str, Any], old: TokenSet, error: OAuthError) -> TokenSet:
        connection_id = entity["PartitionKey"]
        if error.transient:
            log.warning("connection %s: refresh failed (%s); backing off", connection_id, error.error)
            not_before = iso_at(self._clock() + self._backoff)
            self._records.merge(connection_id, {"refreshLeaseUntil": "", "refreshNotBefore": not_before})
            if not self.expiring(old, margin=0):
                return old
            raise problems.unavailable(
                "The identity provider is unavailable; the connection's token could not be refreshed.",
                retry_after_seconds=int(self._backoff),
            ) from None
        reason = f"{error.error}: {error.description}" if error.description else error.error
        log.warning("connection %s: refresh refused (%s); needs reauthorization", connection_id, error.error)
        self._records.merge(connection_id, {"status": ERROR, "errorReason": reason[:300], "refreshLeaseUntil": ""})
        raise needs_reauthorization(connection_id, reason) from None

    def refresh_expiring(self, horizon_seconds: float) -> int:
        """For the timer: refresh every connection whose token expires within the horizon."""
        horizon = iso_at(self._clock() + horizon_seconds)
        refreshed = 0
        pages = self._records.query(
            "status eq 'Connected' and tokenExpiresAt ne '' and tokenExpiresAt lt @horizon", horizon=horizon
        )
        for entity in pages:
            try:
                self.refresh(entity["PartitionKey"], entity["secretVersion"], force=True)
                refreshed += 1
            except problems.Problem as problem:
                log.info("connection %s: not refreshed (%s)", entity["PartitionKey"], problem.slug)
        return refreshed
