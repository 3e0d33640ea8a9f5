"""Who a caller is, once authenticated. Pure data and pure claim mapping, no I/O."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.callers._scope import SubscriptionGrant

PrincipalKind = Literal["user", "app", "key"]


@dataclass(frozen=True)
class Principal:
    id: str
    roles: frozenset[str]
    name: str  # for display only: the key's name, or the token's name / preferred_username / ... / sub
    kind: PrincipalKind  # "app": an application acting as itself (app-only token, e.g. a managed identity)
    scopes: frozenset[str] = field(default_factory=frozenset)  # delegated scopes (`scp`) of a user token
    client_id: str | None = None  # the calling application (`azp`, `appid` or `client_id`)
    # The `groups` claim: bare object ids from a tenant's Entra issuer, "<iss>|<id>" from any other issuer.
    groups: frozenset[str] = field(default_factory=frozenset)
    subscription: SubscriptionGrant | None = None  # a key caller's subscription: its scope limits what it reaches
    # Who minted this caller's subscription key, when that was someone else (an admin): audit rows name both.
    minted_by: str | None = None


@dataclass(frozen=True)
class Authentication:
    principal: Principal
    # Lower-case names of the headers / query parameters that carried the gateway credential.
    # The proxy strips exactly these before forwarding, so a credential meant for the backend survives.
    consumed_headers: frozenset[str] = frozenset()
    consumed_query: frozenset[str] = frozenset()
    # The subscription of a subscription key (None for tokens and keys from before subscriptions);
    # handlers check its scope with permits_connector / permits_connection.
    subscription: SubscriptionGrant | None = None


# A share's grantee is a principal id as it is, or a group as "group:<id>". The two namespaces must never meet:
# no principal id may start with the group prefix (a subscription key's principal is chosen by whoever mints it,
# so minting refuses one, and a principal that carries one anyway matches no share).
GROUP_GRANTEE_PREFIX = "group:"


def in_group_namespace(principal_id: str) -> bool:
    return principal_id.startswith(GROUP_GRANTEE_PREFIX)


MAX_GRANTEE_LENGTH = 256  # an Entra "entra|tid|oid" is 80; an OIDC "iss|sub" fits: sub is at most 255 ASCII


def is_plausible_grantee(value: str) -> bool:
    """A principal or group id a share may name: not too long for the record that lists a connection's shares, and
    without control, format (bidi overrides, zero-width) or line-separator characters that would forge lines or
    disguise the name in an audit entry or a listing."""
    return 0 < len(value) <= MAX_GRANTEE_LENGTH and not any(
        unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value
    )


def group_grantee(group: str) -> str:
    return f"{GROUP_GRANTEE_PREFIX}{group}"


def grantee_identities(principal_id: str, groups: frozenset[str]) -> frozenset[str]:
    """The grantees a share may name to reach this principal: its groups, and its id unless that looks like a group."""
    identities = {group_grantee(group) for group in groups}
    if not in_group_namespace(principal_id):
        identities.add(principal_id)
    return frozenset(identities)


def names_from_claim(value: Any) -> frozenset[str]:
    """A JSON list (Entra's `roles`) or one space-separated string (`scp`, some issuers' `roles`)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(name for name in value if isinstance(name, str) and name)
    return frozenset()


def roles_from_claim(value: Any) -> frozenset[str]:
    return names_from_claim(value)


def scopes_from_claims(claims: Mapping[str, Any]) -> frozenset[str]:
    """Entra's `scp`, or RFC 9068's `scope`."""
    return names_from_claim(claims.get("scp")) | names_from_claim(claims.get("scope"))


def _text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def client_id_from_claims(claims: Mapping[str, Any]) -> str | None:
    """The calling application: `azp` (Entra v2, OIDC), `appid` (Entra v1) or `client_id` (RFC 9068)."""
    for name in ("azp", "appid", "client_id"):
        value = _text_claim(claims, name)
        if value:
            return value
    return None


def is_app_only(claims: Mapping[str, Any], scopes: frozenset[str], client_id: str | None) -> bool:
    """Whether no user is involved. Entra's `idtyp` decides when present (an optional claim).
    Otherwise: no delegated scopes, and the subject is the app itself: Entra's app-only tokens
    have `sub` == `oid` (the service principal), RFC 9068's client-credentials tokens `sub` == client id."""
    identity_type = claims.get("idtyp")
    if identity_type in ("app", "user"):
        return identity_type == "app"
    if scopes:
        return False
    subject = _text_claim(claims, "sub")
    return subject is not None and subject in (_text_claim(claims, "oid"), client_id)


# Entra ID's issuers of one tenant (public cloud): v1 and v2 tokens. Only these vouch for a `tid` + `oid`.
ENTRA_ISSUER_TEMPLATES = ("https://sts.windows.net/{tid}/", "https://login.microsoftonline.com/{tid}/v2.0")


def entra_tenant(claims: Mapping[str, Any]) -> str | None:
    """The token's tenant when its (verified) issuer is that very tenant's Entra issuer, else None.

    Any trusted issuer can put any `tid` and `oid` in its tokens; only Entra's own issuer for that
    tenant speaks for Entra's object ids. So a second trusted issuer can't become an Entra user."""
    tenant, issuer = _text_claim(claims, "tid"), _text_claim(claims, "iss")
    if tenant is None or issuer is None:
        return None
    return tenant if any(issuer == template.format(tid=tenant) for template in ENTRA_ISSUER_TEMPLATES) else None


def principal_id_from_claims(claims: Mapping[str, Any]) -> str | None:
    """Entra tokens name a person or app by tenant + object id, stable across the apps they sign in to;
    every other issuer (and an Entra-looking token from another issuer) by issuer + subject.
    None when the token carries neither."""
    tenant, object_id = entra_tenant(claims), _text_claim(claims, "oid")
    if tenant and object_id:
        return f"entra|{tenant}|{object_id}"
    issuer, subject = _text_claim(claims, "iss"), _text_claim(claims, "sub")
    if issuer and subject:
        return f"{issuer}|{subject}"
    return None


def groups_from_claims(claims: Mapping[str, Any]) -> frozenset[str]:
    """Entra group object ids as they are (what makers share with); any other issuer's group names
    prefixed with that issuer, so its `groups` claim can't claim membership of an Entra group."""
    groups = names_from_claim(claims.get("groups"))
    if entra_tenant(claims) is not None:
        return groups
    issuer = _text_claim(claims, "iss") or ""
    return frozenset(f"{issuer}|{group}" for group in groups)


def display_name_from_claims(claims: Mapping[str, Any]) -> str:
    for claim in ("name", "preferred_username", "upn", "unique_name", "app_displayname", "sub"):
        value = _text_claim(claims, claim)
        if value:
            return value
    return ""


def principal_from_claims(claims: Mapping[str, Any]) -> Principal | None:
    principal_id = principal_id_from_claims(claims)
    if principal_id is None:
        return None
    roles = roles_from_claim(claims.get("roles"))
    scopes = scopes_from_claims(claims)
    client_id = client_id_from_claims(claims)
    return Principal(
        id=principal_id,
        roles=roles,
        name=display_name_from_claims(claims),
        kind="app" if is_app_only(claims, scopes, client_id) else "user",
        scopes=scopes,
        client_id=client_id,
        groups=groups_from_claims(claims),
    )
