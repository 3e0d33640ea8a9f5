"""What in a replaced connector decides where its connections' credentials go.

A new backend (scheme, host, port, basePath), a new auth scheme (kind, header or query name, which
parameter holds what) or new OAuth settings (authorization, token and refresh URLs) would send existing
connections' API keys, passwords, tokens or refresh tokens somewhere their owners never agreed to.
"""

from __future__ import annotations

from shared.connectors._model import Connector


def credential_route_changes(old: Connector, new: Connector) -> list[str]:
    """The parts that changed: "backend", "authentication", "oAuthSettings" (empty: credentials go where they went)."""
    changes = []
    if old.backend != new.backend:
        changes.append("backend")
    if old.auth != new.auth:
        changes.append("authentication")
    if old.oauth_settings != new.oauth_settings:
        changes.append("oAuthSettings")
    return changes
