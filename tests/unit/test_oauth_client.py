"""OAuthClient's I/O: network failures, the session's guards, revocation without an endpoint, and Entra ID via msal."""

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from shared.oauth import OAuthClient, OAuthError, TokenSet, authorization_url, new_pkce, oauth_config_for
from shared.proxy import AddressPolicy, BackendSession
from tests.support.oauth_standins import ProviderStandin, Reply, self_signed
from tests.support.stream_backend import StreamingBackend
from tests.unit.test_oauth_config import oauth_connector
from tests.unit.test_oauth_messages import query
from tests.unit.test_oauth_providers import CALLBACK, config_at

pytestmark = pytest.mark.filterwarnings("ignore:Change your acquire_token_by_authorization_code:DeprecationWarning")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def session():
    with BackendSession(AddressPolicy(allow_loopback=True)) as backend_session:
        yield backend_session


# -- the plain path ----------------------------------------------------------------------------


def test_an_unreachable_token_endpoint_is_transient(session):
    port = free_port()
    settings = {"identityProvider": "github", "clientId": "client-1", "scopes": ["repo"]}
    config = oauth_config_for(oauth_connector(_maker(settings, tokenUrl=f"http://127.0.0.1:{port}/token")))
    with pytest.raises(OAuthError) as caught:
        OAuthClient(session).refresh(config, "s3cret", "rt-1")
    assert (caught.value.error, caught.value.transient) == ("temporarily_unavailable", True)
    assert "ConnectionError" in caught.value.description


def test_a_slow_token_endpoint_times_out_as_transient(session):
    answer = threading.Event()  # the endpoint answers only once the client has given up: no race with the clock

    def slow(request):
        assert answer.wait(30)
        return Reply(200)

    with ProviderStandin("standard") as server:
        server.route("POST", server.token_path, slow)
        try:
            with pytest.raises(OAuthError) as caught:
                OAuthClient(session, timeout=(1, 0.2)).refresh(config_at(server, "oauth2"), "s", "rt")
            assert not answer.is_set()  # it was the read timeout, not an answer, that ended the call
        finally:
            answer.set()
    assert (caught.value.error, caught.value.transient) == ("temporarily_unavailable", True)
    assert "Timeout" in caught.value.description


def test_a_blocked_address_is_not_transient():
    blocked = BackendSession(AddressPolicy(allow_loopback=False))
    with ProviderStandin("standard") as server, blocked:
        with pytest.raises(OAuthError) as caught:
            OAuthClient(blocked).refresh(config_at(server, "oauth2"), "s", server.grant_refresh_token())
        assert server.calls(server.token_path) == []
    assert (caught.value.error, caught.value.transient) == ("invalid_request", False)


def test_a_redirect_is_not_followed(session):
    with ProviderStandin("standard") as server:
        server.fail_next(server.token_path, Reply(307, b"", {"Location": f"{server.url}/elsewhere"}))
        with pytest.raises(OAuthError) as caught:
            OAuthClient(session).refresh(config_at(server, "oauth2"), "s", server.grant_refresh_token())
        assert [r.path for r in server.received] == [server.token_path]
    assert (caught.value.error, caught.value.status) == ("invalid_response", 307)


def test_revoke_is_false_and_silent_without_an_endpoint(session):
    with ProviderStandin("facebook") as facebook:
        assert OAuthClient(session).revoke(config_at(facebook, "facebook"), "s", TokenSet("at", "rt")) is False
        assert facebook.received == []


def test_revocation_errors_are_raised(session):
    with ProviderStandin("standard") as server:
        server.fail_next(server.revocation_path, Reply(503))
        with pytest.raises(OAuthError) as caught:
            OAuthClient(session).revoke(config_at(server, "oauth2"), "s", TokenSet("at", "rt"))
    assert caught.value.transient


def test_no_secret_reaches_an_error_text(session):
    with ProviderStandin("standard") as server:
        echo = Reply(400, b'{"error": "invalid_grant", "error_description": "secret-1 code-xyz verifier-abc"}')
        server.fail_next(server.token_path, echo)
        with pytest.raises(OAuthError) as caught:
            OAuthClient(session).exchange_code(
                config_at(server, "oauth2"), "secret-1", "code-xyz", CALLBACK, "verifier-abc"
            )
    text = f"{caught.value} {caught.value.description!r} {caught.value.args!r}"
    assert "secret-1" not in text and "code-xyz" not in text and "verifier-abc" not in text


