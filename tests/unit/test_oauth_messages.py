"""The pure OAuth messages: authorization URLs, token requests, revocation requests, and parsed answers."""

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from shared.oauth import (
    OAuthConfig,
    OAuthConfigError,
    OAuthError,
    TokenSet,
    authorization_url,
    new_pkce,
    oauth_config_for,
    parse_revocation_response,
    parse_token_response,
    revocation_requests,
    token_request_for_client_credentials,
    token_request_for_code,
    token_request_for_refresh,
)
from tests.unit.test_oauth_config import oauth_connector

REDIRECT = "https://gateway.example.com/api/oauth/callback?tenant=a&x=1"
NOW = 1_700_000_000.0
JSON = {"Content-Type": "application/json"}


def config_for(provider="oauth2", overrides=None, **settings):
    base = {"identityProvider": provider, "clientId": "client-1", "scopes": ["read write", "admin"]}
    if provider == "oauth2":
        base["customParameters"] = {
            "authorizationUrl": {"value": "https://idp.example.com/authorize?tenant=t1"},
            "tokenUrl": {"value": "https://idp.example.com/token"},
            "refreshUrl": {"value": "https://idp.example.com/refresh"},
            "revocationUrl": {"value": "https://idp.example.com/revoke"},
        }
    return oauth_config_for(oauth_connector({**base, **settings}), overrides)


def query(url):
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def basic(header):
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(value).decode().partition(":")
    return unquote_plus(user), unquote_plus(password)


# -- PKCE and the authorization URL -------------------------------------------------------------


def test_new_pkce_is_s256_of_a_fresh_verifier():
    verifier, challenge = new_pkce()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,128}", verifier)
    assert challenge == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert new_pkce()[0] != verifier


def test_authorization_url_has_exactly_the_standard_parameters():
    url = authorization_url(config_for(), REDIRECT, "state-123", "challenge-abc")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "idp.example.com", "/authorize")
    assert query(url) == {
        "tenant": "t1",  # the endpoint's own query stays
        "response_type": "code",
        "client_id": "client-1",
        "redirect_uri": REDIRECT,
        "scope": "read write admin",
        "state": "state-123",
        "code_challenge": "challenge-abc",
        "code_challenge_method": "S256",
    }


def test_pkce_can_be_switched_off():
    config = config_for(overrides={"pkce": "false"})
    assert config.pkce is False
    assert "code_challenge" not in query(authorization_url(config, REDIRECT, "s", "challenge-abc"))
    assert "code_challenge" not in query(authorization_url(config_for(), REDIRECT, "s", None))


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        (
            "google",
            {"access_type": "offline", "prompt": "consent", "scope": "openid email", "code_challenge_method": "S256"},
        ),
        ("dropbox", {"token_access_type": "offline", "scope": "openid email"}),
        ("facebook", {"scope": "openid,email"}),  # comma-delimited, and no PKCE
        ("slack", {"scope": "openid,email"}),
        ("github", {"scope": "openid email", "code_challenge_method": "S256"}),
    ],
)
def test_provider_templates_add_their_parameters(provider, expected):
    config = config_for(provider, scopes=["openid", "email"])
    params = query(authorization_url(config, REDIRECT, "s", "c"))
    assert {k: params.get(k) for k in expected} == expected
    assert ("code_challenge" in params) == config.pkce
    assert params["redirect_uri"] == REDIRECT


def test_entra_id_sign_in_asks_for_the_reserved_scopes_too():
    config = config_for("aad", customParameters={"resourceUri": {"value": "api://backend"}})
    assert query(authorization_url(config, REDIRECT, "s", "c"))["scope"] == (
        "api://backend/.default openid profile offline_access"
    )
    v1 = config_for(
        "aad", scopes=[], customParameters={"resourceUri": {"value": "api://b"}, "aadVersion": {"value": "v1"}}
    )
    params = query(authorization_url(v1, REDIRECT, "s", None))
    assert params["resource"] == "api://b" and "scope" not in params


