"""validate-jwt options against real tokens: required claims, require-expiration-time, static
signing keys (issuer-signing-keys), roles and scopes. No mocks of PyJWT; real keys and signatures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from shared.callers import JwtValidator, TokenRejected
from shared.callers._jwt_keys import parse_signing_keys
from shared.callers._jwt_policy import parse_required_claims
from shared.settings import SettingsError
from tests.support.oidc_issuer import DEFAULT_AUDIENCE, OidcIssuer, SigningKey

STATIC_ISSUER = "contoso.com"  # static issuers are never contacted, so any string will do


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


def validator_for(issuer: OidcIssuer, **options: object) -> JwtValidator:
    return JwtValidator([issuer.issuer], [DEFAULT_AUDIENCE], 60, **options)  # type: ignore[arg-type]


def rejection(validator: JwtValidator, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        validator.validate(token)
    return caught.value


# --- required claims ---


def test_required_scope_any_of_space_separated_scp(issuer):
    required = parse_required_claims('[{"name": "scp", "match": "any", "separator": " ", "values": ["Invoke"]}]')
    validator = validator_for(issuer, required_claims=required)
    assert validator.validate(issuer.mint({"scp": "User.Read Invoke"}))["scp"] == "User.Read Invoke"
    lacking = rejection(validator, issuer.mint({"scp": "User.Read"}))
    assert str(lacking) == "The token's 'scp' claim must include one of: Invoke."
    assert lacking.insufficient
    absent = rejection(validator, issuer.mint())
    assert (str(absent), absent.insufficient) == ("The token lacks the required 'scp' claim.", True)


def test_required_claims_all_of_an_array_claim_and_every_entry_must_pass(issuer):
    required = parse_required_claims(
        '[{"name": "roles", "match": "all", "values": ["Connectors.Manage", "Reader"]},'
        ' {"name": "appid", "values": ["client-1"]}]'
    )
    validator = validator_for(issuer, required_claims=required)
    both = {"roles": ["Reader", "Connectors.Manage"], "appid": "client-1"}
    assert validator.validate(issuer.mint(both))["appid"] == "client-1"
    assert "all of: Connectors.Manage" in str(rejection(validator, issuer.mint(both | {"roles": ["Reader"]})))
    assert "'appid' claim must include all of: client-1" in str(
        rejection(validator, issuer.mint(both | {"appid": "client-2"}))
    )


def test_required_claims_are_checked_only_after_the_signature(issuer):
    required = parse_required_claims('[{"name": "scp", "values": ["Invoke"]}]')
    validator = validator_for(issuer, required_claims=required)
    forged = issuer.mint({"scp": "Invoke"}, key=SigningKey.generate("RS256", kid=issuer.keys[0].kid))
    refused = rejection(validator, forged)
    assert (str(refused), refused.insufficient) == ("The token's signature is invalid.", False)


# --- require-expiration-time ---


def test_without_require_expiration_a_token_without_exp_passes(issuer):
    validator = validator_for(issuer, require_expiration=False)
    assert validator.validate(issuer.mint({"exp": None}))["sub"] == "user-1"


def test_without_require_expiration_an_exp_present_is_still_enforced(issuer):
    validator = validator_for(issuer, require_expiration=False)
    expired = issuer.mint({"exp": int(time.time()) - 3600, "iat": None, "nbf": None})
    assert str(rejection(validator, expired)) == "The token has expired."


def test_expiration_is_required_by_default(issuer):
    refused = rejection(validator_for(issuer), issuer.mint({"exp": None}))
    assert str(refused) == "The token lacks the required 'exp' claim."


# --- static signing keys (issuers without discovery) ---


def static_validator(issuer: OidcIssuer, keys_setting: str, **options: object) -> JwtValidator:
    """The running issuer stays trusted through discovery; STATIC_ISSUER uses the static keys."""
    return JwtValidator(
        [issuer.issuer],
        [DEFAULT_AUDIENCE],
        60,
        static_issuers=[STATIC_ISSUER],
        static_keys=parse_signing_keys(keys_setting),
        **options,  # type: ignore[arg-type]
    )


def test_static_jwks_keys_verify_tokens_of_the_static_issuer_without_any_fetch(issuer):
    key = SigningKey.generate("ES256")
    validator = static_validator(issuer, json.dumps({"keys": [key.public_jwk()]}))
    token = issuer.mint({"iss": STATIC_ISSUER}, key=key)
    assert validator.principal_for(token).id == f"{STATIC_ISSUER}|user-1"
    assert sum(issuer.fetches.values()) == 0


def test_static_keys_with_a_kid_verify_only_tokens_naming_it(issuer):
    key = SigningKey.generate("RS256")
    validator = static_validator(issuer, json.dumps(key.public_jwk()))
    other_kid = issuer.mint({"iss": STATIC_ISSUER}, key=key, headers={"kid": "rotated-away"})
    assert "doesn't publish" in str(rejection(validator, other_kid))
    assert validator.validate(issuer.mint({"iss": STATIC_ISSUER}, key=key, headers={"kid": None}))["sub"] == "user-1"


@pytest.mark.parametrize("as_certificate", [False, True])
def test_static_pem_keys_and_certificates_verify_tokens_with_any_kid(issuer, as_certificate):
    old, new = SigningKey.generate("RS256"), SigningKey.generate("PS256")
    pem = b"".join(key.certificate_pem() if as_certificate else key.public_pem() for key in (old, new))
    validator = static_validator(issuer, pem.decode("ascii"))
    for key in (old, new):  # rollover: each key is tried until one verifies
        token = issuer.mint({"iss": STATIC_ISSUER}, key=key, headers={"kid": "whatever"})
        assert validator.validate(token)["iss"] == STATIC_ISSUER


def test_static_keys_do_not_verify_tokens_of_discovered_issuers(issuer):
    static_key = SigningKey.generate("RS256")
    validator = static_validator(issuer, static_key.public_pem().decode("ascii"))
    token = issuer.mint(key=static_key, headers={"kid": None})  # iss: the discovered issuer
    assert str(rejection(validator, token)) == "The token's signature is invalid."


def test_static_keys_refuse_a_key_they_do_not_hold(issuer):
    validator = static_validator(issuer, SigningKey.generate("RS256").public_pem().decode("ascii"))
    token = issuer.mint({"iss": STATIC_ISSUER}, key=SigningKey.generate("RS256"))
    assert str(rejection(validator, token)) == "The token's signature is invalid."


def test_static_pem_key_defeats_the_hs256_confusion_and_alg_none(issuer):
    key = SigningKey.generate("RS256")
    validator = static_validator(issuer, key.public_pem().decode("ascii"))
    forged = issuer.forge_hs256_with_public_key({"iss": STATIC_ISSUER}, key=key)
    assert "algorithm is not allowed" in str(rejection(validator, forged))
    assert "algorithm is not allowed" in str(rejection(validator, issuer.unsigned({"iss": STATIC_ISSUER})))


def test_static_issuers_and_keys_go_together(issuer):
    with pytest.raises(SettingsError, match="must be set together"):
        JwtValidator([], [DEFAULT_AUDIENCE], 60, static_issuers=[STATIC_ISSUER])
    keys = parse_signing_keys(SigningKey.generate().public_pem().decode("ascii"))
    with pytest.raises(SettingsError, match="must be set together"):
        JwtValidator([], [DEFAULT_AUDIENCE], 60, static_keys=keys)
    with pytest.raises(SettingsError, match="trusted twice"):
        JwtValidator([issuer.issuer], [DEFAULT_AUDIENCE], 60, static_issuers=[issuer.issuer], static_keys=keys)
    with pytest.raises(SettingsError, match="AUTH_OIDC_AUDIENCES"):
        JwtValidator([], [], 60, static_issuers=[STATIC_ISSUER], static_keys=keys)


# --- roles and scopes ---


def test_roles_and_scopes_are_read_from_the_token(issuer):
    validator = validator_for(issuer)
    maker = validator.principal_for(issuer.mint({"roles": ["Connectors.Manage"], "scp": "Invoke User.Read"}))
    assert maker.roles == {"Connectors.Manage"}
    assert maker.scopes == {"Invoke", "User.Read"}
