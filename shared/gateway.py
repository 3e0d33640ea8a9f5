"""The gateway's long-lived parts, built once per process on first use.

Built lazily rather than at import: the Functions host imports function_app.py to
index the functions before any request, and that must work without settings.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from azure.data.tables import TableClient

from shared import telemetry
from shared.audit import AuditLog
from shared.callers import CallerAuthenticator, SubscriptionKeyStore
from shared.connections import (
    ConnectionRecords,
    ConnectionService,
    ConnectionTester,
    ConnectionUse,
    GrantIndex,
    Leases,
    SignIn,
    TokenRefresher,
)
from shared.connector_store import ConnectorStore
from shared.connectors import Connector
from shared.invoke import ConnectorRuntimes
from shared.limits import QuotaCounter, RateLimiter, limits_table
from shared.oauth import OAuthClient
from shared.proxy import BackendSession
from shared.settings import Settings
from shared.stores.clients import azure_credential, secret_client
from shared.stores.secrets import SecretStore
from shared.stores.tables import open_tables


@dataclass(frozen=True)
class Gateway:
    settings: Settings
    connectors: ConnectorStore
    connections: ConnectionService
    connection_use: ConnectionUse  # the part of connections the invoke pipeline needs
    runtimes: ConnectorRuntimes  # connectors' parsed operations and templates, by runtime version
    signin: SignIn
    refresher: TokenRefresher
    callers: CallerAuthenticator
    keys: SubscriptionKeyStore
    backend: BackendSession
    # Rate limit and quota counters, shared with every other instance through one table.
    limits_table: TableClient
    rate_limiter: RateLimiter
    quotas: QuotaCounter


def configure_logging(settings: Settings) -> None:
    # JSON lines with correlation ids; OpenTelemetry export only with a connection string.
    credential = azure_credential() if settings.applicationinsights_entra else None
    telemetry.configure(settings.applicationinsights_connection_string, credential)
    logging.getLogger("shared").setLevel(settings.log_level)
    # The SDKs log request URLs and headers at DEBUG/INFO; keep them out of the gateway's logs.
    for noisy in ("azure", "urllib3", "msal", "authlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_gateway(settings: Settings) -> Gateway:
    configure_logging(settings)
    tables = open_tables(settings)
    secrets = SecretStore(secret_client(settings), settings.secret_cache_size)
    keys = SubscriptionKeyStore(tables.keys)
    # Token endpoints are maker-configured URLs too: the same address policy guards token, refresh and revoke calls.
    oauth = OAuthClient(BackendSession(settings.proxy_address_policy))
    records = ConnectionRecords(tables.connections)
    leases = Leases(records, secrets)  # the one writer of a connection's tokens at a time
    backend = BackendSession(settings.proxy_address_policy)
    tester = ConnectionTester(  # test connection calls go the way invocations go: same guard, deadline and cap
        backend,
        (settings.proxy_connect_timeout, settings.proxy_read_timeout),
        settings.proxy_total_timeout,
        settings.proxy_max_response_bytes,
    )
    signin = SignIn(
        tables.states,
        records,
        secrets,
        oauth,
        settings.public_url,
        leases,
        address_policy=settings.proxy_address_policy,
        tester=tester,  # an OAuth connection's credential exists only after sign-in: it is tested there
    )
    counters = limits_table(settings)
    refresher = TokenRefresher(
        records,
        secrets,
        oauth,
        settings.oauth_refresh_margin_seconds,
        settings.oauth_refresh_backoff_seconds,
        signin.redirect_url,
        leases=leases,
    )
    connectors = ConnectorStore(tables.connectors, secrets)
    audit = AuditLog(tables.audit)

    def read_connector(connector_id: str) -> Connector | None:
        registered = connectors.find(connector_id)
        return registered.connector if registered else None

    return Gateway(
        settings=settings,
        connectors=connectors,
        connection_use=ConnectionUse(records, secrets, refresher, audit),
        runtimes=ConnectorRuntimes(read_connector),
        connections=ConnectionService(
            records,
            secrets,
            signin,
            refresher,
            oauth,
            settings.redirect_allowed,
            GrantIndex(tables.grants),
            audit,
            tester=tester,
        ),
        signin=signin,
        refresher=refresher,
        callers=CallerAuthenticator(settings, keys),
        keys=keys,
        backend=backend,
        limits_table=counters,
        rate_limiter=RateLimiter(counters),
        quotas=QuotaCounter(counters),
    )


_built: Gateway | None = None
_build_lock = threading.Lock()


def gateway() -> Gateway:
    """The process's gateway. The first requests of a cold instance arrive together: exactly one builds it
    (one set of clients, caches and in-flight refreshes); a failed build is retried by the next request."""
    global _built
    if _built is None:
        with _build_lock:
            if _built is None:
                _built = build_gateway(Settings.from_env())
    return _built