def test_client_credentials_configs_have_no_sign_in():
    config = config_for(
        customParameters={"tokenUrl": {"value": "https://i/t"}, "grantType": {"value": "client_credentials"}}
    )
    with pytest.raises(OAuthConfigError):
        authorization_url(config, REDIRECT, "s", None)


# -- token requests ------------------------------------------------------------------------------


def test_code_exchange_posts_the_code_redirect_and_verifier_with_the_secret_in_the_body():
    request = token_request_for_code(config_for(), "s3cret", "code-1", REDIRECT, "verifier-1")
    assert (request.method, request.url) == ("POST", "https://idp.example.com/token")
    assert request.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert request.body == {
        "grant_type": "authorization_code",
        "code": "code-1",
        "redirect_uri": REDIRECT,
        "code_verifier": "verifier-1",
        "client_id": "client-1",
        "client_secret": "s3cret",
    }


def test_basic_client_auth_form_encodes_id_and_secret_and_keeps_them_out_of_the_body():
    config = config_for(overrides={"tokenAuth": "client_secret_basic", "clientId": "client:1"})
    request = token_request_for_refresh(config, "p@ss word", "rt-1")
    assert request.url == "https://idp.example.com/refresh"
    assert basic(request.headers["Authorization"]) == ("client:1", "p@ss word")
    assert request.body == {"grant_type": "refresh_token", "refresh_token": "rt-1"}


def test_a_public_client_sends_its_id_only_and_pkce_off_sends_no_verifier():
    request = token_request_for_code(config_for(overrides={"pkce": "false"}), None, "code-1", REDIRECT, "verifier-1")
    assert request.body == {
        "grant_type": "authorization_code",
        "code": "code-1",
        "redirect_uri": REDIRECT,
        "client_id": "client-1",
    }


def test_github_asks_for_json_and_entra_id_names_its_scopes():
    assert (
        token_request_for_code(config_for("github"), "s", "c", REDIRECT, None).headers["Accept"] == "application/json"
    )
    aad = config_for("aad", customParameters={"resourceUri": {"value": "api://b"}})
    assert token_request_for_refresh(aad, "s", "rt").body["scope"] == "api://b/.default openid profile offline_access"


def test_client_credentials_request_asks_for_the_scopes():
    request = token_request_for_client_credentials(config_for(), "s3cret")
    assert request.body == {
        "grant_type": "client_credentials",
        "scope": "read write admin",
        "client_id": "client-1",
        "client_secret": "s3cret",
    }
    v1 = config_for("aad", customParameters={"resourceUri": {"value": "api://b"}, "aadVersion": {"value": "v1"}})
    assert token_request_for_client_credentials(v1, "s").body["resource"] == "api://b"


def test_a_certificate_only_works_through_msal():
    with pytest.raises(OAuthError) as caught:
        token_request_for_client_credentials(config_for(), {"private_key": "-----BEGIN", "thumbprint": "ab"})
    assert caught.value.error == "invalid_client" and not caught.value.transient


def test_prepared_requests_show_no_secret_in_their_repr():
    request = token_request_for_code(config_for(), "s3cret", "code-1", REDIRECT, "verifier-1")
    assert repr(request) == "PreparedRequest(POST https://idp.example.com/token)"


# -- oauth2generic templates ---------------------------------------------------------------------

GENERIC = {
    "authorizationUrlTemplate": {"value": "https://{Host}/oauth/authorize"},
    "authorizationUrlQueryStringTemplate": {
        "value": "?client_id={clientId}&redirect_uri={RedirectUrl}&scope={scopes}&state={State}&secret={ClientSecret}"
        "&region={Region}&prompt=consent"
    },
    "tokenUrlTemplate": {"value": "https://{Host}/oauth/token"},
    "tokenUrlQueryStringTemplate": {"value": "?env={Region}"},
    "tokenBodyTemplate": {
        "value": "code={code}&grant_type=authorization_code&redirect_uri={redirectUrl}&client_id={ClientId}"
        "&client_secret={ClientSecret}&scope={Scopes}&refresh={RefreshToken}"
    },
    "refreshUrlTemplate": {"value": "https://{Host}/oauth/refresh"},
    "refreshBodyTemplate": {
        "value": "grant_type=refresh_token&refresh_token={refreshToken}&client_id={ClientId}"
        "&client_secret={clientSecret}&code={Code}&redirect_uri={RedirectUrl}"
    },
    "scopeListDelimiter": {"value": ";"},
}


