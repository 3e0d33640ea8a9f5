"""What a connection record keeps of its connector, so an invocation needs no second read.

The snapshot is small: the backend URL, the auth scheme, the OAuth configuration, a
reference (never the value) to the connector's client secret, the connector's policy
(IP filter and limits, shared/policies.py) and the connector's runtime version: a content hash of its
operations, policy templates and custom code. Those can be far larger than Table's 64 KiB property
limit, so they stay in the connector's record; the invoke path keeps them parsed in a per-process cache
keyed by this hash and reads the connector once on a miss (shared/invoke/_runtime.py). Replacing a
connector rewrites the snapshots of its connections.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared import problems
from shared.connector_store import RegisteredConnector
from shared.oauth import OAuthConfig, OAuthConfigError, config_from_record, config_to_record, oauth_config_for
from shared.stores.secrets import SecretStore


def connection_overrides(plain_values: Mapping[str, Any]) -> dict[str, Any]:
    """A connection's own `token:*` values (e.g. token:ClientId, token:TenantId) for the connector's OAuth settings.

    Only parameters the connector declares reach here (validated), and only plain ones: a
    per-connection client secret stays in Key Vault and is read by `client_credential`.
    """
    return {name: value for name, value in plain_values.items() if name.lower().startswith("token:")}


def oauth_config(registered: RegisteredConnector, plain_values: Mapping[str, Any] | None = None) -> OAuthConfig | None:
    """The connector's OAuth configuration; a 400 problem when its settings are unusable."""
    if registered.connector.auth.kind != "oauth2":
        return None
    try:
        return oauth_config_for(registered.connector, connection_overrides(plain_values or {}))
    except OAuthConfigError as error:
        raise problems.invalid_parameters(
            f"The connector's OAuth settings are incomplete: {error}",
            [{"pointer": "/apiProperties/properties/connectionParameters", "detail": str(error)}],
        ) from None


def connector_snapshot(
    registered: RegisteredConnector, plain_values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    config = oauth_config(registered, plain_values)
    return {
        "backendUrl": registered.connector.backend.url,
        "auth": dataclasses.asdict(registered.connector.auth),
        "oauth": config_to_record(config) if config else None,
        "clientSecret": (
            {"name": registered.secret_name, "version": registered.secret_version} if registered.secret_name else None
        ),
        "allowTokenRetrieval": registered.allow_token_retrieval,
        "policy": registered.policy,
        # An OAuth sign-in connection is tested at its callback, when its first token exists.
        "testConnection": dataclasses.asdict(check) if (check := registered.connector.test_connection) else None,
        "runtimeVersion": registered.connector.runtime_version,
    }


def signed_out_snapshot(registered: RegisteredConnector) -> dict[str, Any]:
    """The snapshot of a connection its replaced connector disconnected, when the new OAuth settings are unusable:
    the new backend and nothing to sign in with, so nothing of the old connector stays reachable."""
    return {
        "backendUrl": registered.connector.backend.url,
        "auth": dataclasses.asdict(registered.connector.auth),
        "oauth": None,
        "clientSecret": None,
        "allowTokenRetrieval": False,
        "policy": registered.policy,
        "runtimeVersion": registered.connector.runtime_version,
    }


def snapshot_oauth(snapshot: dict[str, Any]) -> OAuthConfig | None:
    record = snapshot.get("oauth")
    return config_from_record(record) if record else None


def client_credential(secrets: SecretStore, snapshot: dict[str, Any], secret_values: Mapping[str, Any]) -> Any:
    """The client secret (or certificate, for aadcertificate): the connection's own when the connector asks each
    connection for one (a `token:ClientSecret` parameter), else the connector's, from Key Vault (cached by version)."""
    config = snapshot_oauth(snapshot)
    if config is not None and config.client_secret_parameter:
        return secret_values.get(config.client_secret_parameter)
    reference = snapshot.get("clientSecret")
    if not reference or not reference.get("version"):
        return None  # a public client: PKCE only
    stored = secrets.get(reference["name"], reference["version"])
    return stored.get("clientCertificate") or stored.get("clientSecret")
