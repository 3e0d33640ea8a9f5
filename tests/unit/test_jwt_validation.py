"""Bearer JWT validation against a real local OIDC issuer (real keys, real signatures, real HTTP)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient

from shared.callers import CallerAuthenticator, JwtValidator, SubscriptionKeyStore, TokenRejected
from shared.problems import Problem
from shared.settings import Settings, SettingsError
from tests.support.oidc_issuer import DEFAULT_AUDIENCE, OidcIssuer, SigningKey

SKEW = 60


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def validator(issuer: OidcIssuer, clock: FakeClock) -> JwtValidator:
    return JwtValidator([issuer.issuer], [DEFAULT_AUDIENCE, "other-audience"], SKEW, clock=clock)


def settings_for(issuers: list[str]) -> Settings:
    return Settings.from_env(
        {
            "KEY_VAULT_URL": "https://vault.example",
            # Never contacted: these tests send no subscription key.
            "TABLES_CONNECTION_STRING": "UseDevelopmentStorage=true",
            "AUTH_OIDC_ISSUERS": ",".join(issuers),
            "AUTH_OIDC_AUDIENCES": DEFAULT_AUDIENCE,
            "AUTH_CLOCK_SKEW_SECONDS": str(SKEW),
        }
    )


@pytest.fixture
def authenticator(issuer: OidcIssuer, clock: FakeClock) -> CallerAuthenticator:
    settings = settings_for([issuer.issuer])
    unused_table = TableClient.from_connection_string(settings.tables_connection_string or "", "unused")
    return CallerAuthenticator(settings, SubscriptionKeyStore(unused_table), clock=clock)


def rejection(validator: JwtValidator, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        validator.validate(token)
    return str(caught.value)


# --- accepted tokens ---


@pytest.mark.parametrize("algorithm", ["RS256", "RS512", "PS256", "ES256"])
def test_valid_token_of_each_allowed_algorithm_is_accepted(issuer, validator, algorithm):
    key = issuer.add_key("ES256" if algorithm == "ES256" else "RS256")
    token = issuer.mint({"roles": ["Connectors.Manage", "Reader"], "name": "Ada"}, key=key, algorithm=algorithm)

    principal = validator.principal_for(token)

    assert principal.id == f"{issuer.issuer}|user-1"
    assert principal.roles == {"Connectors.Manage", "Reader"}
    assert principal.name == "Ada"
    assert principal.kind == "user"


def test_roles_as_space_separated_string_and_display_name_fallbacks(issuer, validator):
    principal = validator.principal_for(issuer.mint({"roles": "a b", "preferred_username": "ada@example.com"}))
    assert principal.roles == {"a", "b"}
    assert principal.name == "ada@example.com"
    assert validator.principal_for(issuer.mint()).name == "user-1"
    assert validator.principal_for(issuer.mint()).roles == frozenset()


def test_tid_and_oid_from_an_issuer_that_is_not_entra_are_ignored(issuer, validator):
    principal = validator.principal_for(issuer.mint({"tid": "tenant-9", "oid": "object-7", "sub": "pairwise"}))
    assert principal.id == f"{issuer.issuer}|pairwise"


def test_any_of_several_audiences_is_accepted(issuer, validator):
    assert validator.validate(issuer.mint({"aud": ["someone-else", "other-audience"]}))["sub"] == "user-1"


def test_token_without_kid_is_checked_against_the_fitting_keys(issuer, validator):
    issuer.add_key("RS256")  # a second RSA key: the first one signs
    assert validator.validate(issuer.mint(headers={"kid": None}))["sub"] == "user-1"


# --- time ---


def test_expired_token_is_rejected(issuer, validator):
    token = issuer.mint({"exp": int(time.time()) - SKEW - 30, "iat": int(time.time()) - 600, "nbf": None})
    assert "expired" in rejection(validator, token)


def test_expiry_within_clock_skew_is_accepted(issuer, validator):
    token = issuer.mint({"exp": int(time.time()) - SKEW // 2, "iat": int(time.time()) - 600, "nbf": None})
    assert validator.validate(token)["sub"] == "user-1"


def test_not_before_in_the_future_is_rejected_beyond_skew_only(issuer, validator):
    later = issuer.mint({"nbf": int(time.time()) + SKEW * 2, "iat": None})
    assert "not valid yet" in rejection(validator, later)
    within_skew = issuer.mint({"nbf": int(time.time()) + SKEW // 2, "iat": None})
    assert validator.validate(within_skew)["sub"] == "user-1"


def test_missing_exp_is_rejected(issuer, validator):
    assert "'exp'" in rejection(validator, issuer.mint({"exp": None}))


# --- audience, issuer, algorithm ---


def test_wrong_audience_is_rejected(issuer, validator):
    assert "audience" in rejection(validator, issuer.mint({"aud": "api://someone-else"}))


def test_untrusted_issuer_is_rejected_without_contacting_it(issuer, validator):
    with OidcIssuer() as stranger:
        assert "issuer is not trusted" in rejection(validator, stranger.mint())
        assert sum(stranger.fetches.values()) == 0


def test_iss_claim_naming_a_trusted_issuer_but_signed_by_another_is_rejected(issuer, validator):
    impostor_key = SigningKey.generate("RS256", kid=issuer.keys[0].kid)  # same kid, different key
    assert "signature is invalid" in rejection(validator, issuer.mint(key=impostor_key))


def test_alg_none_is_rejected(issuer, validator):
    assert "algorithm is not allowed" in rejection(validator, issuer.unsigned())


def test_hs256_signed_with_the_public_key_is_rejected(issuer, validator):
    assert "algorithm is not allowed" in rejection(validator, issuer.forge_hs256_with_public_key())


def test_algorithm_not_matching_the_key_type_is_rejected(issuer, validator):
    ec_key = issuer.add_key("ES256")
    rsa_token = issuer.mint(headers={"kid": ec_key.kid})  # RS256 signed, pointing at the EC key
    assert "doesn't publish" in rejection(validator, rsa_token)


def test_malformed_token_is_rejected(validator):
    assert "malformed" in rejection(validator, "not-a-jwt")


# --- key discovery, caching, refetching ---


def test_keys_are_discovered_once_and_cached(issuer, validator):
    for _ in range(3):
        validator.validate(issuer.mint())
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_unknown_kid_refetches_once_and_picks_up_a_new_key(issuer, validator):
    validator.validate(issuer.mint())
    new_key = issuer.add_key("ES256")
    assert validator.validate(issuer.mint(key=new_key))["sub"] == "user-1"
    assert issuer.jwks_fetches == 2


def test_second_unknown_kid_within_five_minutes_does_not_refetch(issuer, validator, clock):
    validator.validate(issuer.mint())
    unpublished = SigningKey.generate("RS256")
    assert "doesn't publish" in rejection(validator, issuer.mint(key=unpublished))
    assert issuer.jwks_fetches == 2

    clock.advance(299)
    another = issuer.add_key("RS256")  # published now, but the refetch budget is spent
    assert "doesn't publish" in rejection(validator, issuer.mint(key=another))
    assert issuer.jwks_fetches == 2


def test_rotation_after_five_minutes_picks_up_the_new_key(issuer, validator, clock):
    validator.validate(issuer.mint())
    rejection(validator, issuer.mint(key=SigningKey.generate("RS256")))  # spends the refetch
    rotated = issuer.rotate("RS256")

    clock.advance(301)
    assert validator.validate(issuer.mint(key=rotated))["sub"] == "user-1"
    assert issuer.jwks_fetches == 3


def test_cache_expires_after_an_hour(issuer, validator, clock):
    validator.validate(issuer.mint())
    clock.advance(3599)
    validator.validate(issuer.mint())
    assert issuer.discovery_fetches == 1
    clock.advance(2)
    validator.validate(issuer.mint())
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (2, 2)


def test_stale_keys_are_used_while_the_issuer_is_down(issuer, validator, clock):
    validator.validate(issuer.mint())
    issuer.discovery_status = 503
    clock.advance(3601)
    assert validator.validate(issuer.mint())["sub"] == "user-1"
    assert issuer.discovery_fetches == 2


# --- issuer URL rules ---


@pytest.mark.parametrize(
    "url", ["http://issuer.example.com/", "http://10.0.0.5/tenant", "ftp://127.0.0.1/", "issuer.example.com"]
)
def test_insecure_issuer_urls_are_refused_when_building_the_validator(url):
    with pytest.raises(SettingsError, match="https") as caught:
        JwtValidator([url], [DEFAULT_AUDIENCE], SKEW)
    assert url in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "url",
    [
        "https://login.microsoftonline.com/t/v2.0",
        "http://127.0.0.1:8080",
        "http://127.9.9.9/x",
        "http://[::1]:5/",
        "http://localhost:1",
    ],
)
def test_https_and_loopback_http_issuers_are_allowed(url):
    JwtValidator([url], [DEFAULT_AUDIENCE], SKEW)


def test_issuers_without_audiences_are_refused():
    with pytest.raises(SettingsError, match="AUTH_OIDC_AUDIENCES"):
        JwtValidator(["https://issuer.example"], [], SKEW)


# --- through the CallerAuthenticator: problems and consumed headers ---


def test_bearer_token_authenticates_and_consumes_the_authorization_header(issuer, authenticator):
    result = authenticator.authenticate({"AUTHORIZATION": "bearer " + issuer.mint()}, {})
    assert result.principal.id == f"{issuer.issuer}|user-1"
    assert result.consumed_headers == {"authorization"}
    assert result.consumed_query == frozenset()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_no_credential_is_401_without_an_error_code(authenticator, headers):
    with pytest.raises(Problem) as caught:
        authenticator.authenticate(headers, {})
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"] == 'Bearer realm="connector-gateway"'


def test_problem_detail_never_contains_the_token(issuer, authenticator):
    bad_tokens = [
        issuer.mint({"exp": int(time.time()) - 3600, "iat": None, "nbf": None}),
        issuer.mint({"aud": "elsewhere"}),
        issuer.mint(key=SigningKey.generate("RS256")),
        issuer.forge_hs256_with_public_key(),
        issuer.unsigned(),
        issuer.mint({"exp": None}),
        "garbage." + issuer.mint().split(".", 1)[1],
    ]
    for token in bad_tokens:
        with pytest.raises(Problem) as caught:
            authenticator.authenticate({"Authorization": f"Bearer {token}"}, {})
        problem = caught.value
        assert problem.status == 401
        assert 'error="invalid_token"' in problem.headers["WWW-Authenticate"]
        text = f"{problem} {problem.to_dict()} {problem.headers}"
        for segment in token.split("."):
            assert not segment or segment not in text


def test_issuer_outage_without_cached_keys_is_503(issuer, authenticator):
    issuer.jwks_status = 500
    with pytest.raises(Problem) as caught:
        authenticator.authenticate({"Authorization": f"Bearer {issuer.mint()}"}, {})
    assert caught.value.status == 503
