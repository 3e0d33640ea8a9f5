"""What a connection record keeps of its connector, so an invocation needs no second read.

The snapshot is small: the backend URL, the auth scheme, the OAuth configuration and a
reference (never the value) to the connector's client secret. Replacing a connector
rewrites the snapshots of its connections.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shared import problems
from shared.connector_store import RegisteredConnector
from shared.oauth import OAuthConfig, OAuthConfigError, config_from_record, config_to_record, oauth_config_for
from shared.stores.secrets import SecretStore


def oauth_config(registered: RegisteredConnector) -> OAuthConfig | None:
    """The connector's OAuth configuration; a 400 problem when its settings are unusable."""
    if registered.connector.auth.kind != "oauth2":
        return None
    try:
        return oauth_config_for(registered.connector)
    except OAuthConfigError as error:
        raise problems.invalid_parameters(
            f"The connector's OAuth settings are incomplete: {error}",
            [{"pointer": "/apiProperties/properties/connectionParameters", "detail": str(error)}],
        ) from None


def connector_snapshot(registered: RegisteredConnector) -> dict[str, Any]:
    config = oauth_config(registered)
    return {
        "backendUrl": registered.connector.backend.url,
        "auth": dataclasses.asdict(registered.connector.auth),
        "oauth": config_to_record(config) if config else None,
        "clientSecret": (
            {"name": registered.secret_name, "version": registered.secret_version} if registered.secret_name else None
        ),
        "allowTokenRetrieval": registered.allow_token_retrieval,
    }


def snapshot_oauth(snapshot: dict[str, Any]) -> OAuthConfig | None:
    record = snapshot.get("oauth")
    return config_from_record(record) if record else None


def client_credential(secrets: SecretStore, snapshot: dict[str, Any]) -> Any:
    """The connector's client secret (or certificate, for aadcertificate) from Key Vault, cached by version."""
    reference = snapshot.get("clientSecret")
    if not reference or not reference.get("version"):
        return None  # a public client: PKCE only
    stored = secrets.get(reference["name"], reference["version"])
    return stored.get("clientCertificate") or stored.get("clientSecret")
