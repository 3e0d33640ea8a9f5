"""JWT options end to end through Settings.from_env and the CallerAuthenticator: where the token
is, what is consumed, and the RFC 6750 answers (status, error, error_description)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient

from shared.callers import CallerAuthenticator, SubscriptionKeyStore
from shared.problems import Problem
from shared.settings import Settings, SettingsError
from tests.support.oidc_issuer import DEFAULT_AUDIENCE, OidcIssuer

TENANT = str(uuid.uuid4())
REQUIRE_INVOKE = '[{"name": "scp", "match": "any", "separator": " ", "values": ["Invoke"]}]'


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


def settings_env(issuers: str, **env: str) -> dict[str, str]:
    return {
        "KEY_VAULT_URL": "https://vault.example",
        "TABLES_CONNECTION_STRING": "UseDevelopmentStorage=true",  # never contacted: no subscription keys here
        "AUTH_OIDC_ISSUERS": issuers,
        "AUTH_OIDC_AUDIENCES": DEFAULT_AUDIENCE,
        **env,
    }


def authenticator_for(issuers: str, **env: str) -> CallerAuthenticator:
    settings = Settings.from_env(settings_env(issuers, **env))
    unused_table = TableClient.from_connection_string(settings.tables_connection_string or "", "unused")
    return CallerAuthenticator(settings, SubscriptionKeyStore(unused_table))


def problem_of(authenticator: CallerAuthenticator, headers: dict[str, str], query: dict[str, str]) -> Problem:
    with pytest.raises(Problem) as caught:
        authenticator.authenticate(headers, query)
    return caught.value


# --- where the token is ---


def test_token_in_the_query_parameter_is_consumed_and_the_header_left_for_the_backend(issuer):
    authenticator = authenticator_for(issuer.issuer, AUTH_TOKEN_QUERY="access_token")
    result = authenticator.authenticate(
        {"Authorization": "Bearer meant.for.backend"}, {"access_token": issuer.mint(), "page": "2"}
    )
    assert result.principal.id == f"{issuer.issuer}|user-1"
    assert (result.consumed_query, result.consumed_headers) == ({"access_token"}, frozenset())


def test_query_tokens_are_ignored_unless_configured(issuer):
    problem = problem_of(authenticator_for(issuer.issuer), {}, {"access_token": issuer.mint()})
    assert problem.status == 401
    assert problem.headers["WWW-Authenticate"] == 'Bearer realm="connector-gateway"'


def test_token_in_a_custom_header_is_consumed(issuer):
    authenticator = authenticator_for(issuer.issuer, AUTH_TOKEN_HEADER="X-Gateway-Token")
    result = authenticator.authenticate({"X-GATEWAY-TOKEN": issuer.mint()}, {})
    assert result.consumed_headers == {"x-gateway-token"}
    missing = problem_of(authenticator, {"Authorization": f"Bearer {issuer.mint()}"}, {})
    assert "Send a token in the 'X-Gateway-Token' header" in missing.detail


def test_no_credential_names_every_place_a_token_may_be(issuer):
    authenticator = authenticator_for(issuer.issuer, AUTH_TOKEN_QUERY="access_token")
    problem = problem_of(authenticator, {}, {})
    assert problem.detail == (
        "Send a bearer token in the Authorization header or the 'access_token' query parameter,"
        " or a subscription key in the 'Ocp-Apim-Subscription-Key' header."
    )
    assert problem.headers["WWW-Authenticate"] == 'Bearer realm="connector-gateway"'


def test_empty_token_is_invalid(issuer):
    problem = problem_of(authenticator_for(issuer.issuer), {"Authorization": "Bearer "}, {})
    assert (problem.status, problem.detail) == (401, "The token is empty.")


# --- answers to rejected tokens ---


def test_bad_token_gets_401_with_invalid_token_and_a_description(issuer):
    expired = issuer.mint({"exp": int(time.time()) - 3600, "iat": None, "nbf": None})
    problem = problem_of(authenticator_for(issuer.issuer), {"Authorization": f"Bearer {expired}"}, {})
    assert problem.status == 401
    assert problem.headers["WWW-Authenticate"] == (
        'Bearer realm="connector-gateway", error="invalid_token", error_description="The token has expired."'
    )
    for segment in expired.split("."):
        assert segment not in f"{problem.to_dict()} {problem.headers}"


def test_missing_required_claim_with_the_default_status_is_401(issuer):
    authenticator = authenticator_for(issuer.issuer, AUTH_REQUIRED_CLAIMS=REQUIRE_INVOKE)
    problem = problem_of(authenticator, {"Authorization": f"Bearer {issuer.mint({'scp': 'User.Read'})}"}, {})
    assert problem.status == 401
    assert 'error="invalid_token"' in problem.headers["WWW-Authenticate"]
    assert problem.detail == "The token's 'scp' claim must include one of: Invoke."


def test_status_403_answers_missing_claims_with_insufficient_scope(issuer):
    authenticator = authenticator_for(
        issuer.issuer, AUTH_REQUIRED_CLAIMS=REQUIRE_INVOKE, AUTH_FAILED_VALIDATION_STATUS="403"
    )
    lacking = problem_of(authenticator, {"Authorization": f"Bearer {issuer.mint({'scp': 'User.Read'})}"}, {})
    assert lacking.status == 403
    assert lacking.headers["WWW-Authenticate"] == (
        'Bearer realm="connector-gateway", error="insufficient_scope",'
        " error_description=\"The token's 'scp' claim must include one of: Invoke.\""
    )
    bad = problem_of(authenticator, {"Authorization": f"Bearer {issuer.mint({'aud': 'elsewhere'})}"}, {})
    assert bad.status == 403
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    assert authenticator.authenticate({"Authorization": f"Bearer {issuer.mint({'scp': 'Invoke'})}"}, {})
    assert problem_of(authenticator, {}, {}).status == 401  # no credential at all stays a plain 401


def test_configured_message_replaces_the_reason(issuer):
    message = "Unauthorized. Access token is missing or invalid."
    authenticator = authenticator_for(issuer.issuer, AUTH_FAILED_VALIDATION_MESSAGE=message)
    problem = problem_of(authenticator, {"Authorization": f"Bearer {issuer.mint({'aud': 'elsewhere'})}"}, {})
    assert problem.detail == message
    assert f'error_description="{message}"' in problem.headers["WWW-Authenticate"]


# --- the whole Entra configuration from settings ---


def test_entra_multi_tenant_settings_with_expiry_optional():
    with OidcIssuer("/{tenantid}/v2.0") as entra:
        authenticator = authenticator_for(
            entra.issuer,
            AUTH_ENTRA_TENANTS=TENANT.upper(),
            AUTH_REQUIRE_EXPIRATION="false",
        )
        claims = {"oid": "o-1", "sub": "o-1", "idtyp": "app", "roles": ["Invoke"], "appid": "logic-app", "exp": None}
        result = authenticator.authenticate({"Authorization": f"Bearer {entra.mint(claims, tenant=TENANT)}"}, {})
        principal = result.principal
        # Entra-shaped but served from loopback: not Entra's issuer, so issuer + subject.
        assert (principal.id, principal.kind, principal.client_id) == (
            f"{entra.issuer_for(TENANT)}|o-1",
            "app",
            "logic-app",
        )
        assert principal.roles == {"Invoke"}


# --- settings ---


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUTH_REQUIRED_CLAIMS": '{"name": "scp"}'}, "AUTH_REQUIRED_CLAIMS"),
        ({"AUTH_ENTRA_TENANTS": "contoso.com"}, "AUTH_ENTRA_TENANTS"),
        ({"AUTH_OIDC_SIGNING_KEYS": "not a key"}, "AUTH_OIDC_SIGNING_KEYS"),
        ({"AUTH_REQUIRE_EXPIRATION": "sometimes"}, "AUTH_REQUIRE_EXPIRATION"),
        ({"AUTH_FAILED_VALIDATION_STATUS": "500"}, "AUTH_FAILED_VALIDATION_STATUS"),
        ({"AUTH_TOKEN_HEADER": "Ocp-Apim-Subscription-Key"}, "AUTH_TOKEN_HEADER"),
        ({"AUTH_TOKEN_QUERY": "subscription-key"}, "AUTH_TOKEN_QUERY"),
    ],
)
def test_bad_jwt_settings_name_the_setting(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(settings_env("https://issuer.example", **env))


def test_jwt_settings_defaults():
    settings = Settings.from_env(settings_env(""))
    assert (settings.token_header, settings.token_query) == ("Authorization", "")
    assert (settings.failed_validation_status, settings.failed_validation_message) == (401, "")
    assert settings.require_expiration is True
    assert (settings.required_claims, settings.entra_tenants, settings.oidc_signing_keys) == ((), (), ())


def test_the_values_bicep_writes_for_empty_parameters_are_accepted():
    # string([]), string({}) and string(true) in main.bicep's app settings.
    settings = Settings.from_env(settings_env("", AUTH_REQUIRED_CLAIMS="[]", AUTH_REQUIRE_EXPIRATION="True"))
    assert (settings.required_claims, settings.require_expiration) == ((), True)


def test_a_fallback_principal_stands_in_only_when_no_credential_was_sent(issuer):
    from shared.callers import Principal

    authenticator = authenticator_for(issuer.issuer)
    pinned = Principal(id="cert|AB", roles=frozenset(), name="robot", kind="app")
    assert authenticator.authenticate({}, {}, pinned).principal == pinned
    token_caller = authenticator.authenticate({"Authorization": f"Bearer {issuer.mint()}"}, {}, pinned)
    assert token_caller.principal != pinned  # a sent credential always wins
    with pytest.raises(Problem) as caught:
        authenticator.authenticate({"Authorization": "Bearer not.a.jwt"}, {}, pinned)
    assert caught.value.status == 401  # a bad credential never falls back
