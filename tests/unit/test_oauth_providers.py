"""Each built-in provider's quirks, end to end through OAuthClient against a stand-in answering as the provider does."""

import json

import pytest

from shared.oauth import OAuthClient, OAuthError, TokenSet, authorization_url, new_pkce, oauth_config_for
from shared.proxy import AddressPolicy, BackendSession
from tests.support.oauth_standins import ProviderStandin, Reply
from tests.unit.test_oauth_config import oauth_connector
from tests.unit.test_oauth_messages import query

CALLBACK = "https://gateway.example.com/api/oauth/callback"
NOW = 1_700_000_000.0


@pytest.fixture
def client():
    with BackendSession(AddressPolicy(allow_loopback=True)) as session:
        yield OAuthClient(session, timeout=(2, 5), clock=lambda: NOW)


def config_at(standin, provider, scopes=("read",), **overrides):
    """The provider's template, its endpoints moved to the stand-in (the paths stay the provider's own)."""
    urls = {"authorizationUrl": f"{standin.url}/authorize", "tokenUrl": standin.url + standin.token_path}
    if standin.revocation_path:
        urls["revocationUrl"] = standin.url + standin.revocation_path
    settings = {
        "identityProvider": provider,
        "clientId": standin.client_id,
        "scopes": list(scopes),
        "customParameters": {name: {"value": url} for name, url in urls.items()},  # the maker's, not a connection's
    }
    return oauth_config_for(oauth_connector(settings), overrides)


def sign_in(standin, config, **grant):
    """What the browser part would do: the stand-in issues a code for this PKCE challenge."""
    verifier, challenge = new_pkce() if config.pkce else (None, None)
    url = authorization_url(config, CALLBACK, "state-1", challenge)
    code = standin.issue_code(CALLBACK, query(url).get("code_challenge"), **grant)
    return code, verifier, query(url)


# -- GitHub ------------------------------------------------------------------------------------


def test_github_answers_json_when_asked_and_tokens_do_not_expire(client):
    with ProviderStandin("github") as github:
        config = config_at(github, "github", ["repo", "read:user"])
        code, verifier, params = sign_in(github, config, scope="repo read:user")
        tokens = client.exchange_code(config, github.client_secret, code, CALLBACK, verifier)
        (call,) = github.calls(github.token_path)
    assert call.headers["accept"] == "application/json"
    assert params["scope"] == "repo read:user"
    assert call.form["client_secret"] == github.client_secret and call.form["code_verifier"] == verifier
    assert (tokens.refresh_token, tokens.expires_at, tokens.token_type, tokens.scope) == (
        None,
        None,
        "Bearer",
        "repo,read:user",
    )


def test_github_form_answer_without_accept_json_is_understood_too(client):
    with ProviderStandin("github") as github:
        config = config_at(github, "oauth2")  # a plain oauth2 connector pointed at GitHub: no Accept header
        code, verifier, _ = sign_in(github, config)
        tokens = client.exchange_code(config, github.client_secret, code, CALLBACK, verifier)
        (call,) = github.calls(github.token_path)
    assert "accept" not in call.headers
    assert tokens.access_token.startswith("at-") and tokens.scope == "read"


def test_github_reports_a_bad_code_with_http_200_and_it_is_invalid_grant(client):
    with ProviderStandin("github") as github:
        config = config_at(github, "github")
        with pytest.raises(OAuthError) as caught:
            client.exchange_code(config, github.client_secret, "code-unknown", CALLBACK, None)
    assert (caught.value.error, caught.value.status, caught.value.transient) == ("invalid_grant", 200, False)
    assert caught.value.description.startswith("bad_verification_code: ")


def test_github_app_tokens_expire_and_refresh_and_revocation_deletes_the_grant(client):
    with ProviderStandin("github", expiring=True) as github:
        config = config_at(github, "github")
        code, verifier, _ = sign_in(github, config)
        first = client.exchange_code(config, github.client_secret, code, CALLBACK, verifier)
        second = client.refresh(config, github.client_secret, first.refresh_token).merged_with(first)
        assert client.revoke(config, github.client_secret, second) is True
        (revocation,) = github.calls(github.revocation_path)
    assert first.expires_at == NOW + 28800 and first.extra["refresh_token_expires_in"] == 15811200
    assert second.refresh_token not in (None, first.refresh_token)
    assert revocation.method == "DELETE" and revocation.path == "/applications/client-1/grant"
    assert revocation.basic == ("client-1", github.client_secret)
    assert revocation.json == {"access_token": second.access_token}
    assert github.revoked == [(second.access_token, None)]


