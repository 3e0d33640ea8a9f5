"""What a subscription may reach, like an APIM subscription's scope (all APIs, one API, one product).

A scope is text: "all", "connector:{connectorId}" or "connection:{connectionId}". Pure, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL_SCOPE = "all"
CONNECTOR_PREFIX = "connector:"
CONNECTION_PREFIX = "connection:"
# Connector ids follow this rule; connection ids (hex) fit it too.
_SCOPE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SCOPE_RULE = (
    "A scope is 'all', 'connector:{connectorId}' or 'connection:{connectionId}'; an id has 1-64 letters,"
    " digits, '_' or '-', starting with a letter or digit."
)


def parse_scope(raw: object) -> str:
    """The canonical scope text, or ValueError saying what a scope looks like."""
    if not isinstance(raw, str):
        raise ValueError(SCOPE_RULE)
    text = raw.strip()
    if text.lower() == ALL_SCOPE:
        return ALL_SCOPE
    for prefix in (CONNECTOR_PREFIX, CONNECTION_PREFIX):
        if text.lower().startswith(prefix) and _SCOPE_ID_PATTERN.fullmatch(text[len(prefix) :]):
            return prefix + text[len(prefix) :]
    raise ValueError(SCOPE_RULE)


@dataclass(frozen=True)
class SubscriptionGrant:
    """The subscription a caller's key belongs to; handlers enforce its scope."""

    id: str
    scope: str

    @property
    def is_unrestricted(self) -> bool:
        return self.scope == ALL_SCOPE

    def permits_connector(self, connector_id: str) -> bool:
        """Whether the subscription reaches the connector as a whole (register, read, connect).
        A connection-scoped subscription reaches only its one connection, never a connector."""
        return self.is_unrestricted or self.scope == CONNECTOR_PREFIX + connector_id

    def permits_connection(self, connection_id: str, connector_id: str) -> bool:
        """Whether the subscription reaches this connection (of that connector)."""
        if self.scope.startswith(CONNECTION_PREFIX):
            return self.scope == CONNECTION_PREFIX + connection_id
        return self.permits_connector(connector_id)
