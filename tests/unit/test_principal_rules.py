"""Who a verified token names: `entra|tid|oid` only from that tenant's own Entra issuer, `iss|sub` from
every other issuer, and groups namespaced by issuer unless Entra's. Pure claim mapping, no signatures."""

from __future__ import annotations

import pytest

from shared.callers import Principal, checked_principal_id, grantee_identities
from shared.callers._principal import entra_tenant, principal_from_claims
from shared.connections._access import Share, permissions_of, shares_property
from shared.connectors._sharing import ConnectorShare, connector_permissions

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
V1 = f"https://sts.windows.net/{TENANT}/"
V2 = f"https://login.microsoftonline.com/{TENANT}/v2.0"
OTHER_ISSUER = "https://idp.example.com/realms/acme"
GROUP = "0b7c3c1e-7a5b-4c8e-9a57-0f6c2a1c9d11"


def claims(issuer: str, **extra: object) -> dict[str, object]:
    return {"iss": issuer, "tid": TENANT, "oid": "victim-oid", "sub": "pairwise-sub", "groups": [GROUP], **extra}


@pytest.mark.parametrize("issuer", [V1, V2])
def test_the_tenants_own_entra_issuer_names_tenant_and_object_id(issuer: str) -> None:
    principal = principal_from_claims(claims(issuer))
    assert principal is not None
    assert principal.id == f"entra|{TENANT}|victim-oid"
    assert principal.groups == {GROUP}  # Entra group object ids, as makers share with them


@pytest.mark.parametrize(
    "issuer",
    [
        OTHER_ISSUER,  # a second trusted issuer that copies someone's tid and oid
        f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",  # Entra, but another tenant than the tid
        f"https://sts.windows.net/{OTHER_TENANT}/",
        f"https://login.microsoftonline.com/{TENANT}/v2.0/",  # not exactly Entra's issuer
        f"https://sts.windows.net/{TENANT}",
        f"http://127.0.0.1:5000/{TENANT}/v2.0",  # Entra-shaped, but not Entra
        f"https://login.microsoftonline.com.evil.example/{TENANT}/v2.0",
    ],
)
def test_any_other_issuer_names_issuer_and_subject_with_namespaced_groups(issuer: str) -> None:
    principal = principal_from_claims(claims(issuer))
    assert principal is not None
    assert principal.id == f"{issuer}|pairwise-sub"
    assert principal.groups == {f"{issuer}|{GROUP}"}
    assert GROUP not in principal.groups


def test_entra_tenant_needs_both_the_issuer_and_a_matching_tid() -> None:
    assert entra_tenant({"iss": V2, "tid": TENANT}) == TENANT
    assert entra_tenant({"iss": V2}) is None
    assert entra_tenant({"iss": V2, "tid": OTHER_TENANT}) is None
    assert entra_tenant({"iss": V2, "tid": TENANT.upper()}) is None
    assert entra_tenant({"tid": TENANT}) is None


def test_an_entra_token_without_oid_falls_back_to_issuer_and_subject() -> None:
    principal = principal_from_claims(claims(V2, oid=None))
    assert principal is not None and principal.id == f"{V2}|pairwise-sub"


def test_a_token_without_subject_or_entra_identity_names_nobody() -> None:
    assert principal_from_claims({"iss": OTHER_ISSUER, "tid": TENANT, "oid": "victim-oid"}) is None


def test_no_groups_claim_means_no_groups_for_either_kind() -> None:
    for issuer in (V2, OTHER_ISSUER):
        principal = principal_from_claims(claims(issuer, groups=None))
        assert principal is not None and principal.groups == frozenset()


# --- principals and groups: distinct namespaces (shares name groups as "group:<id>") ---


def test_a_principal_id_in_the_group_namespace_matches_no_share() -> None:

    assert grantee_identities("group:g1", frozenset({"g2"})) == {"group:g2"}
    assert grantee_identities("iss|alice", frozenset({"g2"})) == {"iss|alice", "group:g2"}
    # A key minted before the rule, whose principal id is a group's grantee form, reaches neither kind of share.
    key_caller = Principal(id="group:g1", roles=frozenset(), name="k", kind="key")
    entity = {"owner": "iss|owner", "shares": shares_property([Share("group:g1", frozenset({"use", "manage"}))])}
    assert permissions_of(entity, key_caller) == frozenset()
    member = Principal(id="iss|bob", roles=frozenset(), name="b", kind="user", groups=frozenset({"g1"}))
    assert permissions_of(entity, member) == {"use", "manage"}
    shares = [ConnectorShare("group:g1", frozenset({"edit"}))]
    assert connector_permissions("iss|owner", shares, "group:g1", frozenset(), False) == frozenset()


@pytest.mark.parametrize("principal_id", ["group:g1", " group:g1"])
def test_no_key_is_minted_for_a_principal_id_in_the_group_namespace(principal_id: str) -> None:
    with pytest.raises(ValueError, match="group"):
        checked_principal_id(principal_id)
    assert checked_principal_id("entra|t|o") == "entra|t|o"  # an admin may mint a key to act as a user
    assert checked_principal_id("groupie") == "groupie"
