"""Entra ID specifics against a local Entra-shaped issuer: v1 and v2 issuers, multi-tenant
templates with a tenant allowlist, the signing key issuer check, app-only (managed identity) tokens.

These issuers have Entra's shape but serve from loopback, so they aren't Entra: their principals are
`iss|sub` (test_principal_rules.py covers the `entra|tid|oid` form of Entra's own issuers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.callers import JwtValidator, TokenRejected
from shared.settings import SettingsError
from tests.support.oidc_issuer import DEFAULT_AUDIENCE, OidcIssuer

TENANT_A = str(uuid.uuid4())
TENANT_B = str(uuid.uuid4())
STRANGER = str(uuid.uuid4())
USER_OID = str(uuid.uuid4())
IDENTITY_OID = str(uuid.uuid4())  # a Logic App's system-assigned identity (service principal object id)
LOGIC_APP_CLIENT = str(uuid.uuid4())


def user_claims(tenant: str) -> dict[str, object]:
    return {"tid": tenant, "oid": USER_OID, "sub": "pairwise-sub", "scp": "Invoke", "azp": "client-app", "name": "Ada"}


def managed_identity_claims(tenant: str, **extra: object) -> dict[str, object]:
    """An app-only v1 token as Entra issues it to a managed identity: no user, no scp."""
    return {"tid": tenant, "oid": IDENTITY_OID, "sub": IDENTITY_OID, "appid": LOGIC_APP_CLIENT, **extra}


def rejection(validator: JwtValidator, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        validator.validate(token)
    return str(caught.value)


# --- single-tenant v2 and v1 issuers ---


@pytest.fixture
def v2_issuer() -> Iterator[OidcIssuer]:
    """https://login.microsoftonline.com/{tid}/v2.0 in shape."""
    with OidcIssuer(f"/{TENANT_A}/v2.0") as running:
        yield running


@pytest.fixture
def v1_issuer() -> Iterator[OidcIssuer]:
    """https://sts.windows.net/{tid}/ in shape: the trailing slash is part of the issuer."""
    with OidcIssuer(f"/{TENANT_A}/") as running:
        yield running


def test_v2_user_token_maps_to_tenant_and_object_id(v2_issuer):
    validator = JwtValidator([v2_issuer.issuer], [DEFAULT_AUDIENCE], 60)
    principal = validator.principal_for(v2_issuer.mint(user_claims(TENANT_A)))
    assert principal.id == f"{v2_issuer.issuer}|pairwise-sub"
    assert (principal.kind, principal.scopes, principal.client_id) == ("user", {"Invoke"}, "client-app")


def test_v1_issuer_with_its_trailing_slash_is_discovered_and_trusted(v1_issuer):
    assert v1_issuer.issuer.endswith(f"/{TENANT_A}/")
    validator = JwtValidator([v1_issuer.issuer], [DEFAULT_AUDIENCE], 60)
    principal = validator.principal_for(v1_issuer.mint(user_claims(TENANT_A) | {"azp": None, "appid": "v1-client"}))
    assert (principal.id, principal.client_id) == (f"{v1_issuer.issuer}|pairwise-sub", "v1-client")
    assert v1_issuer.fetches[f"/{TENANT_A}/.well-known/openid-configuration"] == 1
    without_slash = v1_issuer.mint(user_claims(TENANT_A) | {"iss": v1_issuer.issuer.rstrip("/")})
    assert "issuer is not trusted" in rejection(validator, without_slash)


# --- multi-tenant templates ---


@pytest.fixture
def entra() -> Iterator[OidcIssuer]:
    """The v2 issuer shape for any tenant: /{tenantid}/v2.0."""
    with OidcIssuer("/{tenantid}/v2.0") as running:
        yield running


@pytest.fixture
def multi_tenant(entra: OidcIssuer) -> JwtValidator:
    return JwtValidator([entra.issuer], [DEFAULT_AUDIENCE], 60, tenants=[TENANT_A, TENANT_B])


def test_template_issuer_accepts_every_allowed_tenant_each_discovered_on_its_own(entra, multi_tenant):
    assert entra.issuer.endswith("/{tenantid}/v2.0")
    for tenant in (TENANT_A, TENANT_B):
        principal = multi_tenant.principal_for(entra.mint(user_claims(tenant), tenant=tenant))
        assert principal.id == f"{entra.issuer_for(tenant)}|pairwise-sub"
        assert entra.fetches[entra.discovery_path_for(tenant)] == 1
        assert entra.fetches[entra.jwks_path_for(tenant)] == 1
    assert entra.fetches["/common/v2.0/.well-known/openid-configuration"] == 0