def generic_config():
    # The maker fixes the host; the connection's value goes into the query only.
    maker = {**GENERIC, "Host": {"value": "idp.example.com"}}
    return config_for("oauth2generic", {"token:Region": "eu west"}, customParameters=maker)


def test_generic_authorization_url_renders_the_template_and_never_the_secret():
    url = authorization_url(generic_config(), REDIRECT, "st/1", "ignored-challenge")
    assert url.startswith("https://idp.example.com/oauth/authorize?")
    assert query(url) == {
        "client_id": "client-1",
        "redirect_uri": REDIRECT,
        "scope": "read;write;admin",
        "state": "st/1",
        "secret": "",
        "region": "eu west",
        "prompt": "consent",
    }


def test_generic_token_and_refresh_bodies_render_every_placeholder():
    request = token_request_for_code(generic_config(), "s&cret", "c=1", REDIRECT, "v")
    assert request.url == "https://idp.example.com/oauth/token?env=eu%20west"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode(), keep_blank_values=True) == {
        "code": ["c=1"],
        "grant_type": ["authorization_code"],
        "redirect_uri": [REDIRECT],
        "client_id": ["client-1"],
        "client_secret": ["s&cret"],
        "scope": ["read;write;admin"],
        "refresh": [""],
    }
    refresh = token_request_for_refresh(generic_config(), "s&cret", "rt+1", REDIRECT)
    assert refresh.url == "https://idp.example.com/oauth/refresh"
    assert parse_qs(refresh.body.decode(), keep_blank_values=True) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt+1"],
        "client_id": ["client-1"],
        "client_secret": ["s&cret"],
        "code": [""],
        "redirect_uri": [REDIRECT],
    }


# -- revocation requests -------------------------------------------------------------------------

TOKENS = TokenSet(access_token="at-1", refresh_token="rt-1", expires_at=None)


def test_rfc7009_revokes_the_refresh_token_then_the_access_token():
    requests = revocation_requests(config_for(), "s3cret", TOKENS)
    assert [(r.method, r.url, r.body) for r in requests] == [
        (
            "POST",
            "https://idp.example.com/revoke",
            {"token": "rt-1", "token_type_hint": "refresh_token", "client_id": "client-1", "client_secret": "s3cret"},
        ),
        (
            "POST",
            "https://idp.example.com/revoke",
            {"token": "at-1", "token_type_hint": "access_token", "client_id": "client-1", "client_secret": "s3cret"},
        ),
    ]
    only_access = TokenSet(access_token="at-1")
    assert [r.body["token"] for r in revocation_requests(config_for(), "s", only_access)] == ["at-1"]


def test_github_and_bearer_revocations_and_none():
    (github,) = revocation_requests(config_for("github"), "s3cret", TOKENS)
    assert (github.method, github.url) == ("DELETE", "https://api.github.com/applications/client-1/grant")
    assert basic(github.headers["Authorization"]) == ("client-1", "s3cret")
    assert json.loads(github.body) == {"access_token": "at-1"}
    (dropbox,) = revocation_requests(config_for("dropbox"), "s3cret", TOKENS)
    assert (dropbox.url, dropbox.headers, dropbox.body) == (
        "https://api.dropboxapi.com/2/auth/token/revoke",
        {"Authorization": "Bearer at-1"},
        None,
    )
    assert revocation_requests(config_for("facebook"), "s3cret", TOKENS) == []
    assert revocation_requests(config_for("aad", scopes=["User.Read"]), "s3cret", TOKENS) == []


# -- parsing token responses --------------------------------------------------------------------