# -- Google ------------------------------------------------------------------------------------


def test_google_offline_consent_refresh_without_new_refresh_token_and_rfc7009_revocation(client):
    with ProviderStandin("google") as google:
        config = config_at(google, "google", ["openid", "email"])
        code, verifier, params = sign_in(google, config, offline=True)
        first = client.exchange_code(config, google.client_secret, code, CALLBACK, verifier)
        refreshed = client.refresh(config, google.client_secret, first.refresh_token)
        merged = refreshed.merged_with(first)
        assert client.revoke(config, google.client_secret, merged) is True
        assert (
            client.revoke(config, google.client_secret, merged) is True
        )  # already revoked: Google's 400 invalid_token
    assert (params["access_type"], params["prompt"], params["code_challenge_method"]) == ("offline", "consent", "S256")
    assert first.refresh_token and first.expires_at == NOW + 3599
    assert refreshed.refresh_token is None and merged.refresh_token == first.refresh_token
    assert google.revoked == [(first.refresh_token, "refresh_token"), (merged.access_token, "access_token")]


# -- Salesforce ----------------------------------------------------------------------------------


def test_salesforce_instance_url_lands_in_extra_and_survives_refresh(client):
    with ProviderStandin("salesforce") as salesforce:
        config = config_at(salesforce, "salesforce", ["api", "refresh_token"])
        code, verifier, _ = sign_in(salesforce, config)
        first = client.exchange_code(config, salesforce.client_secret, code, CALLBACK, verifier)
        merged = client.refresh(config, salesforce.client_secret, first.refresh_token).merged_with(first)
    assert first.extra[config.backend_host_field] == "https://acme.my.salesforce.com"
    assert first.expires_at is None  # Salesforce sends no expires_in
    assert set(first.extra) == {"signature", "instance_url", "id", "issued_at"}
    assert (
        merged.refresh_token == first.refresh_token and merged.extra["instance_url"] == "https://acme.my.salesforce.com"
    )


# -- Facebook ------------------------------------------------------------------------------------


def test_facebook_grants_no_refresh_token_and_reports_errors_as_an_object(client):
    with ProviderStandin("facebook") as facebook:
        config = config_at(facebook, "facebook", ["email", "public_profile"])
        code, verifier, params = sign_in(facebook, config)
        first = client.exchange_code(config, facebook.client_secret, code, CALLBACK, verifier)
        again = client.exchange_code(config, facebook.client_secret, sign_in(facebook, config)[0], CALLBACK, None)
        with pytest.raises(OAuthError) as caught:
            client.exchange_code(config, facebook.client_secret, code, CALLBACK, None)  # used already
    assert params["scope"] == "email,public_profile" and "code_challenge" not in params
    assert not config.issues_refresh_tokens
    assert (first.refresh_token, first.expires_at) == (None, NOW + 5183944)
    assert again.merged_with(first).refresh_token is None
    assert again.merged_with(TokenSet("old", "kept-rt")).refresh_token == "kept-rt"
    assert (caught.value.error, caught.value.status) == ("invalid_grant", 400)
    assert caught.value.description == "OAuthException: The code is invalid or expired."


# -- Dropbox -------------------------------------------------------------------------------------


def test_dropbox_offline_access_refresh_and_bearer_revocation(client):
    with ProviderStandin("dropbox") as dropbox:
        config = config_at(dropbox, "dropbox", ["files.content.read"])
        code, verifier, params = sign_in(dropbox, config)
        first = client.exchange_code(config, dropbox.client_secret, code, CALLBACK, verifier)
        merged = client.refresh(config, dropbox.client_secret, first.refresh_token).merged_with(first)
        assert client.revoke(config, dropbox.client_secret, merged) is True
        (revocation,) = dropbox.calls(dropbox.revocation_path)
    assert params["token_access_type"] == "offline"
    assert (first.expires_at, first.extra["account_id"]) == (NOW + 14400, "dbid:AAH4f99")
    assert merged.refresh_token == first.refresh_token and merged.access_token != first.access_token
    assert revocation.bearer == merged.access_token and revocation.body == b""


# -- Slack ---------------------------------------------------------------------------------------


