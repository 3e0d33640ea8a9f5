"""The problems a connection that can't be used answers with, and what disconnecting one writes."""

from __future__ import annotations

from shared import problems
from shared.connections._records import CONNECTOR_CHANGED, ERROR, UNAUTHENTICATED

# A connection whose connector's backend or auth scheme changed: unusable, and no sign-in backend override left.
DISCONNECTED = {"status": ERROR, "errorReason": CONNECTOR_CHANGED, "backendUrl": ""}


def not_usable(connection_id: str, status: str, reason: str = "") -> problems.Problem:
    if status == ERROR and reason == CONNECTOR_CHANGED:
        return problems.Problem(
            409,
            "connector-changed",
            "Connector changed",
            "The connector's backend or authentication changed after this connection was made, so its credential "
            "is not sent anywhere. An OAuth connection's owner can reauthorize it; other connections are recreated.",
            connectionStatus=status,
        )
    if status in (UNAUTHENTICATED, ERROR):
        return problems.Problem(
            409,
            "connection-needs-reauthorization",
            "Connection needs reauthorization",
            f"The connection is {status}: its owner must sign in. POST /api/connections/{connection_id}/reauthorize "
            "returns a loginUrl to open.",
            connectionStatus=status,
            reauthorizeUrl=f"/api/connections/{connection_id}/reauthorize",
        )
    return problems.Problem(
        409,
        "connection-not-ready",
        "Connection not ready",
        f"The connection is {status}; it can be used once it is Connected.",
        connectionStatus=status,
    )


def connector_changed_meanwhile(connector_id: str) -> problems.Problem:
    return problems.Problem(
        409,
        "connector-changed",
        "Connector changed",
        f"Connector {connector_id!r} was replaced while the connection was being created; create it again.",
    )