# -- Entra ID through msal ----------------------------------------------------------------------


@pytest.fixture
def entra():
    key, certificate = self_signed("client-1")
    with ProviderStandin("entra", certificate=certificate) as server:
        server.client_key = key
        yield server


@pytest.fixture
def entra_session(entra):
    with BackendSession(AddressPolicy(allow_loopback=True)) as backend_session:
        backend_session.verify = entra.ca_file  # the stand-in's self-signed certificate; msal talks https only
        yield backend_session


def pem(key):
    encryption = serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def _token_endpoint_at(url):
    settings = {"identityProvider": "github", "clientId": "client-1", "scopes": ["repo"]}
    return oauth_config_for(oauth_connector(_maker(settings, tokenUrl=url)))


def test_a_dripping_token_endpoint_is_cut_off_and_transient(session):
    # Each byte comes well within the 2 s read timeout; only the call's total (connect + read) ends it.
    with StreamingBackend() as dripping:
        with pytest.raises(OAuthError) as caught:
            OAuthClient(session, timeout=(0.5, 2)).refresh(_token_endpoint_at(dripping.url + "/drip"), "s", "rt")
        assert dripping.disconnected.wait(10)
    assert (caught.value.error, caught.value.transient) == ("temporarily_unavailable", True)


def test_an_oversized_token_response_is_refused_unread(session):
    with StreamingBackend() as flooding:
        with pytest.raises(OAuthError) as caught:
            OAuthClient(session).refresh(_token_endpoint_at(f"{flooding.url}/big/{16 << 20}"), "s", "rt")
        assert flooding.disconnected.wait(10)
        assert flooding.finished == 0
    assert caught.value.error == "invalid_response"


def _maker(settings, **custom):
    """The settings with the maker's customParameters (endpoints a connection may not move)."""
    return {**settings, "customParameters": {name: {"value": value} for name, value in custom.items()}}


def entra_config(entra, provider="aad", **overrides):
    settings = {"identityProvider": provider, "clientId": "client-1", "scopes": []}
    endpoints = {"loginUri": entra.url, "tenantId": "tenant-1", "resourceUri": "api://backend"}
    for name in [name for name in overrides if name in ("oidcAuthority", "tokenUrl", "authorizationUrl")]:
        endpoints[name] = overrides.pop(name)
    return oauth_config_for(oauth_connector(_maker(settings, **endpoints)), overrides)


def test_entra_sign_in_url_matches_discovery_and_the_code_exchange_uses_pkce(entra, entra_session):
    config = entra_config(entra)
    verifier, challenge = new_pkce()
    url = authorization_url(config, CALLBACK, "state-1", challenge)
    assert url.startswith(f"{entra.url}/tenant-1/oauth2/v2.0/authorize?")
    assert query(url)["scope"] == "api://backend/.default openid profile offline_access"
    code = entra.issue_code(CALLBACK, query(url)["code_challenge"], scope="api://backend/.default")
    tokens = OAuthClient(entra_session, clock=lambda: 1000.0).exchange_code(
        config, entra.client_secret, code, CALLBACK, verifier
    )
    (call,) = entra.calls(entra.token_path)
    assert call.form["code_verifier"] == verifier and call.form["redirect_uri"] == CALLBACK
    assert set(call.form["scope"].split()) == {"api://backend/.default", "openid", "profile", "offline_access"}
    assert tokens.refresh_token and tokens.expires_at == 1000.0 + 3599
    assert tokens.extra == {"ext_expires_in": 3599}  # msal's own fields left out


def test_entra_refresh_rotates_and_a_spent_refresh_token_is_invalid_grant(entra, entra_session):
    client, config = OAuthClient(entra_session), entra_config(entra)
    old = entra.grant_refresh_token("api://backend/.default")
    new = client.refresh(config, entra.client_secret, old)
    with pytest.raises(OAuthError) as caught:
        client.refresh(config, entra.client_secret, old)
    assert new.refresh_token not in (None, old)
    assert (caught.value.error, caught.value.transient, caught.value.status) == ("invalid_grant", False, 400)
    assert caught.value.description.startswith("AADSTS70008")
    assert len(entra.calls("/tenant-1/v2.0/.well-known/openid-configuration")) == 1  # discovery is cached


