"""Who may do what with a connector: its owner, admins, and the makers, principals and groups it is shared with.

Pure functions over what the connector's entity keeps (owner and shares), like a connection's shares:

    use   see the connector and create connections to it, whatever its visibility policy says
    edit  also replace it, delete it and manage its shares (implies use)

The owner is the maker who created it. Connectors stored before owners existed have none: only admins
(and those an admin shares them with to edit) manage them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.callers import (
    GROUP_GRANTEE_PREFIX,
    MAX_GRANTEE_LENGTH,
    Share,
    granted_by_shares,
    group_grantee,
    in_group_namespace,
    is_plausible_grantee,
)
from shared.connectors._errors import ConnectorInvalid

USE = "use"
EDIT = "edit"
CONNECTOR_PERMISSIONS = (USE, EDIT)
MAX_CONNECTOR_SHARES = 100


# A connector's share is a connection's share with other permission names.
ConnectorShare = Share


def shares_to_record(shares: Iterable[ConnectorShare]) -> list[dict[str, Any]]:
    return [{"grantee": s.grantee, "permissions": sorted(s.permissions)} for s in shares]


def shares_from_record(record: Any) -> tuple[ConnectorShare, ...]:
    return tuple(ConnectorShare(s["grantee"], frozenset(s["permissions"])) for s in record or [])


def connector_permissions(
    owner: str, shares: Iterable[ConnectorShare], principal_id: str, groups: frozenset[str], is_admin: bool
) -> frozenset[str]:
    """What the principal may do with the connector (empty: nothing beyond what its visibility policy allows)."""
    if is_admin or (owner and owner == principal_id):
        return frozenset(CONNECTOR_PERMISSIONS)
    granted = granted_by_shares(shares, principal_id, groups)
    if EDIT in granted:
        granted.add(USE)
    return frozenset(granted)


def parse_connector_share(body: Any) -> ConnectorShare:
    """{"principal": id} or {"group": object id}, with "permissions": a list of use/edit (default [use])."""
    if not isinstance(body, dict) or set(body) - {"principal", "group", "permissions"}:
        raise ConnectorInvalid([{"pointer": "", "detail": 'Send {"principal": "<id>"} or {"group": "<id>"}.'}])
    who = [name for name in ("principal", "group") if name in body]
    if len(who) != 1 or not isinstance(body[who[0]], str) or not body[who[0]].strip():
        raise ConnectorInvalid([{"pointer": "/principal", "detail": "Name exactly one principal or one group."}])
    permissions = body.get("permissions", [USE])
    if (
        not isinstance(permissions, list)
        or not permissions
        or not all(isinstance(p, str) and p in CONNECTOR_PERMISSIONS for p in permissions)
    ):
        detail = f"A non-empty list of {', '.join(CONNECTOR_PERMISSIONS)}."
        raise ConnectorInvalid([{"pointer": "/permissions", "detail": detail}])
    value = body[who[0]].strip()
    if not is_plausible_grantee(value):
        detail = f"At most {MAX_GRANTEE_LENGTH} characters, none of them control or format characters."
        raise ConnectorInvalid([{"pointer": f"/{who[0]}", "detail": detail}])
    if who[0] == "principal" and in_group_namespace(value):
        detail = f'A principal id never starts with {GROUP_GRANTEE_PREFIX!r}; send {{"group": "<id>"}}.'
        raise ConnectorInvalid([{"pointer": "/principal", "detail": detail}])
    return ConnectorShare(group_grantee(value) if who[0] == "group" else value, frozenset(permissions))


def with_connector_share(
    shares: Iterable[ConnectorShare], share: ConnectorShare, owner: str
) -> tuple[ConnectorShare, ...]:
    """The shares with `share` added (or replacing that grantee's)."""
    if owner and share.grantee == owner:
        raise ConnectorInvalid([{"pointer": "/principal", "detail": "The owner already holds every permission."}])
    kept = [s for s in shares if s.grantee != share.grantee]
    if len(kept) >= MAX_CONNECTOR_SHARES:
        detail = f"A connector can be shared with at most {MAX_CONNECTOR_SHARES} principals and groups."
        raise ConnectorInvalid([{"pointer": "/principal", "detail": detail}])
    return (*kept, share)
