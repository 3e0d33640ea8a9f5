"""Keeps OAuth tokens fresh: one refresh per connection at a time, across all instances.

Across instances, the connection's token lease (_lease.py) elects one refresher; the others wait
for the record's secret version to change and read the new token instead of refreshing again.
Inside one process, callers that need the same connection refreshed share the one refresh in
flight. The refresher's write is conditional on still holding the lease, so a refresher that
stalled past it can't overwrite the newer token its successor stored.

A refresh builds on the newest secret version a lease holder wrote (the refresh token may have
rotated). `invalid_grant` puts the connection in Error; a transient failure opens a backoff window
with at most one attempt per connection. A token issued without a refresh token is used until it
really expires; only then does the connection need its owner to sign in again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from shared import problems, telemetry
from shared.connections._lease import LEASE_FIELD, LEASE_SECONDS, POLL_SECONDS, Lease, LeaseLost, Leases, iso_at
from shared.connections._records import CONNECTED, ERROR, ConnectionRecords, snapshot_of
from shared.connections._snapshot import client_credential, snapshot_oauth
from shared.oauth import OAuthClient, OAuthError, TokenSet
from shared.stores.secrets import SecretStore

log = logging.getLogger(__name__)

__all__ = ["TokenRefresher", "iso_at", "needs_reauthorization"]


def needs_reauthorization(connection_id: str, reason: str) -> problems.Problem:
    return problems.Problem(
        409,
        "connection-needs-reauthorization",
        "Connection needs reauthorization",
        f"The identity provider no longer accepts this connection ({reason}). Its owner must sign in again: "
        f"POST /api/connections/{connection_id}/reauthorize and open the loginUrl it returns.",
        reauthorizeUrl=f"/api/connections/{connection_id}/reauthorize",
    )


def _refreshable(entity: dict[str, Any], tokens: TokenSet) -> bool:
    """Whether the gateway can get a new token without the person: a refresh token, or client credentials."""
    config = snapshot_oauth(snapshot_of(entity))
    return bool(tokens.refresh_token) or (config is not None and config.grant_type == "client_credentials")


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
        leases: Leases | None = None,
    ) -> None:
        self._redirect_url = redirect_url  # some oauth2generic refresh templates send {RedirectUrl}
        self._records = records
        self._secrets = secrets
        self._oauth = oauth
        self._margin = margin_seconds
        self._backoff = backoff_seconds
        self._clock = clock
        self._leases = leases or Leases(records, secrets, clock)
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
        if not _refreshable(entity, tokens) and not self.expiring(tokens, margin=0):
            return tokens  # nothing to refresh it with: use it until it really expires
        return self.refresh(entity["PartitionKey"], entity["secretVersion"])

    def refresh(self, connection_id: str, seen_version: str, force: bool = False, not_within: float = 0.0) -> TokenSet:
        """Refresh, unless someone already did since `seen_version`. Concurrent callers share one refresh.

        `not_within` (seconds): a forced refresh that finds the token refreshed that recently keeps it. A backend's
        401 forces one (the token may have been revoked), but a backend that answers 401 whatever the token would
        otherwise make every call a refresh with the owner's refresh token, at a caller's or backend's will."""
        with self._lock:
            flight = self._flights.get(connection_id)
            leader = flight is None
            if leader:
                flight = self._flights[connection_id] = Future()
        assert flight is not None
        if not leader:
            return flight.result(timeout=3 * LEASE_SECONDS)
        try:
            tokens = self._refresh_across_instances(connection_id, seen_version, force, not_within)
            flight.set_result(tokens)
            return tokens
        except BaseException as error:
            flight.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._flights[connection_id]

    def _refresh_across_instances(
        self, connection_id: str, seen_version: str, force: bool, not_within: float = 0.0
    ) -> TokenSet:
        deadline = time.monotonic() + LEASE_SECONDS + 5  # real waiting time, whatever the injected clock says
        while True:
            entity = self._records.read(connection_id)
            if entity is None:
                raise problems.not_found("connection", connection_id)
            if entity["status"] == ERROR:
                raise needs_reauthorization(connection_id, entity.get("errorReason") or "refresh refused")
            if not_within and entity.get("tokenRefreshedAt", "") > iso_at(self._clock() - not_within):
                return self._stored(entity)  # refreshed moments ago: a new token wouldn't change the answer
            if entity["secretVersion"] != seen_version:  # another instance refreshed meanwhile
                tokens = self._stored(entity)
                if force or not self.expiring(tokens):
                    return tokens
                seen_version = entity["secretVersion"]
            if entity.get("refreshNotBefore", "") > iso_at(self._clock()):
                return self._valid_or_unavailable(
                    entity,
                    "The identity provider could not refresh this connection's token just now; the gateway retries "
                    "after a short backoff.",
                )
            if self._leases.held_by_someone(entity):
                if time.monotonic() < deadline:
                    time.sleep(POLL_SECONDS)  # someone holds the lease: wait for its new version
                    continue
                return self._valid_or_unavailable(entity, "Another instance is still refreshing this connection.")
            lease = self._leases.try_take(entity)
            if lease is None:
                continue  # another instance took the lease first
            with lease:
                return self._refresh_holding(lease)

    def _stored(self, entity: dict[str, Any]) -> TokenSet:
        return TokenSet.from_secret(self._secrets.get(entity["secretName"], entity["secretVersion"])["tokens"])

    def _valid_or_unavailable(self, entity: dict[str, Any], detail: str) -> TokenSet:
        tokens = self._stored(entity)
        if not self.expiring(tokens, margin=0):
            return tokens  # still valid: use it meanwhile
        raise problems.unavailable(detail, retry_after_seconds=int(self._backoff))

    def _refresh_holding(self, lease: Lease) -> TokenSet:
        entity = lease.entity
        connection_id = lease.connection_id
        snapshot = snapshot_of(entity)
        config = snapshot_oauth(snapshot)
        assert config is not None
        payload = self._leases.current_payload(lease)
        old = TokenSet.from_secret(payload["tokens"])
        if not _refreshable(entity, old):
            if not self.expiring(old, margin=0):
                return old  # used until it really expires (the lease is released unwritten)
            return self._after_failure(
                lease, old, OAuthError("invalid_grant", "the token expired and the provider issued no refresh token")
            )
        credential = client_credential(self._secrets, snapshot, payload.get("values", {}))
        try:
            if config.grant_type == "client_credentials":
                new = self._oauth.client_credentials(config, credential)
            else:
                assert old.refresh_token is not None
                new = self._oauth.refresh(config, credential, old.refresh_token, self._redirect_url)
        except OAuthError as error:
            return self._after_failure(lease, old, error)
        tokens = new.merged_with(old)
        version = self._secrets.put(
            entity["secretName"], {**payload, "tokens": tokens.to_secret(), LEASE_FIELD: lease.id}
        )
        fields = {
            "status": CONNECTED,
            "secretVersion": version,
            "tokenExpiresAt": iso_at(tokens.expires_at),
            "tokenRefreshedAt": iso_at(self._clock()),
            "refreshNotBefore": "",
            "errorReason": "",
        }
        try:
            lease.write(fields)
        except LeaseLost:
            # Stalled past the lease: the new holder's tokens stay. These work for this call, but aren't kept.
            log.warning(
                "connection %s: refreshed after losing the lease; the newer holder's token stays", connection_id
            )
            return tokens
        log.info("connection %s: token refreshed", connection_id)
        telemetry.count(telemetry.REFRESHES, outcome="refreshed")
        return tokens

    def _after_failure(self, lease: Lease, old: TokenSet, error: OAuthError) -> TokenSet:
        connection_id = lease.connection_id
        if error.transient:
            log.warning("connection %s: refresh failed (%s); backing off", connection_id, error.error)
            telemetry.count(telemetry.REFRESHES, outcome="failed")
            with contextlib.suppress(LeaseLost):  # someone else is refreshing now
                lease.write({"refreshNotBefore": iso_at(self._clock() + self._backoff)})
            if not self.expiring(old, margin=0):
                return old
            raise problems.unavailable(
                "The identity provider is unavailable; the connection's token could not be refreshed.",
                retry_after_seconds=int(self._backoff),
            ) from None
        reason = f"{error.error}: {error.description}" if error.description else error.error
        try:
            lease.write({"status": ERROR, "errorReason": reason[:300]})
        except LeaseLost:
            raise problems.unavailable("Another writer updated this connection's token; try again.") from None
        log.warning("connection %s: refresh refused (%s); needs reauthorization", connection_id, error.error)
        telemetry.count(telemetry.REFRESHES, outcome="refused")
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