def test_entra_outage_is_transient_and_msal_does_not_replay_it(entra, entra_session):
    client, config = OAuthClient(entra_session), entra_config(entra)
    token = entra.grant_refresh_token()
    entra.fail_next(entra.token_path, Reply(503, {"error": "temporarily_unavailable"}))
    with pytest.raises(OAuthError) as caught:
        client.refresh(config, entra.client_secret, token)
    assert (caught.value.error, caught.value.transient) == ("temporarily_unavailable", True)
    assert client.refresh(config, entra.client_secret, token).access_token  # reached Entra again, not msal's cache
    assert len(entra.calls(entra.token_path)) == 2


def test_concurrent_entra_calls_share_one_discovery(entra, entra_session):
    client, config = OAuthClient(entra_session), entra_config(entra)
    tokens = [entra.grant_refresh_token() for _ in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda token: client.refresh(config, entra.client_secret, token), tokens))
    assert len({r.access_token for r in results}) == 16
    assert len(entra.calls("/tenant-1/v2.0/.well-known/openid-configuration")) <= 8


def test_entra_client_credentials_with_a_secret_and_with_a_certificate(entra, entra_session):
    client = OAuthClient(entra_session)
    by_secret = client.client_credentials(entra_config(entra, grantType="client_credentials"), entra.client_secret)
    certificate = {
        "private_key": pem(entra.client_key),
        "thumbprint": entra.certificate.fingerprint(hashes.SHA1()).hex(),
    }
    config = entra_config(entra, "aadcertificate", grantType="client_credentials")
    by_certificate = client.client_credentials(config, certificate)
    secret_call, certificate_call = entra.calls(entra.token_path)
    assert by_secret.access_token and by_certificate.access_token and by_certificate.refresh_token is None
    assert secret_call.form["scope"] == certificate_call.form["scope"] == "api://backend/.default"
    assert "client_secret" not in certificate_call.form
    assert certificate_call.form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    forged = {**certificate, "private_key": pem(self_signed("someone-else")[0])}
    with pytest.raises(OAuthError) as caught:
        client.client_credentials(config, forged)
    assert caught.value.error == "invalid_client"
    with pytest.raises(OAuthError, match="needs private_key and thumbprint"):
        client.client_credentials(config, {"private_key": certificate["private_key"]})


def test_entra_unreachable_is_transient(entra_session):
    settings = {"identityProvider": "aad", "clientId": "client-1", "scopes": ["User.Read"]}
    config = oauth_config_for(
        oauth_connector(_maker(settings, loginUri=f"https://127.0.0.1:{free_port()}", tenantId="tenant-1"))
    )
    with pytest.raises(OAuthError) as caught:
        OAuthClient(entra_session).refresh(config, "s", "rt")
    assert (caught.value.error, caught.value.transient) == ("temporarily_unavailable", True)


def test_entra_behind_a_refused_address_is_not_transient(entra):
    with BackendSession(AddressPolicy(allow_loopback=False)) as guarded:  # the stand-in is on loopback
        guarded.verify = entra.ca_file
        with pytest.raises(OAuthError) as caught:
            OAuthClient(guarded).refresh(entra_config(entra), entra.client_secret, "rt")
    assert (caught.value.error, caught.value.transient) == ("invalid_request", False)
    assert "address is not allowed" in caught.value.description


def test_entra_error_texts_carry_no_code_or_secret(entra, entra_session):
    code = entra.issue_code(CALLBACK)
    echo = {"error": "invalid_grant", "error_description": f"AADSTS1: {code} with {entra.client_secret} refused"}
    entra.fail_next(entra.token_path, Reply(400, echo))
    with pytest.raises(OAuthError) as caught:
        OAuthClient(entra_session).exchange_code(entra_config(entra), entra.client_secret, code, CALLBACK, None)
    assert code not in str(caught.value) and entra.client_secret not in str(caught.value)
    assert caught.value.error == "invalid_grant"
