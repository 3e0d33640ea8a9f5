"""Removing a connection: record Deleting -> tokens revoked -> secret deleted and purged -> record deleted.

The same steps delete a connection, undo a failed creation and, from the cleanup timer, finish what a crash or
an outage interrupted (a Pending record older than PENDING_GRACE_SECONDS, or a Deleting one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import shared.connections._access as access
from shared import problems
from shared.connections._grants import GrantIndex
from shared.connections._records import DELETING, PENDING, ConnectionRecords, snapshot_of
from shared.connections._snapshot import client_credential, snapshot_oauth
from shared.connectors import ConnectorError
from shared.oauth import OAuthClient, OAuthError, TokenSet
from shared.stores.secrets import SecretStore
from shared.stores.tables import now_iso

log = logging.getLogger("shared.connections._service")  # the logger these lines have always gone to

PENDING_GRACE_SECONDS = 600


class ConnectionRemoval:
    def __init__(
        self,
        records: ConnectionRecords,
        secrets: SecretStore,
        grants: GrantIndex,
        oauth: OAuthClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records
        self._secrets = secrets
        self._grants = grants
        self._oauth = oauth
        self._clock = clock

    def finish_interrupted(self) -> int:
        """Finish creations and deletions a crash or an outage interrupted. Run by the cleanup timer.

        Each record on its own: one that can't be finished now (a store failing, a damaged record) is logged
        and left for the next run, and the rest are still finished. Returns how many were finished."""
        cutoff = now_iso(datetime.fromtimestamp(self._clock() - PENDING_GRACE_SECONDS, UTC))
        stuck = list(
            self._records.query(
                "status eq 'Deleting' or ( status eq 'Pending' and createdAt lt @cutoff )", cutoff=cutoff
            )
        )
        finished = 0
        for entity in stuck:
            try:
                self.finish_delete(entity)
            except Exception as error:  # any one record's failure must not stop the others
                # The type only: a store's or parser's message could quote the record.
                log.warning(
                    "cleanup: connection %s left for the next run (%s)",
                    entity.get("PartitionKey"),
                    type(error).__name__,
                )
            else:
                finished += 1
        return finished

    def finish_delete(self, entity: dict[str, Any]) -> None:
        connection_id = entity["PartitionKey"]
        if entity["status"] != DELETING:
            self._records.merge(connection_id, {"status": DELETING})  # from here on it can't be used
        if entity.get("secretName"):
            self._revoke_tokens(entity)
            self._secrets.delete(entity["secretName"])
        self._records.delete(connection_id)
        for share in access.shares_of(entity):
            self._grants.remove(share.grantee, connection_id)
        log.info("connection %s deleted", connection_id)

    def _revoke_tokens(self, entity: dict[str, Any]) -> None:
        """RFC 7009, best effort: a provider that is down mustn't keep a user from deleting."""
        try:
            snapshot = snapshot_of(entity)
            config = snapshot_oauth(snapshot)
        except (KeyError, TypeError, ValueError, ConnectorError):
            # A damaged snapshot names no provider to revoke at; the secret and the record still go.
            log.warning("connection %s: snapshot unreadable, tokens not revoked", entity["PartitionKey"])
            return
        if config is None or not config.revocation_url:
            return
        _, payload = self._secrets.get_latest(entity["secretName"])
        if "tokens" not in payload:
            return
        try:
            self._oauth.revoke(
                config,
                client_credential(self._secrets, snapshot, payload.get("values", {})),
                TokenSet.from_secret(payload["tokens"]),
            )
        except OAuthError as error:
            log.warning("connection %s: token revocation failed (%s)", entity["PartitionKey"], error.error)

    def discard(self, entity: dict[str, Any]) -> None:
        """Undo a failed creation now if the stores let us; otherwise the record is left for the cleanup timer."""
        try:
            self.finish_delete({**entity, "status": PENDING})
        except problems.Problem:
            log.warning("connection %s left for the cleanup timer", entity["PartitionKey"])