def parse(body, status=200, headers=JSON, config=None, **kwargs):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_token_response(config or config_for(), status, headers, raw, NOW, **kwargs)


def test_a_token_response_becomes_a_token_set_with_the_other_fields_in_extra():
    tokens = parse(
        {
            "access_token": "at",
            "refresh_token": "rt",
            "id_token": "idt",
            "expires_in": 3600,
            "token_type": "bearer",
            "scope": "read",
            "instance_url": "https://acme.my.salesforce.com",
        }
    )
    assert tokens == TokenSet(
        "at", "rt", NOW + 3600, "Bearer", "read", {"instance_url": "https://acme.my.salesforce.com"}
    )


@pytest.mark.parametrize(
    ("fields", "expires_at"),
    [
        ({"expires_in": "3600"}, NOW + 3600),
        ({"expires_in": " 60 "}, NOW + 60),
        ({"expires_in": 59.5}, NOW + 59.5),
        ({"expires": "5183999"}, NOW + 5183999),  # Facebook's legacy name
        ({}, None),
        ({"expires_in": "soon"}, None),
        ({"expires_in": -5}, None),
        ({"expires_in": True}, None),
        ({"expires_in": None}, None),
    ],
)
def test_expiry_copes_with_strings_absence_and_the_legacy_name(fields, expires_at):
    assert parse({"access_token": "at", **fields}).expires_at == expires_at


def test_a_form_encoded_answer_is_understood():
    body = b"access_token=gho_abc&scope=repo%2Cgist&token_type=bearer&expires_in=28800"
    tokens = parse(body, headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert (tokens.access_token, tokens.scope, tokens.expires_at) == ("gho_abc", "repo,gist", NOW + 28800)


def test_nested_tokens_are_taken_and_never_kept_in_extra():
    body = {
        "ok": True,
        "authed_user": {"id": "U1", "access_token": "xoxp-1", "refresh_token": "xoxe-1", "token_type": "user"},
        "team": {"id": "T1"},
    }
    tokens = parse(body, config=config_for("slack"))
    assert (tokens.access_token, tokens.refresh_token, tokens.token_type) == ("xoxp-1", "xoxe-1", "Bearer")
    assert tokens.extra == {
        "ok": True,
        "authed_user": {"id": "U1", "token_type": "user"},
        "team": {"id": "T1"},
        "provider_token_type": "user",
    }
    assert "xox" not in json.dumps(tokens.extra)


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "transient"),
    [
        (400, JSON, {"error": "invalid_grant", "error_description": "expired"}, "invalid_grant", False),
        (401, {}, b"", "invalid_client", False),
        (400, JSON, {"error": "access_denied"}, "access_denied", False),
        (503, {"Content-Type": "text/html"}, b"<html>down</html>", "temporarily_unavailable", True),
        (500, JSON, {"error": "server_error"}, "server_error", True),
        (200, JSON, {"error": "temporarily_unavailable"}, "temporarily_unavailable", True),
        (429, {"Retry-After": "7"}, b"", "temporarily_unavailable", True),
        (302, {"Location": "https://elsewhere"}, b"", "invalid_response", False),
        (200, {"Content-Type": "text/html"}, b"<html>hello</html>", "invalid_response", False),
        (200, JSON, {"token_type": "bearer"}, "invalid_response", False),
        (400, JSON, {"error": "not a code; <script>"}, "invalid_response", False),
    ],
)
def test_errors_are_classified(status, headers, body, error, transient):
    with pytest.raises(OAuthError) as caught:
        parse(body, status, headers)
    assert (caught.value.error, caught.value.transient, caught.value.status) == (error, transient, status)
    if status == 429:
        assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("provider", "status", "body", "description"),
    [
        (
            "github",
            200,
            {"error": "bad_verification_code", "error_description": "The code is wrong."},
            "bad_verification_code: The code is wrong.",
        ),
        (
            "facebook",
            400,
            {"error": {"message": "Invalid verification code", "type": "OAuthException", "code": 100}},
            "OAuthException: Invalid verification code",
        ),
        ("slack", 200, {"ok": False, "error": "invalid_code"}, "invalid_code"),
    ],
)
def test_provider_error_shapes_map_to_invalid_grant(provider, status, body, description):
    with pytest.raises(OAuthError) as caught:
        parse(body, status, config=config_for(provider))
    assert (caught.value.error, caught.value.description, caught.value.transient) == (
        "invalid_grant",
        description,
        False,
    )


