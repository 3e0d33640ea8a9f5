"""Who may do what with a connection: its owner, and the principals and groups it is shared with.

Pure functions over the connection record, so authorization is decided from the same
single point read an invocation already makes.

    use     invoke the connection
    manage  also share, reauthorize and delete it (and read its audit log)
    token   retrieve its access token, where the connector allows that

The owner holds all three. `manage` includes `use`.
"""

from __future__ import annotations

import json
from typing import Any

from shared import problems
from shared.callers import (
    GROUP_GRANTEE_PREFIX,
    MAX_GRANTEE_LENGTH,
    Principal,
    Share,
    granted_by_shares,
    group_grantee,
    in_group_namespace,
    is_plausible_grantee,
)

USE = "use"
MANAGE = "manage"
TOKEN = "token"  # noqa: S105 - a permission name
PERMISSIONS = (USE, MANAGE, TOKEN)
MAX_SHARES = 100
# A Table string property holds 32K UTF-16 characters: past this the write would fail as a 503, not a clear 400.
MAX_SHARES_CHARACTERS = 30_000


def shares_of(entity: dict[str, Any]) -> list[Share]:
    return [Share(s["grantee"], frozenset(s["permissions"])) for s in json.loads(entity.get("shares") or "[]")]


def shares_property(shares: list[Share]) -> str:
    return json.dumps([{"grantee": s.grantee, "permissions": sorted(s.permissions)} for s in shares])


def permissions_of(entity: dict[str, Any], principal: Principal) -> frozenset[str]:
    if entity["owner"] == principal.id:
        return frozenset(PERMISSIONS)
    granted = granted_by_shares(shares_of(entity), principal.id, principal.groups)
    if MANAGE in granted:
        granted.add(USE)
    return frozenset(granted)


def in_scope(entity: dict[str, Any], principal: Principal) -> bool:
    """Whether a key caller's subscription scope reaches this connection (JWT callers have no scope)."""
    grant = principal.subscription
    return grant is None or grant.permits_connection(entity["PartitionKey"], entity["connectorId"])


def require(entity: dict[str, Any] | None, principal: Principal, permission: str, connection_id: str) -> None:
    """404 for a connection the principal can't see at all (no probing); 403 when it lacks this permission
    or its subscription key's scope doesn't reach the connection."""
    granted = permissions_of(entity, principal) if entity is not None else frozenset()
    if not granted:
        raise problems.not_found("connection", connection_id)
    if permission not in granted:
        raise problems.forbidden(
            f"You may {', '.join(sorted(granted))} this connection, but not {permission} it. "
            "Ask its owner or a manager to share it with that permission."
        )
    assert entity is not None
    grant = principal.subscription
    if grant is not None and not grant.permits_connection(connection_id, entity["connectorId"]):
        raise problems.forbidden(f"This subscription key is limited to {grant.scope}; it can't reach this connection.")


def parse_share(body: Any) -> Share:
    """{"principal": id} or {"group": object id}, with "permissions": a list of use/manage/token."""
    if not isinstance(body, dict) or set(body) - {"principal", "group", "permissions"}:
        raise problems.bad_request('Send {"principal": "<id>"} or {"group": "<id>"}, and "permissions".')
    who = [name for name in ("principal", "group") if name in body]
    if len(who) != 1 or not isinstance(body[who[0]], str) or not body[who[0]].strip():
        raise problems.invalid_parameters(
            "Name exactly one principal or one group.", [{"pointer": "/principal", "detail": "a non-empty string"}]
        )
    permissions = body.get("permissions", [USE])
    if (
        not isinstance(permissions, list)
        or not permissions
        or not all(isinstance(p, str) and p in PERMISSIONS for p in permissions)
    ):
        raise problems.invalid_parameters(
            f"permissions must be a non-empty list of {', '.join(PERMISSIONS)}.",
            [{"pointer": "/permissions", "detail": f"a list of {', '.join(PERMISSIONS)}"}],
        )
    value = body[who[0]].strip()
    if not is_plausible_grantee(value):
        raise problems.invalid_parameters(
            f"A {who[0]} id has at most {MAX_GRANTEE_LENGTH} characters, none of them control or format characters.",
            [{"pointer": f"/{who[0]}", "detail": "a plausible id"}],
        )
    if who[0] == "principal" and in_group_namespace(value):
        raise problems.invalid_parameters(
            f"A principal id never starts with {GROUP_GRANTEE_PREFIX!r}; to share with a group, send "
            '{"group": "<id>"}.',
            [{"pointer": "/principal", "detail": "a principal id, not a group"}],
        )
    return Share(group_grantee(value) if who[0] == "group" else value, frozenset(permissions))


def with_share(shares: list[Share], share: Share, owner: str, granter: frozenset[str]) -> list[Share]:
    """`shares` with `share` added (or replacing that grantee's). `granter` is what the sharer holds: a manager
    passes on only that, so `manage` can't mint `token` (for itself or an accomplice) that the owner withheld."""
    if share.grantee == owner:
        raise problems.bad_request("The owner already holds every permission.")
    withheld = share.permissions - granter
    if withheld:
        raise problems.forbidden(
            f"You may share only permissions you hold yourself; you don't hold {', '.join(sorted(withheld))}."
        )
    kept = [s for s in shares if s.grantee != share.grantee]
    if len(kept) >= MAX_SHARES:
        raise problems.bad_request(f"A connection can be shared with at most {MAX_SHARES} principals and groups.")
    if len(shares_property([*kept, share])) > MAX_SHARES_CHARACTERS:
        raise problems.bad_request("The connection's shares would no longer fit its record; remove some first.")
    return [*kept, share]
