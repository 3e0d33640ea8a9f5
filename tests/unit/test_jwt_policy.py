"""The pure rules beside JWT validation: required claims, tenants, token location,
static signing keys, and the RFC 6750 answer to a rejected token."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.callers._jwt_keys import parse_signing_keys
from shared.callers._jwt_policy import (
    RequiredClaim,
    TokenLocation,
    TokenRejected,
    challenge_text,
    check_token_location,
    parse_failed_status,
    parse_required_claims,
    parse_tenants,
    rejection_problem,
    tenant_in_issuer,
)
from shared.settings import SettingsError
from tests.support.oidc_issuer import SigningKey

# --- required claims ---


def test_required_claims_setting_is_parsed_with_apim_defaults():
    claims = parse_required_claims(
        '[{"name": "scp", "match": "any", "separator": " ", "values": ["Invoke", "Manage"]},'
        ' {"name": "appid", "values": ["app-1"]}, {"name": "oid"}]'
    )
    assert claims == (
        RequiredClaim("scp", ("Invoke", "Manage"), "any", " "),
        RequiredClaim("appid", ("app-1",), "all", None),
        RequiredClaim("oid"),
    )
    assert parse_required_claims("  ") == ()


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("[{", "not valid JSON"),
        ('{"name": "scp"}', "must be a JSON list"),
        ('["scp"]', r"AUTH_REQUIRED_CLAIMS\[0\] must be an object"),
        ('[{"name": ""}]', r"\[0\]\.name"),
        ('[{"name": "scp", "match": "some"}]', r"\[0\]\.match must be 'all' or 'any'"),
        ('[{"name": "scp", "separator": ""}]', r"\[0\]\.separator"),
        ('[{"name": "scp", "values": "Invoke"}]', r"\[0\]\.values must be a list"),
        ('[{"name": "a"}, {"name": "scp", "value": ["x"]}]', r"\[1\] has unknown members \['value'\]"),
    ],
)
def test_bad_required_claims_name_the_setting_and_the_entry(raw, complaint):
    with pytest.raises(SettingsError, match=complaint) as caught:
        parse_required_claims(raw)
    assert "AUTH_REQUIRED_CLAIMS" in str(caught.value)


def test_match_any_needs_one_value_and_all_needs_every_value():
    any_scope = RequiredClaim("scp", ("Invoke", "Manage"), "any", " ")
    all_scopes = RequiredClaim("scp", ("Invoke", "Manage"), "all", " ")
    assert any_scope.unmet({"scp": "Read Invoke"}) is None
    assert any_scope.unmet({"scp": "Read"}) == "The token's 'scp' claim must include one of: Invoke, Manage."
    assert all_scopes.unmet({"scp": "Manage Read Invoke"}) is None
    assert all_scopes.unmet({"scp": "Invoke Read"}) == "The token's 'scp' claim must include all of: Manage."


def test_without_separator_a_string_claim_is_one_value():
    claim = RequiredClaim("scp", ("Invoke",), "any")
    assert claim.unmet({"scp": "Invoke"}) is None
    assert claim.unmet({"scp": "Read Invoke"}) is not None


def test_separator_splits_and_trims_and_array_items_are_values():
    comma = RequiredClaim("groups", ("finance", "logistics"), "all", ",")
    assert comma.unmet({"groups": "finance, logistics"}) is None
    assert comma.unmet({"groups": ["finance", "logistics,hr"]}) is None
    roles = RequiredClaim("roles", ("Connectors.Manage",))
    assert roles.unmet({"roles": ["Reader", "Connectors.Manage"]}) is None
    assert roles.unmet({"roles": ["Reader"]}) is not None


def test_values_compare_exactly_and_scalars_as_json_text():
    assert RequiredClaim("scp", ("invoke",)).unmet({"scp": "Invoke"}) is not None
    assert RequiredClaim("acct", ("0",)).unmet({"acct": 0}) is None
    assert RequiredClaim("email_verified", ("true",)).unmet({"email_verified": True}) is None
    assert RequiredClaim("cnf", ("x",)).unmet({"cnf": {"x": 1}}) is not None


def test_a_required_claim_must_be_present_even_without_values():
    assert RequiredClaim("oid").unmet({"oid": "o-1"}) is None
    assert RequiredClaim("oid").unmet({"sub": "s"}) == "The token lacks the required 'oid' claim."
    assert RequiredClaim("oid").unmet({"oid": None}) is not None


# --- tenants ---


def test_tenants_are_guids_kept_lower_case_once():
    first = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
    second = "11111111-2222-3333-4444-555555555555"
    assert parse_tenants(f" {first}, {second},{first.lower()} ") == (first.lower(), second)
    with pytest.raises(SettingsError, match=r"AUTH_ENTRA_TENANTS: 'contoso\.onmicrosoft\.com' is not a tenant ID"):
        parse_tenants("contoso.onmicrosoft.com")


def test_tenant_part_of_an_issuer_shaped_like_a_template():
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert tenant_in_issuer(template, "https://login.microsoftonline.com/t-1/v2.0") == "t-1"
    assert tenant_in_issuer(template, "https://login.microsoftonline.com/a/b/v2.0") is None
    assert tenant_in_issuer(template, "https://login.microsoftonline.com//v2.0") is None
    assert tenant_in_issuer(template, "https://sts.windows.net/t-1/") is None


# --- where the token is ---


def test_authorization_header_needs_the_bearer_scheme():
    location = TokenLocation()
    found = location.find({"authorization": "bearer abc"}, {})
    assert (found.token, found.consumed_headers, found.consumed_query) == ("abc", {"authorization"}, frozenset())
    assert location.find({"authorization": "Basic dXNlcjpwYXNz"}, {}) is None
    assert location.find({}, {"access_token": "abc"}) is None


def test_another_header_carries_the_bare_token_or_a_bearer_value():
    location = TokenLocation(header="X-Gateway-Token")
    assert location.find({"x-gateway-token": " abc "}, {}).token == "abc"
    assert location.find({"x-gateway-token": "Bearer abc"}, {}).consumed_headers == {"x-gateway-token"}
    assert location.find({"authorization": "Bearer abc"}, {}) is None


def test_a_token_in_the_query_wins_and_leaves_the_headers_alone():
    location = TokenLocation(query="access_token")
    found = location.find({"authorization": "Bearer for-the-backend"}, {"access_token": "abc", "page": "2"})
    assert (found.token, found.consumed_headers, found.consumed_query) == ("abc", frozenset(), {"access_token"})
    assert location.find({"authorization": "Bearer abc"}, {}).consumed_headers == {"authorization"}
    assert "'access_token' query parameter" in location.hint()


@pytest.mark.parametrize(
    ("header", "query", "named"),
    [
        ("Bad Header", "", "AUTH_TOKEN_HEADER"),
        ("ocp-apim-subscription-key", "", "AUTH_TOKEN_HEADER"),
        ("Authorization", "a&b", "AUTH_TOKEN_QUERY"),
        ("Authorization", "subscription-key", "AUTH_TOKEN_QUERY"),
    ],
)
def test_token_location_settings_are_checked(header, query, named):
    with pytest.raises(SettingsError, match=named):
        check_token_location(header, query, "Ocp-Apim-Subscription-Key", "subscription-key")


# --- the answer to a rejected token ---


def test_rejection_is_401_invalid_token_with_a_description():
    problem = rejection_problem(TokenRejected("The token has expired."))
    assert problem.status == 401
    assert problem.detail == "The token has expired."
    assert problem.headers["WWW-Authenticate"] == (
        'Bearer realm="connector-gateway", error="invalid_token", error_description="The token has expired."'
    )


def test_missing_claims_are_insufficient_scope_only_with_status_403():
    lacking = TokenRejected("The token's 'scp' claim must include one of: Invoke.", insufficient=True)
    as_401 = rejection_problem(lacking, 401)
    assert (as_401.status, 'error="invalid_token"' in as_401.headers["WWW-Authenticate"]) == (401, True)
    as_403 = rejection_problem(lacking, 403)
    assert as_403.status == 403
    assert as_403.slug == "insufficient-scope"
    assert 'error="insufficient_scope"' in as_403.headers["WWW-Authenticate"]
    expired_403 = rejection_problem(TokenRejected("The token has expired."), 403)
    assert expired_403.status == 403
    assert 'error="invalid_token"' in expired_403.headers["WWW-Authenticate"]


def test_configured_message_replaces_the_reason_everywhere():
    problem = rejection_problem(TokenRejected("The token has expired."), 401, "Unauthorized. Token missing or invalid.")
    assert problem.detail == "Unauthorized. Token missing or invalid."
    assert 'error_description="Unauthorized. Token missing or invalid."' in problem.headers["WWW-Authenticate"]


def test_challenge_text_keeps_to_the_characters_rfc_6750_allows():
    assert challenge_text('say "hi" \\ to café\r\n') == "say 'hi' / to caf"
    assert len(challenge_text("x" * 1000)) == 300


@pytest.mark.parametrize("raw", ["401", "403"])
def test_failed_status_401_or_403(raw):
    assert parse_failed_status(raw) == int(raw)


@pytest.mark.parametrize("raw", ["400", "500", "forbidden"])
def test_other_failed_statuses_are_refused(raw):
    with pytest.raises(SettingsError, match="AUTH_FAILED_VALIDATION_STATUS must be 401 or 403"):
        parse_failed_status(raw)


# --- static signing keys ---


def test_jwks_document_and_single_jwk_are_accepted():
    rsa_key, ec_key = SigningKey.generate("RS256"), SigningKey.generate("ES256")
    document = {"keys": [rsa_key.public_jwk(include_alg=True) | {"x5c": ["ignored"]}, ec_key.public_jwk()]}
    texts = parse_signing_keys(json.dumps(document))
    assert [json.loads(text)["kid"] for text in texts] == [rsa_key.kid, ec_key.kid]
    assert "x5c" not in texts[0]
    assert len(parse_signing_keys(json.dumps(ec_key.public_jwk()))) == 1


def test_pem_public_keys_and_certificates_are_accepted_even_with_escaped_newlines():
    rsa_key, ec_key = SigningKey.generate("RS256"), SigningKey.generate("ES256")
    pem = (rsa_key.public_pem() + ec_key.certificate_pem()).decode("ascii")
    texts = parse_signing_keys(pem.replace("\n", "\\n"))
    jwks = [json.loads(text) for text in texts]
    assert [jwk["kty"] for jwk in jwks] == ["RSA", "EC"]
    assert all("kid" not in jwk for jwk in jwks)  # PEM keys are tried for every kid


def _pem_private(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _pem_public(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    public = private_key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize(
    ("make_raw", "complaint"),
    [
        (lambda: _pem_private(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "private key"),
        (lambda: json.dumps({"kty": "oct", "k": "c2VjcmV0"}), "symmetric key"),
        (lambda: json.dumps(json.loads(_private_jwk()) | {"kid": "k"}), "private key"),
        (lambda: _pem_public(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "1024-bit RSA key"),
        (lambda: _pem_public(ec.generate_private_key(ec.SECP384R1())), "neither an RSA nor an EC P-256 key"),
        (lambda: json.dumps({"keys": []}), "non-empty list"),
        (lambda: "{not json", "not valid JSON"),
        (lambda: "just some text", "no PEM block"),
        (lambda: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "can't be read"),
        (lambda: json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"}), "fits none"),
    ],
)
def test_unusable_signing_keys_are_refused_with_the_reason(make_raw, complaint):
    with pytest.raises(SettingsError, match=complaint) as caught:
        parse_signing_keys(make_raw())
    assert str(caught.value).startswith("AUTH_OIDC_SIGNING_KEYS: ")


def _private_jwk() -> str:
    from jwt.algorithms import RSAAlgorithm

    return RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048))