def test_a_false_success_flag_without_an_error_is_a_failure():
    with pytest.raises(OAuthError, match="invalid_response: ok is false"):
        parse({"ok": False, "access_token": "xoxb"}, config=config_for("slack"))


def test_error_texts_never_carry_what_was_sent():
    body = {"error": "invalid_grant", "error_description": "code c0de-123 for client_secret s3cr3t-xyz\r\nis bad" * 20}
    with pytest.raises(OAuthError) as caught:
        parse(body, 400, sent_secrets=["c0de-123", "s3cr3t-xyz", None, ""])
    text = str(caught.value)
    assert "c0de-123" not in text and "s3cr3t-xyz" not in text and "[redacted]" in text
    assert "\r" not in text and "\n" not in text and len(caught.value.description) <= 300


# -- TokenSet ----------------------------------------------------------------------------------


def test_token_sets_round_trip_through_the_stored_secret():
    tokens = TokenSet("at", "rt", NOW, "Bearer", "read", {"instance_url": "https://x"})
    assert TokenSet.from_secret(json.loads(json.dumps(tokens.to_secret()))) == tokens
    with pytest.raises(ValueError):
        TokenSet.from_secret({"refresh_token": "rt"})


def test_merged_with_keeps_the_old_refresh_token_unless_rotated():
    old = TokenSet("at-1", "rt-1", NOW, "Bearer", "read", {"instance_url": "https://a", "id": "1"})
    kept = TokenSet("at-2", None, NOW + 10, "Bearer", None, {"id": "2"}).merged_with(old)
    assert (kept.access_token, kept.refresh_token, kept.scope) == ("at-2", "rt-1", "read")
    assert kept.extra == {"instance_url": "https://a", "id": "2"}
    rotated = TokenSet("at-3", "rt-3", NOW + 20, scope="write").merged_with(old)
    assert (rotated.refresh_token, rotated.scope, rotated.expires_at) == ("rt-3", "write", NOW + 20)


def test_token_set_repr_shows_no_token():
    text = repr(TokenSet("at-secret", "rt-secret", NOW))
    assert "at-secret" not in text and "rt-secret" not in text


# -- parsing revocation responses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "status", "body", "revoked"),
    [
        ("oauth2", 200, b"", True),
        ("google", 400, {"error": "invalid_token", "error_description": "Token expired or revoked"}, True),
        ("oauth2", 400, {"error": "unsupported_token_type"}, False),
        ("github", 204, b"", True),
        ("github", 404, {"message": "Not Found"}, True),
        ("slack", 200, {"ok": False, "error": "invalid_auth"}, True),
        ("dropbox", 200, b"null", True),
    ],
)
def test_revocation_answers(provider, status, body, revoked):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert parse_revocation_response(config_for(provider), status, JSON, raw) is revoked


def test_revocation_failures_raise():
    with pytest.raises(OAuthError) as caught:
        parse_revocation_response(config_for(), 503, {}, b"")
    assert caught.value.transient
    with pytest.raises(OAuthError, match="invalid_client"):
        parse_revocation_response(config_for(), 401, JSON, b'{"error": "invalid_client"}')


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        config_for().client_id = "other"  # type: ignore[misc]
    assert isinstance(config_for(), OAuthConfig)


@pytest.mark.parametrize("depth", [200, 100_000])
def test_a_hostile_providers_deep_nesting_is_an_invalid_response_not_a_crash(depth):
    body = b'{"access_token": "at", "x": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(OAuthError) as caught:
        parse(body)
    assert caught.value.error == "invalid_response"
