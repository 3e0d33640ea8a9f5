"""The oidc-provider test fixture itself: a real authorization server driven over plain HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.oidc_provider import (
    OidcProvider,
    OidcProviderError,
    SignInError,
    interaction_actions,
    next_interaction,
    origin,
    pkce_pair,
    sign_in,
)

CALLBACK = "http://127.0.0.1/api/oauth/callback"
ACCESS_TOKEN_TTL = 2
BASIC = {"client_id": "gw-basic", "client_secret": "basic-secret", "redirect_uris": [CALLBACK]}
POST = {
    "client_id": "gw-post",
    "client_secret": "post-secret",
    "token_endpoint_auth_method": "client_secret_post",
    "redirect_uris": [CALLBACK],
}
PKCE_REQUIRED = {
    "client_id": "gw-pkce",
    "client_secret": "pkce-secret",
    "require_pkce": True,
    "redirect_uris": [CALLBACK],
}
PUBLIC = {"client_id": "spa", "token_endpoint_auth_method": "none", "redirect_uris": [CALLBACK]}


@pytest.fixture(scope="module")
def op() -> Iterator[OidcProvider]:
    with OidcProvider().start([BASIC, POST, PKCE_REQUIRED, PUBLIC], access_token_ttl=ACCESS_TOKEN_TTL) as provider:
        yield provider


@pytest.fixture(autouse=True)
def clean_counters(op: OidcProvider) -> None:
    op.reset()


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def authorize(op: OidcProvider, client: dict[str, Any], pkce: bool = True, **options: Any) -> tuple[str, str]:
    """Signs alice in for `client`; returns (callback URL, code_verifier or "")."""
    verifier, challenge = pkce_pair()
    params = {"state": "st-1", "scope": "openid api.read"}
    if pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return op.sign_in(op.authorization_url(client, **params), **options), verifier if pkce else ""


def tokens_for(op: OidcProvider, client: dict[str, Any]) -> dict[str, Any]:
    callback, verifier = authorize(op, client)
    form = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": CALLBACK}
    response = op.token(client, **form, code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(op: OidcProvider, client: dict[str, Any], refresh_token: str) -> requests.Response:
    return op.token(client, grant_type="refresh_token", refresh_token=refresh_token)


def test_discovery_advertises_what_the_gateway_needs(op: OidcProvider) -> None:
    metadata = requests.get(f"{op.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert metadata["issuer"] == op.issuer
    assert origin(op.issuer).startswith("http://127.0.0.1:")
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(metadata["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert op.revocation_endpoint == metadata["revocation_endpoint"] == f"{op.issuer}/token/revocation"
    assert metadata["introspection_endpoint"] == f"{op.issuer}/token/introspection"
    assert op.token_endpoint == f"{op.issuer}/token"
    assert op.authorization_endpoint == f"{op.issuer}/auth"


def test_sign_in_returns_the_unfetched_callback_with_code_and_state(op: OidcProvider) -> None:
    callback, _ = authorize(op, BASIC)
    assert callback.startswith(CALLBACK + "?")
    params = query(callback)
    assert params["state"] == "st-1"
    assert params["iss"] == op.issuer
    assert len(params["code"]) > 20


@pytest.mark.parametrize("client", [BASIC, POST], ids=["client_secret_basic", "client_secret_post"])
def test_code_exchange_with_pkce_yields_access_and_refresh_tokens(op: OidcProvider, client: dict[str, Any]) -> None:
    tokens = tokens_for(op, client)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == ACCESS_TOKEN_TTL
    assert tokens["refresh_token"]
    introspection = op.introspect(tokens["access_token"], client)
    assert introspection["active"] is True
    assert introspection["sub"] == "alice"
    assert introspection["client_id"] == client["client_id"]
    assert op.stats()["grants"]["authorization_code"] == 1


def test_code_is_single_use_and_bound_to_the_verifier(op: OidcProvider) -> None:
    callback, verifier = authorize(op, BASIC)
    form = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": CALLBACK}
    wrong = op.token(BASIC, **form, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"

    callback, verifier = authorize(op, BASIC)
    form["code"] = query(callback)["code"]
    assert op.token(BASIC, **form, code_verifier=verifier).status_code == 200
    assert op.token(BASIC, **form, code_verifier=verifier).json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_rejected(op: OidcProvider) -> None:
    response = op.token({**BASIC, "client_secret": "nope"}, grant_type="client_credentials")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_confidential_client_may_skip_pkce_unless_required(op: OidcProvider) -> None:
    assert "code" in query(authorize(op, BASIC, pkce=False)[0])
    denied = query(authorize(op, PKCE_REQUIRED, pkce=False)[0])
    assert denied["error"] == "invalid_request"
    assert "PKCE" in denied["error_description"]
    assert "code" in query(authorize(op, PKCE_REQUIRED)[0])


def test_public_client_needs_pkce(op: OidcProvider) -> None:
    assert query(authorize(op, PUBLIC, pkce=False)[0])["error"] == "invalid_request"
    assert tokens_for(op, PUBLIC)["refresh_token"]


def test_refresh_rotates_and_replay_of_the_old_token_fails(op: OidcProvider) -> None:
    first = tokens_for(op, BASIC)
    rotated = refresh(op, BASIC, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    replay = refresh(op, BASIC, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # Replay detection revokes the whole grant, so the rotated token is dead as well.
    assert refresh(op, BASIC, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert op.stats()["grants"] == {"authorization_code": 1, "refresh_token": 1, "client_credentials": 0}


def test_access_token_expires_after_its_ttl(op: OidcProvider) -> None:
    token = op.token(BASIC, grant_type="client_credentials").json()["access_token"]
    issued = time.monotonic()
    assert op.introspect(token, BASIC)["active"] is True
    while op.introspect(token, BASIC)["active"]:
        assert time.monotonic() - issued < ACCESS_TOKEN_TTL + 1.5, "token outlived its ttl"
        time.sleep(0.2)
    assert time.monotonic() - issued > ACCESS_TOKEN_TTL - 1.1  # whole-second clock: expiry can come up to 1 s early


def test_revocation_makes_tokens_inactive(op: OidcProvider) -> None:
    tokens = tokens_for(op, POST)
    assert op.revoke(tokens["access_token"], POST).status_code == 200
    assert op.introspect(tokens["access_token"], POST) == {"active": False}
    assert op.revoke(tokens["refresh_token"], POST).status_code == 200
    assert refresh(op, POST, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert op.stats()["revocations"] == 2


@pytest.mark.parametrize("client", [BASIC, POST], ids=["client_secret_basic", "client_secret_post"])
def test_client_credentials(op: OidcProvider, client: dict[str, Any]) -> None:
    response = op.token(client, grant_type="client_credentials", scope="api.read")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == ACCESS_TOKEN_TTL
    assert body["scope"] == "api.read"
    assert "refresh_token" not in body
    assert op.introspect(body["access_token"], client)["client_id"] == client["client_id"]
    assert op.stats()["grants"]["client_credentials"] == 1


def test_denying_consent_redirects_with_access_denied(op: OidcProvider) -> None:
    callback, _ = authorize(op, BASIC, consent=False)
    assert callback.startswith(CALLBACK + "?")
    params = query(callback)
    assert params["error"] == "access_denied"
    assert params["state"] == "st-1"
    assert "code" not in params


def test_signed_in_session_skips_login_and_consent(op: OidcProvider) -> None:
    browser = requests.Session()
    authorize(op, BASIC, session=browser, username="bob")
    callback, verifier = authorize(op, BASIC, session=browser, consent=False)  # nothing left to deny
    form = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": CALLBACK}
    access_token = op.token(BASIC, **form, code_verifier=verifier).json()["access_token"]
    assert op.introspect(access_token, BASIC)["sub"] == "bob"


def test_outage_fails_the_next_token_calls_then_recovers(op: OidcProvider) -> None:
    op.outage(503, count=2)
    statuses = [op.token(BASIC, grant_type="client_credentials").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    stats = op.stats()
    assert stats["token_calls"] == 3
    assert stats["token_errors"] == 2
    assert stats["grants"]["client_credentials"] == 1


def test_outage_leaves_other_endpoints_alone_and_reset_cancels_it(op: OidcProvider) -> None:
    op.outage(500, count=5)
    assert "code" in query(authorize(op, BASIC)[0])
    op.reset()
    assert op.token(BASIC, grant_type="client_credentials").status_code == 200
    assert op.stats()["token_calls"] == 1


def test_log_has_no_secrets_or_tokens(op: OidcProvider) -> None:
    tokens = tokens_for(op, BASIC)
    log = op.log_text()
    assert '"message":"request"' in log
    for secret in (BASIC["client_secret"], POST["client_secret"], tokens["access_token"], tokens["refresh_token"]):
        assert secret not in log


def test_sign_in_fails_clearly_on_a_provider_error_page(op: OidcProvider) -> None:
    bad = op.authorization_url({**BASIC, "redirect_uris": ["http://127.0.0.1/elsewhere"]}, state="s")
    with pytest.raises(SignInError, match="HTTP 400"):
        sign_in(bad)


def test_require_pkce_applies_to_every_client() -> None:
    with OidcProvider().start([BASIC], require_pkce=True) as strict:
        assert query(authorize(strict, BASIC, pkce=False)[0])["error"] == "invalid_request"


def test_start_fails_clearly_without_node() -> None:
    with pytest.raises(OidcProviderError, match="node executable"):
        OidcProvider(node="no-such-node-binary").start([BASIC])


def test_interaction_steps_follow_the_forms() -> None:
    login_page = '<form action="/interaction/u1/login"></form><form action="/interaction/u1/abort"></form>'
    actions = interaction_actions(login_page, "http://op/interaction/u1")
    assert actions == {"login": "http://op/interaction/u1/login", "abort": "http://op/interaction/u1/abort"}
    assert next_interaction(actions, "carol", consent=False) == (actions["login"], {"login": "carol"})
    consent = {"confirm": "http://op/c", "abort": "http://op/a"}
    assert next_interaction(consent, "carol", consent=True) == ("http://op/c", {})
    assert next_interaction(consent, "carol", consent=False) == ("http://op/a", {})
    with pytest.raises(SignInError):
        next_interaction({}, "carol", consent=True)
