"""What in a replaced connector decides where its connections' credentials go.

A new backend (scheme, host, port, basePath), a new auth scheme (kind, header or query name, which
parameter holds what) or new OAuth settings (authorization, token and refresh URLs) would send existing
connections' API keys, passwords, tokens or refresh tokens somewhere their owners never agreed to.
"""

from __future__ import annotations

from shared.connectors._model import Connector


def _set_schemes(connector: Connector) -> list[tuple]:
    """Each parameter set's name, scheme and OAuth settings: where a connection made with that set sends what."""
    return [(s.name, s.auth, s.oauth_settings) for s in connector.parameter_sets]


def credential_route_changes(old: Connector, new: Connector) -> list[str]:
    """The parts that changed: "backend", "authentication", "oAuthSettings" (empty: credentials go where they went)."""
    changes = []
    if old.backend != new.backend:
        changes.append("backend")
    if old.auth != new.auth or _set_schemes(old) != _set_schemes(new):
        changes.append("authentication")
    if old.oauth_settings != new.oauth_settings:
        changes.append("oAuthSettings")
    return changes