def test_slack_nested_user_token_rotation_and_ok_false(client):
    with ProviderStandin("slack", expiring=True) as slack:
        config = config_at(slack, "slack", ["chat:write", "channels:read"])
        code, verifier, params = sign_in(slack, config, scope="chat:write,channels:read")
        first = client.exchange_code(config, slack.client_secret, code, CALLBACK, verifier)
        second = client.refresh(config, slack.client_secret, first.refresh_token).merged_with(first)
        with pytest.raises(OAuthError) as caught:
            client.exchange_code(config, slack.client_secret, code, CALLBACK, None)
        assert client.revoke(config, slack.client_secret, second) is True
        assert client.revoke(config, slack.client_secret, second) is True  # invalid_auth: already gone
    assert params["scope"] == "chat:write,channels:read"
    assert first.access_token.startswith("at-") and first.refresh_token and first.expires_at == NOW + 43200
    assert (first.token_type, first.extra["provider_token_type"]) == ("Bearer", "user")
    assert first.extra["authed_user"] == {
        "id": "U1234",
        "scope": "chat:write,channels:read",
        "token_type": "user",
        "expires_in": 43200,
    }
    assert second.refresh_token != first.refresh_token
    assert (caught.value.error, caught.value.status, caught.value.description) == ("invalid_grant", 200, "invalid_code")
    assert slack.revoked == [(second.access_token, None)]


# -- a standard RFC 6749 server ------------------------------------------------------------------


@pytest.mark.parametrize(("expires_in", "expires_at"), [("3600", NOW + 3600), (None, None), (120, NOW + 120)])
def test_expires_in_as_a_string_or_missing(client, expires_in, expires_at):
    with ProviderStandin("standard", expires_in=expires_in) as server:
        config = config_at(server, "oauth2")
        code, verifier, _ = sign_in(server, config)
        assert client.exchange_code(config, server.client_secret, code, CALLBACK, verifier).expires_at == expires_at


def test_rotation_invalidates_the_old_refresh_token(client):
    with ProviderStandin("standard", rotate=True) as server:
        config = config_at(server, "oauth2")
        old = server.grant_refresh_token()
        new = client.refresh(config, server.client_secret, old)
        with pytest.raises(OAuthError) as caught:
            client.refresh(config, server.client_secret, old)
    assert new.refresh_token not in (None, old)
    assert (caught.value.error, caught.value.transient) == ("invalid_grant", False)


def test_without_rotation_the_old_refresh_token_is_kept_by_merging(client):
    with ProviderStandin("standard", rotate=False) as server:
        config = config_at(server, "oauth2")
        old = TokenSet("at-0", server.grant_refresh_token())
        new = client.refresh(config, server.client_secret, old.refresh_token)
        again = client.refresh(config, server.client_secret, old.refresh_token)
    assert new.refresh_token is None and new.merged_with(old).refresh_token == old.refresh_token
    assert again.access_token != new.access_token


def test_an_outage_is_transient_and_the_retry_works(client):
    with ProviderStandin("standard") as server:
        config = config_at(server, "oauth2")
        token = server.grant_refresh_token()
        server.fail_next(server.token_path, Reply(503, b"<html>maintenance</html>", {"Retry-After": "30"}))
        with pytest.raises(OAuthError) as caught:
            client.refresh(config, server.client_secret, token)
        assert client.refresh(config, server.client_secret, token).access_token
    assert (caught.value.error, caught.value.transient, caught.value.retry_after) == (
        "temporarily_unavailable",
        True,
        30,
    )


def test_rfc7009_revocation_sends_refresh_then_access_token_with_client_auth(client):
    with ProviderStandin("standard") as server:
        config = config_at(server, "oauth2", tokenAuth="client_secret_basic")
        code, verifier, _ = sign_in(server, config)
        tokens = client.exchange_code(config, server.client_secret, code, CALLBACK, verifier)
        assert client.revoke(config, server.client_secret, tokens) is True
        calls = server.calls(server.revocation_path)
    assert [(c.form, c.basic) for c in calls] == [
        ({"token": tokens.refresh_token, "token_type_hint": "refresh_token"}, ("client-1", server.client_secret)),
        ({"token": tokens.access_token, "token_type_hint": "access_token"}, ("client-1", server.client_secret)),
    ]
    assert server.revoked == [(tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")]
    assert json.dumps(tokens.extra) == "{}"
