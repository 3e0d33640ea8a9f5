"""OAuth sign-in for a connection: the login URL, and the callback that completes it.

`state` is random, single-use and expires after 10 minutes. The table keeps only its
SHA-256 with the connection and the principal it was issued to; the PKCE verifier
goes into the connection's Key Vault secret, never into a table. A callback is
refused with nothing stored when its state is unknown, replayed, expired, foreign
(the connection isn't the issuing principal's) or superseded by a newer login.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient

from shared import problems
from shared.callers import Principal
from shared.connections import _access as access
from shared.connections._records import CONNECTED, ERROR, ConnectionRecords, snapshot_of
from shared.connections._refresh import iso_at
from shared.connections._snapshot import client_credential, snapshot_oauth
from shared.oauth import OAuthClient, OAuthConfig, OAuthError, authorization_url, new_pkce
from shared.stores.errors import translate_errors
from shared.stores.secrets import SecretStore
from shared.stores.tables import now_iso

STATE_PARTITION = "state"
STATE_TTL_SECONDS = 600
CALLBACK_PATH = "/api/oauth/callback"


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def bad_state(detail: str) -> problems.Problem:
    return problems.bad_request(
        f"{detail} Start again: POST /api/connections/{{id}}/reauthorize gives a new sign-in link.",
        slug="invalid-oauth-state",
    )


@dataclass(frozen=True)
class LoginStart:
    url: str
    secret_part: dict[str, str]  # goes into the connection's secret: {"stateHash", "verifier"}


@dataclass(frozen=True)
class SignInResult:
    connection_id: str
    status: str
    detail: str
    redirect_to: str | None = None


def backend_url_with_host(backend_url: str, host_url: str) -> str:
    """The backend URL with scheme and host taken from `host_url` (e.g. Salesforce's instance_url)."""
    new = urlsplit(host_url)
    old = urlsplit(backend_url)
    if new.scheme != "https" or not new.netloc:
        raise OAuthError("invalid_response", "the token response named a backend host that isn't https")
    return f"https://{new.netloc}{old.path}"


class SignIn:
    def __init__(
        self,
        states: TableClient,
        records: ConnectionRecords,
        secret_store: SecretStore,
        oauth: OAuthClient,
        public_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._states = states
        self._records = records
        self._secrets = secret_store
        self._oauth = oauth
        self.redirect_url = public_url + CALLBACK_PATH
        self._clock = clock

    def begin(
        self, connection_id: str, principal: Principal, config: OAuthConfig, post_login: str | None
    ) -> LoginStart:
        state = secrets.token_urlsafe(32)
        verifier, challenge = new_pkce() if config.pkce else ("", None)
        with translate_errors("Table Storage"):
            self._states.create_entity(
                {
                    "PartitionKey": STATE_PARTITION,
                    "RowKey": state_hash(state),
                    "connectionId": connection_id,
                    "principal": principal.id,
                    "groups": json.dumps(sorted(principal.groups)),
                    "expiresAt": iso_at(self._clock() + STATE_TTL_SECONDS),
                    "postLoginRedirect": post_login or "",
                }
            )
        url = authorization_url(config, self.redirect_url, state, challenge)
        return LoginStart(url, {"stateHash": state_hash(state), "verifier": verifier})

    def _consume_state(self, state: str) -> dict[str, Any]:
        """Read and delete the state entity: exactly one callback can have it."""
        with translate_errors("Table Storage"):
            try:
                entity = self._states.get_entity(STATE_PARTITION, state_hash(state))
                self._states.delete_entity(
                    STATE_PARTITION,
                    state_hash(state),
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceNotFoundError, ResourceModifiedError):
                raise bad_state("This sign-in link is unknown or was already used.") from None
        if entity["expiresAt"] < now_iso(datetime.fromtimestamp(self._clock(), UTC)):
            raise bad_state("This sign-in link has expired.")
        return dict(entity)

    def complete(self, params: Mapping[str, str]) -> SignInResult:
        state = params.get("state", "")
        if not state:
            raise bad_state("The callback carries no state.")
        issued = self._consume_state(state)
        connection_id = issued["connectionId"]
        record = self._records.read(connection_id)
        # Bound to the principal who started it: it must still be allowed to manage the connection.
        starter = Principal(
            issued["principal"], frozenset(), "", "user", groups=frozenset(json.loads(issued["groups"]))
        )
        if record is None or access.MANAGE not in access.permissions_of(record, starter):
            raise bad_state("This sign-in link doesn't belong to a connection its starter may manage.")
        _, payload = self._secrets.get_latest(record["secretName"])
        login = payload.get("login") or {}
        if login.get("stateHash") != state_hash(state):
            raise bad_state("A newer sign-in was started for this connection; use its link.")
        redirect_to = issued.get("postLoginRedirect") or None

        if params.get("error"):
            reason = f"sign-in failed at the identity provider: {params['error']}"
            if params.get("error_description"):
                reason += f" ({params['error_description'][:200]})"
            status = CONNECTED if record["status"] == CONNECTED else ERROR  # a refused re-consent keeps what works
            self._records.merge(connection_id, {"status": status, "errorReason": reason})
            return SignInResult(connection_id, status, reason, redirect_to)
        if not params.get("code"):
            raise bad_state("The callback carries neither a code nor an error.")

        snapshot = snapshot_of(record)
        config = snapshot_oauth(snapshot)
        assert config is not None
        try:
            tokens = self._oauth.exchange_code(
                config,
                client_credential(self._secrets, snapshot, payload.get("values", {})),
                params["code"],
                self.redirect_url,
                login.get("verifier") or None,
            )
            fields: dict[str, Any] = {}
            host = tokens.extra.get(config.backend_host_field) if config.backend_host_field else None
            if host:
                fields["backendUrl"] = backend_url_with_host(snapshot["backendUrl"], str(host))
        except OAuthError as error:
            reason = f"the code exchange failed: {error.error}"
            self._records.merge(connection_id, {"status": ERROR, "errorReason": reason})
            return SignInResult(connection_id, ERROR, reason, redirect_to)
        version = self._secrets.put(
            record["secretName"], {"values": payload.get("values", {}), "tokens": tokens.to_secret()}
        )
        self._records.merge(
            connection_id,
            {
                **fields,
                "status": CONNECTED,
                "secretVersion": version,
                "tokenExpiresAt": iso_at(tokens.expires_at),
                "errorReason": "",
                "refreshNotBefore": "",
                "refreshLeaseUntil": "",
            },
        )
        return SignInResult(connection_id, CONNECTED, "The connection is signed in and ready.", redirect_to)

    def purge_expired(self) -> int:
        cutoff = now_iso(datetime.fromtimestamp(self._clock(), UTC))
        with translate_errors("Table Storage"):
            expired = list(
                self._states.query_entities(
                    "PartitionKey eq @p and expiresAt lt @cutoff", parameters={"p": STATE_PARTITION, "cutoff": cutoff}
                )
            )
            for entity in expired:
                self._states.delete_entity(STATE_PARTITION, entity["RowKey"])
        return len(expired)