def test_tenant_outside_the_allowlist_is_rejected_without_contacting_its_metadata(entra, multi_tenant):
    token = entra.mint(user_claims(STRANGER), tenant=STRANGER)
    assert rejection(multi_tenant, token) == (
        "The token's tenant is not allowed here; ask for it to be added to the allowlist."
    )
    assert sum(entra.fetches.values()) == 0


def test_tid_must_match_the_tenant_in_the_issuer(entra, multi_tenant):
    mixed = entra.mint(user_claims(TENANT_B) | {"iss": entra.issuer_for(TENANT_A)})
    assert rejection(multi_tenant, mixed) == "The token's 'tid' claim doesn't match its issuer."
    no_tid = entra.mint(user_claims(TENANT_A) | {"tid": None}, tenant=TENANT_A)
    assert rejection(multi_tenant, no_tid) == "The token's 'tid' claim doesn't match its issuer."


def test_template_issuers_need_a_tenant_allowlist(entra):
    with pytest.raises(SettingsError, match="AUTH_ENTRA_TENANTS must list"):
        JwtValidator([entra.issuer], [DEFAULT_AUDIENCE], 60)


@pytest.mark.parametrize(
    "issuer", ["https://login.microsoftonline.com/{tenantId}/v2.0", "https://x/{tenantid}/{tenantid}"]
)
def test_issuers_with_other_braces_are_refused(issuer):
    with pytest.raises(SettingsError, match="placeholder"):
        JwtValidator([issuer], [DEFAULT_AUDIENCE], 60, tenants=[TENANT_A])


def test_v1_and_v2_templates_side_by_side():
    with OidcIssuer("/{tenantid}/v2.0") as v2, OidcIssuer("/{tenantid}/") as v1:
        validator = JwtValidator([v2.issuer, v1.issuer], [DEFAULT_AUDIENCE], 60, tenants=[TENANT_A])
        for entra in (v1, v2):
            token = entra.mint(user_claims(TENANT_A), tenant=TENANT_A)
            assert validator.principal_for(token).id == f"{entra.issuer_for(TENANT_A)}|pairwise-sub"


# --- the signing key issuer check ---


def test_keys_naming_a_templated_issuer_sign_for_each_tenant(entra, multi_tenant):
    entra.extra_jwk_members = {"issuer": entra.issuer}  # "…/{tenantid}/v2.0", as Entra's common JWKS has it
    assert multi_tenant.validate(entra.mint(user_claims(TENANT_B), tenant=TENANT_B))["tid"] == TENANT_B


def test_keys_naming_another_issuer_do_not_sign_for_this_one(entra, multi_tenant):
    entra.extra_jwk_members = {"issuer": entra.issuer_for(TENANT_A)}
    assert multi_tenant.validate(entra.mint(user_claims(TENANT_A), tenant=TENANT_A))["tid"] == TENANT_A
    token = entra.mint(user_claims(TENANT_B), tenant=TENANT_B)
    assert rejection(multi_tenant, token) == "The token is signed with a key its issuer doesn't publish."


# --- app-only tokens: managed identities and daemons ---


def test_managed_identity_token_is_an_app_principal(entra, multi_tenant):
    token = entra.mint(managed_identity_claims(TENANT_A, idtyp="app", roles=["Invoke"]), tenant=TENANT_A)
    principal = multi_tenant.principal_for(token)
    assert principal.id == f"{entra.issuer_for(TENANT_A)}|{IDENTITY_OID}"
    assert (principal.kind, principal.client_id, principal.roles) == ("app", LOGIC_APP_CLIENT, {"Invoke"})
    assert principal.scopes == frozenset()
    assert principal.name == IDENTITY_OID


def test_app_only_is_recognised_without_idtyp_and_without_roles(entra, multi_tenant):
    principal = multi_tenant.principal_for(entra.mint(managed_identity_claims(TENANT_A), tenant=TENANT_A))
    assert (principal.kind, principal.roles) == ("app", frozenset())


def test_idtyp_user_or_delegated_scopes_make_a_user(entra, multi_tenant):
    claims = managed_identity_claims(TENANT_A)
    assert multi_tenant.principal_for(entra.mint(claims | {"idtyp": "user"}, tenant=TENANT_A)).kind == "user"
    assert multi_tenant.principal_for(entra.mint(claims | {"scp": "Invoke"}, tenant=TENANT_A)).kind == "user"


def test_client_credentials_token_of_another_issuer_is_an_app():
    with OidcIssuer() as issuer:
        validator = JwtValidator([issuer.issuer], [DEFAULT_AUDIENCE], 60)
        daemon = validator.principal_for(issuer.mint({"sub": "svc-7", "client_id": "svc-7"}))
        assert (daemon.kind, daemon.client_id, daemon.id) == ("app", "svc-7", f"{issuer.issuer}|svc-7")
