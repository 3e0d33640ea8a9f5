"""OAuth sign-in for a connection, bound to the browser that signs in (RFC 6749 10.12, RFC 9700 4.7).

    loginUrl  = /api/oauth/start/{ticket}     random, single use, valid for 10 minutes
    GET  it   -> a page showing the connection, its connector, scopes and owner, with a confirm form.
                 The first browser to open it is bound to it by a cookie (the ticket keeps only its hash).
    POST it   -> (binding cookie + the page's CSRF token) the ticket is consumed, a random `state` is
                 issued to that browser, and only now the browser goes to the identity provider.
    callback  -> needs the `state` AND the same browser's binding cookie; then the code is exchanged.

So a loginUrl, or a provider URL, forwarded to someone else leads nowhere: their browser lacks the
cookie, and a callback in it stores nothing. Tickets and states are kept only as SHA-256 hashes with
the connection, the principal they were issued to and the browser's cookie hash; the PKCE verifier
goes into the connection's Key Vault secret, never into a table. A callback is refused with nothing
stored when its state is unknown, replayed, expired, from another browser, foreign (the connection
isn't the issuing principal's), superseded by a newer loginUrl, or started before the connector's
settings changed (a forced replace). Token writes hold the connection's
token lease (_lease.py), so a refresh in flight can't overwrite what the sign-in stored, nor the reverse.

The cookie is `__Host-cg-signin` (Secure, HttpOnly, SameSite=Lax, Path=/) when GATEWAY_PUBLIC_URL is
https. On an http public URL (local development) `__Host-`/Secure cookies are not usable: `requests`
(http.cookiejar) never sends a Secure cookie over http, nor does Safari; Chrome and Firefox only make
an exception for localhost. There it is `cg-signin`, HttpOnly and SameSite=Lax but not Secure, with
Path=/api/oauth/ so it never reaches an invoked backend.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

import shared.connections._access as access
from shared import problems
from shared.auth_schemes import BearerToken
from shared.callers import Principal
from shared.connections._connection_checks import ConnectionTester, sign_in_refusal
from shared.connections._lease import LEASE_FIELD, Lease, LeaseLost, Leases, iso_at
from shared.connections._records import CONNECTED, ERROR, ConnectionRecords, snapshot_of
from shared.connections._snapshot import client_credential, snapshot_oauth
from shared.oauth import (
    OAuthClient,
    OAuthConfig,
    OAuthError,
    authorization_url,
    backend_url_with_host,
    new_pkce,
)
from shared.proxy import AddressPolicy
from shared.stores.errors import translate_errors
from shared.stores.secrets import SecretStore

TICKET_PARTITION = "ticket"
STATE_PARTITION = "state"
SIGNIN_TTL_SECONDS = 600
START_PATH = "/api/oauth/start/"
CALLBACK_PATH = "/api/oauth/callback"
_RANDOM = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def snapshot_hash(record: Mapping[str, Any]) -> str:
    """A fingerprint of the connection's connector snapshot (backend, auth, OAuth settings, policy)."""
    return secret_hash(json.dumps(snapshot_of(dict(record)), sort_keys=True, separators=(",", ":")))


def _same(value: str | None, stored_hash: str | None) -> bool:
    return bool(value and stored_hash) and hmac.compare_digest(secret_hash(str(value)), str(stored_hash))


def bad_state(detail: str) -> problems.Problem:
    return problems.bad_request(
        f"{detail} Start again: POST /api/connections/{{id}}/reauthorize gives a new sign-in link.",
        slug="invalid-oauth-state",
    )


def other_browser(detail: str) -> problems.Problem:
    return problems.Problem(
        403,
        "signin-browser-mismatch",
        "Sign-in belongs to another browser",
        f"{detail} A sign-in completes only in the browser that opened its loginUrl; nothing was stored. "
        "The connection's owner can get a new loginUrl: POST /api/connections/{id}/reauthorize.",
    )


def missing_confirmation() -> problems.Problem:
    return problems.Problem(
        403,
        "signin-confirmation-required",
        "Confirmation required",
        "Sign-in goes to the identity provider only from the confirmation form of its start page "
        "(a POST with the page's CSRF token). Open the loginUrl and confirm there.",
    )


