"""A share: permissions on a connection or a connector granted to one principal or one Entra group.

Connections and connectors name different permissions and check a new share differently, but a share itself,
its id, its JSON and what it grants to a principal are the same for both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.callers._principal import GROUP_GRANTEE_PREFIX, grantee_identities, in_group_namespace


@dataclass(frozen=True)
class Share:
    grantee: str  # a principal id, or group_grantee(<object id>)
    permissions: frozenset[str]

    @property
    def id(self) -> str:
        return share_id(self.grantee)

    def to_json(self) -> dict[str, Any]:
        if in_group_namespace(self.grantee):
            who = {"group": self.grantee.removeprefix(GROUP_GRANTEE_PREFIX)}
        else:
            who = {"principal": self.grantee}
        return {"id": self.id, **who, "permissions": sorted(self.permissions)}


def share_id(grantee: str) -> str:
    return hashlib.sha256(grantee.encode("utf-8")).hexdigest()[:16]


def granted_by_shares(shares: Iterable[Share], principal_id: str, groups: frozenset[str]) -> set[str]:
    """The permissions the shares naming this principal or one of its groups grant together."""
    identities = grantee_identities(principal_id, groups)  # a principal id that looks like a group matches nothing
    granted: set[str] = set()
    for share in shares:
        if share.grantee in identities:
            granted |= share.permissions
    return granted
