"""Who a caller is, once authenticated. Pure data and pure claim mapping, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Principal:
    id: str
    roles: frozenset[str]
    name: str  # for display only: the key's name, or the token's name / preferred_username / sub
    kind: Literal["user", "key"]


@dataclass(frozen=True)
class Authentication:
    principal: Principal
    # Lower-case names of the headers / query parameters that carried the gateway credential.
    # The proxy strips exactly these before forwarding, so a credential meant for the backend survives.
    consumed_headers: frozenset[str] = frozenset()
    consumed_query: frozenset[str] = frozenset()


def roles_from_claim(value: Any) -> frozenset[str]:
    """The `roles` claim is a JSON list (Entra) or, from some issuers, one space-separated string."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(role for role in value if isinstance(role, str) and role)
    return frozenset()


def principal_id_from_claims(claims: Mapping[str, Any]) -> str | None:
    """Entra tokens name a person by tenant + object id, stable across the apps they sign in to;
    other issuers by issuer + subject. None when the token carries neither."""
    tenant, object_id = claims.get("tid"), claims.get("oid")
    if isinstance(tenant, str) and tenant and isinstance(object_id, str) and object_id:
        return f"entra|{tenant}|{object_id}"
    issuer, subject = claims.get("iss"), claims.get("sub")
    if isinstance(issuer, str) and issuer and isinstance(subject, str) and subject:
        return f"{issuer}|{subject}"
    return None


def display_name_from_claims(claims: Mapping[str, Any]) -> str:
    for claim in ("name", "preferred_username", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return ""


def principal_from_claims(claims: Mapping[str, Any]) -> Principal | None:
    principal_id = principal_id_from_claims(claims)
    if principal_id is None:
        return None
    return Principal(
        id=principal_id,
        roles=roles_from_claim(claims.get("roles")),
        name=display_name_from_claims(claims),
        kind="user",
    )