@dataclass(frozen=True)
class BrowserBinding:
    """The sign-in cookie as this deployment sets it (see the module docstring)."""

    name: str
    attributes: str

    @classmethod
    def for_public_url(cls, public_url: str) -> BrowserBinding:
        common = f"HttpOnly; SameSite=Lax; Max-Age={SIGNIN_TTL_SECONDS}"
        if urlsplit(public_url).scheme == "https":
            return cls("__Host-cg-signin", f"Path=/; Secure; {common}")
        return cls("cg-signin", f"Path=/api/oauth/; {common}")

    def header(self, value: str) -> str:
        return f"{self.name}={value}; {self.attributes}"

    def read(self, cookie_header: str | None) -> str | None:
        """This browser's binding value from a Cookie header, if it sent a well-formed one."""
        for pair in (cookie_header or "").split(";"):
            name, _, value = pair.strip().partition("=")
            if name == self.name and _RANDOM.fullmatch(value):
                return value
        return None


@dataclass(frozen=True)
class LoginStart:
    url: str
    secret_part: dict[str, str]  # goes into the connection's secret: {"ticketHash", "verifier"}


@dataclass(frozen=True)
class Consent:
    """What the start page shows before anything goes to the identity provider."""

    connection_id: str
    display_name: str
    connector_id: str
    owner: str
    scopes: tuple[str, ...]
    provider_origin: str  # where the confirmed form is sent on to (the page's CSP allows it)
    csrf: str
    binding: str  # the browser's binding cookie value


@dataclass(frozen=True)
class SignInResult:
    connection_id: str
    status: str
    detail: str
    redirect_to: str | None = None


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def _origin(url: str) -> str:
    """The provider's origin for the page's CSP; "" when the URL's host isn't plain (it could smuggle directives)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _ORIGIN.fullmatch(origin) else ""


class SignIn:
    def __init__(
        self,
        states: TableClient,
        records: ConnectionRecords,
        secret_store: SecretStore,
        oauth: OAuthClient,
        public_url: str,
        leases: Leases,
        clock: Callable[[], float] = time.time,
        address_policy: AddressPolicy | None = None,  # judges a backend host a token response names
        tester: ConnectionTester | None = None,  # runs the connector's test connection with the first token
    ) -> None:
        self._tester = tester
        self._address_policy = address_policy or AddressPolicy()
        self._states = states
        self._records = records
        self._secrets = secret_store
        self._oauth = oauth
        self._leases = leases
        self._public_url = public_url
        self.redirect_url = public_url + CALLBACK_PATH
        self.cookie = BrowserBinding.for_public_url(public_url)
        self._clock = clock

    # -- 1. the loginUrl -------------------------------------------------------------------------

    def begin(
        self, connection_id: str, principal: Principal, config: OAuthConfig, post_login: str | None
    ) -> LoginStart:
        ticket = secrets.token_urlsafe(32)
        verifier, challenge = new_pkce() if config.pkce else ("", None)
        record = self._records.read(connection_id)
        if record is None:
            raise problems.not_found("connection", connection_id)
        with translate_errors("Table Storage"):
            self._states.create_entity(
                {
                    "PartitionKey": TICKET_PARTITION,
                    "RowKey": secret_hash(ticket),
                    "connectionId": connection_id,
                    "principal": principal.id,
                    "groups": json.dumps(sorted(principal.groups)),
                    "expiresAt": iso_at(self._clock() + SIGNIN_TTL_SECONDS),
                    "postLoginRedirect": post_login or "",
                    "challenge": challenge or "",  # public by nature: it goes into the provider URL
                    "snapshotHash": snapshot_hash(record),  # the connector settings the person is shown
                    "browserHash": "",
                    "csrfHash": "",
                }
            )
        url = self._public_url + START_PATH + ticket
        return LoginStart(url, {"ticketHash": secret_hash(ticket), "verifier": verifier})

    def begin_again(self, connection_id: str, principal: Principal, config: OAuthConfig, post_login: str | None) -> str:
        """Reauthorization: a new loginUrl; the connection's secret takes its verifier under the token lease, so
        the tokens it carries over can't be older than a refresh that ran meanwhile."""
        login = self.begin(connection_id, principal, config, post_login)
        with self._leases.hold(connection_id) as lease:
            payload = self._leases.current_payload(lease)
            version = self._secrets.put(
                lease.entity["secretName"], {**payload, "login": login.secret_part, LEASE_FIELD: lease.id}
            )
            try:
                lease.write({"secretVersion": version})
            except LeaseLost:
                raise problems.unavailable("The connection was updated meanwhile; try again.") from None
        return login.url

    def _read(self, partition: str, secret: str) -> dict[str, Any]:
        with translate_errors("Table Storage"):
            try:
                entity = self._states.get_entity(partition, secret_hash(secret))
            except ResourceNotFoundError:
                raise bad_state("This sign-in link is unknown or was already used.") from None
        return {**entity, "etag": entity.metadata["etag"]}

    def _unexpired(self, entity: dict[str, Any]) -> None:
        if entity["expiresAt"] < iso_at(self._clock()):
            raise bad_state("This sign-in link has expired.")

    def _delete(self, entity: dict[str, Any]) -> None:
        """Consume: exactly one request can delete the entity it read."""
        with translate_errors("Table Storage"):
            try:
                self._states.delete_entity(
                    entity["PartitionKey"],
                    entity["RowKey"],
                    etag=entity["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceNotFoundError, ResourceModifiedError):
                raise bad_state("This sign-in link is unknown or was already used.") from None

    def _manageable_record(self, issued: Mapping[str, Any], record: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The connection, while the principal who started the sign-in may still manage it and its connector's
        settings are those the sign-in started with. `record`: the connection as already read."""
        record = record if record is not None else self._records.read(str(issued["connectionId"]))
        starter = Principal(
            issued["principal"], frozenset(), "", "user", groups=frozenset(json.loads(issued["groups"]))
        )
        if record is None or access.MANAGE not in access.permissions_of(record, starter):
            raise bad_state("This sign-in link doesn't belong to a connection its starter may manage.")
        if not hmac.compare_digest(snapshot_hash(record), str(issued.get("snapshotHash") or "")):
            raise problems.Problem(
                409,
                "connector-changed",
                "Connector changed",
                "The connector's settings changed after this sign-in started, so it can't complete; nothing was "
                f"stored. Start again: POST /api/connections/{record['PartitionKey']}/reauthorize.",
            )
        return dict(record)

    # -- 2. the start page -----------------------------------------------------------------------

    def open(self, ticket: str, binding: str | None) -> Consent:
        """The start page: binds the ticket to the first browser that opens it; that browser may reload it."""
        for _ in range(3):
            entity = self._read(TICKET_PARTITION, ticket)
            self._unexpired(entity)
            if entity["browserHash"] and not _same(binding, entity["browserHash"]):
                raise other_browser("This sign-in link was already opened in another browser.")
            binding = binding or secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            try:
                with translate_errors("Table Storage"):
                    self._states.update_entity(
                        {
                            "PartitionKey": TICKET_PARTITION,
                            "RowKey": entity["RowKey"],
                            "browserHash": secret_hash(binding),
                            "csrfHash": secret_hash(csrf),
                        },
                        mode=UpdateMode.MERGE,
                        etag=entity["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # opened at the same moment elsewhere: look again
            record = self._manageable_record(entity)
            config = snapshot_oauth(snapshot_of(record))
            assert config is not None
            return Consent(
                connection_id=record["PartitionKey"],
                display_name=record["displayName"],
                connector_id=record["connectorId"],
                owner=record["owner"],
                scopes=config.scopes,
                provider_origin=_origin(config.authorization_url),
                csrf=csrf,
                binding=binding,
            )
        raise other_browser("This sign-in link is being opened in another browser.")

    # -- 3. the confirmation ---------------------------------------------------------------------

    def confirm(self, ticket: str, binding: str | None, csrf: str | None) -> str:
        """The confirmed form: consume the ticket, issue the state to this browser, return the provider URL."""
        entity = self._read(TICKET_PARTITION, ticket)
        self._unexpired(entity)
        if not _same(binding, entity["browserHash"]):
            raise other_browser("This sign-in link was opened in another browser, or not at all.")
        if not _same(csrf, entity["csrfHash"]):
            raise missing_confirmation()
        self._delete(entity)
        record = self._manageable_record(entity)
        config = snapshot_oauth(snapshot_of(record))
        assert config is not None
        state = secrets.token_urlsafe(32)
        with translate_errors("Table Storage"):
            self._states.create_entity(
                {
                    "PartitionKey": STATE_PARTITION,
                    "RowKey": secret_hash(state),
                    "connectionId": entity["connectionId"],
                    "principal": entity["principal"],
                    "groups": entity["groups"],
                    "expiresAt": iso_at(self._clock() + SIGNIN_TTL_SECONDS),
                    "postLoginRedirect": entity["postLoginRedirect"],
                    "browserHash": entity["browserHash"],
                    "ticketHash": entity["RowKey"],
                    "snapshotHash": entity["snapshotHash"],
                }
            )
        return authorization_url(config, self.redirect_url, state, entity["challenge"] or None)

    # -- 4. the callback -------------------------------------------------------------------------

    def complete(self, params: Mapping[str, str], binding: str | None) -> SignInResult:
        state = params.get("state", "")
        if not state:
            raise bad_state("The callback carries no state.")
        issued = self._read(STATE_PARTITION, state)
        if not _same(binding, issued["browserHash"]):
            raise other_browser("This sign-in was started in another browser.")  # the state stays its starter's
        self._delete(issued)
        self._unexpired(issued)
        connection_id = str(issued["connectionId"])
        self._manageable_record(issued)  # refused before waiting for the lease
        redirect_to = issued.get("postLoginRedirect") or None
        with self._leases.hold(connection_id) as lease:
            self._manageable_record(issued, lease.entity)  # as the lease saw it: from here on the lease keeps it so
            payload = self._leases.current_payload(lease)
            login = payload.get("login") or {}
            if login.get("ticketHash") != issued["ticketHash"]:
                raise bad_state("A newer sign-in was started for this connection; use its link.")
            try:
                result = self._store(lease, lease.entity, payload, params, redirect_to)
            except LeaseLost:
                raise problems.unavailable("The connection was updated meanwhile; sign in again.") from None
        return result

    def _store(
        self,
        lease: Lease,
        record: dict[str, Any],
        payload: dict[str, Any],
        params: Mapping[str, str],
        redirect: str | None,
    ) -> SignInResult:
        connection_id = lease.connection_id
        if params.get("error"):
            reason = f"sign-in failed at the identity provider: {params['error']}"
            if params.get("error_description"):
                reason += f" ({params['error_description'][:200]})"
            status = CONNECTED if record["status"] == CONNECTED else ERROR  # a refused re-consent keeps what works
            lease.write({"status": status, "errorReason": reason})
            return SignInResult(connection_id, status, reason, redirect)
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
                (payload.get("login") or {}).get("verifier") or None,
            )
        except OAuthError as error:
            reason = f"the code exchange failed: {error.error}"
            lease.write({"status": ERROR, "errorReason": reason})
            return SignInResult(connection_id, ERROR, reason, redirect)
        fields: dict[str, Any] = {}
        host = tokens.extra.get(config.backend_host_field) if config.backend_host_field else None
        if host:
            try:
                fields["backendUrl"] = backend_url_with_host(
                    config, snapshot["backendUrl"], str(host), self._address_policy
                )
            except OAuthError as error:  # the tokens are dropped: nothing of this sign-in is stored
                reason = f"the sign-in was refused: {error.description}"
                lease.write({"status": ERROR, "errorReason": reason})
                return SignInResult(connection_id, ERROR, reason, redirect)
        backend = fields.get("backendUrl") or snapshot["backendUrl"]
        refusal = sign_in_refusal(self._tester, snapshot.get("testConnection"), backend, BearerToken(tokens))
        if refusal:  # the tokens are dropped: nothing of this sign-in is stored
            lease.write({"status": ERROR, "errorReason": refusal})
            return SignInResult(connection_id, ERROR, refusal, redirect)
        version = self._secrets.put(
            record["secretName"],
            {"values": payload.get("values", {}), "tokens": tokens.to_secret(), LEASE_FIELD: lease.id},
        )
        lease.write(
            {
                **fields,
                "status": CONNECTED,
                "secretVersion": version,
                "tokenExpiresAt": iso_at(tokens.expires_at),
                "errorReason": "",
                "refreshNotBefore": "",
            }
        )
        return SignInResult(connection_id, CONNECTED, "The connection is signed in and ready.", redirect)

    def purge_expired(self) -> int:
        cutoff = iso_at(self._clock())
        purged = 0
        with translate_errors("Table Storage"):
            for partition in (TICKET_PARTITION, STATE_PARTITION):
                expired = list(
                    self._states.query_entities(
                        "PartitionKey eq @p and expiresAt lt @cutoff", parameters={"p": partition, "cutoff": cutoff}
                    )
                )
                for entity in expired:
                    self._states.delete_entity(partition, entity["RowKey"])
                purged += len(expired)
        return purged
