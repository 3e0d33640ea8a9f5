"""OAuth connections end to end, against a real authorization server (oidc-provider) and the real gateway.

Sign-in is driven over HTTP like a browser (one requests.Session = one browser's cookie jar); the
provider's counters prove how many token calls happened. No test waits for a token to expire: it
makes the stored token expire (as an operator could, through Key Vault and the record) instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import Stack, host_of, problem
from tests.support import connector_files
from tests.support.gateway_signin import CSRF_FIELD, confirm, open_start_page, to_provider
from tests.support.oidc_provider import OidcProvider, sign_in

CLIENT_SECRET = "gw-client-secret-" + uuid.uuid4().hex
TOKEN_TTL = 500  # seconds: none expires by itself in a test (tests expire stored tokens); under the timer horizon
PAST = "2000-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def provider(stack: Stack) -> Iterator[OidcProvider]:
    callback = f"{stack.public_url}/api/oauth/callback"
    clients = [
        gateway_client(stack, "gw-client"),
        {
            "client_id": "gw-machine",
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [callback],
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "client_secret_post",
        },
        {
            "client_id": "gw-no-refresh",  # the provider issues it access tokens only
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [callback],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    ]
    with OidcProvider().start(clients, access_token_ttl=TOKEN_TTL) as op:
        yield op


def gateway_client(stack: Stack, client_id: str) -> dict:
    """An OAuth app at the test's authorization server whose redirect is this gateway's callback."""
    return {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{stack.public_url}/api/oauth/callback"],
        "token_endpoint_auth_method": "client_secret_post",
    }


def oauth_connector(stack: Stack, provider: OidcProvider, client_id: str = "gw-client", **custom: str) -> tuple:
    return connector_files.oauth_connector(
        host_of(stack.backend.url),
        provider.authorization_endpoint,
        provider.token_endpoint,
        provider.revocation_endpoint,
        client_id,
        **custom,
    )


def register(stack: Stack, connector_id: str, definition: dict, properties: dict, **extra: object) -> dict:
    body = {"apiDefinition": definition, "apiProperties": properties, "clientSecret": CLIENT_SECRET, **extra}
    response = stack.maker().put(f"{stack.url}/api/connectors/{connector_id}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def create(stack: Stack, client: requests.Session, connector_id: str, **body: object) -> dict:
    response = client.post(
        f"{stack.url}/api/connectors/{connector_id}/connections", json={"displayName": "mine", "parameters": {}, **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def callback_in(browser: requests.Session, callback: str, html: bool = True) -> requests.Response:
    headers = {"Accept": "text/html"} if html else {}
    return browser.get(callback, headers=headers, allow_redirects=False, timeout=30)


def complete_sign_in(
    stack: Stack, login_url: str, browser: requests.Session | None = None, **options: object
) -> requests.Response:
    """The whole sign-in in one browser: start page, confirmation, the provider, the callback."""
    browser = browser or requests.Session()
    callback = sign_in(to_provider(browser, login_url), session=browser, **options)
    assert callback.startswith(f"{stack.public_url}/api/oauth/callback?"), callback
    return callback_in(browser, callback)


def expire_stored_token(stack: Stack, connection_id: str) -> None:
    """Make the connection's stored access token expired, the way a passing hour would: a new secret version
    with the same tokens and a past expiry, named by the record."""
    from azure.keyvault.secrets import SecretClient

    from shared.stores.clients import StaticTokenCredential

    record = stack.connection_record(connection_id)
    payload = stack.keyvault_secret(record["secretName"], record["secretVersion"])
    payload["tokens"]["expires_at"] = 946684800.0  # 2000-01-01
    client = SecretClient(
        stack.keyvault.url,
        StaticTokenCredential(),
        verify_challenge_resource=False,
        connection_verify=stack.keyvault.details["ca_bundle"],
    )
    secret = client.set_secret(record["secretName"], json.dumps(payload), content_type="application/json")
    connections = stack.tables.get_table_client("e2econnections")
    connections.update_entity(
        {
            "PartitionKey": connection_id,
            "RowKey": "connection",
            "secretVersion": secret.properties.version,
            "tokenExpiresAt": PAST,
        }
    )


@pytest.fixture(scope="module")
def connector_id(stack: Stack, provider: OidcProvider) -> str:
    register(stack, "oauth-echo", *oauth_connector(stack, provider), allowTokenRetrieval=True)
    return "oauth-echo"


def signed_in(stack: Stack, connector_id: str, user: str) -> tuple[requests.Session, str]:
    client = stack.client(user)
    connection = create(stack, client, connector_id)
    assert complete_sign_in(stack, connection["loginUrl"], username=user).status_code == 200
    return client, connection["id"]


def bearer_seen(stack: Stack, path: str) -> str:
    seen = [r for r in stack.backend.requests if r.path.endswith(path)][-1]
    authorization = seen.header("Authorization") or ""
    assert authorization.startswith("Bearer ")
    return authorization.removeprefix("Bearer ")


def test_connector_shows_the_redirect_url_and_never_the_client_secret(stack: Stack, connector_id: str) -> None:
    response = stack.maker().get(f"{stack.url}/api/connectors/{connector_id}")
    oauth = response.json()["oauth"]
    assert oauth["redirectUrl"] == f"{stack.public_url}/api/oauth/callback"
    assert oauth["clientSecretStored"] is True
    assert CLIENT_SECRET not in response.text
    assert CLIENT_SECRET not in repr(stack.entities("connectors"))


def test_sign_in_invoke_expiry_refresh_rotation_and_revoke_on_delete(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    alice = stack.client("alice")
    connection = create(stack, alice, connector_id, displayName="<script>alert(1)</script> mail")
    assert connection["status"] == "Unauthenticated"
    assert connection["loginUrl"].startswith(f"{stack.public_url}/api/oauth/start/")
    invoke = f"{stack.url}/api/connections/{connection['id']}/invoke"
    assert alice.get(f"{invoke}/early").status_code == 409

    browser = requests.Session()
    page, csrf = open_start_page(browser, connection["loginUrl"])
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    endpoint = urlsplit(provider.authorization_endpoint)
    assert f"form-action 'self' {endpoint.scheme}://{endpoint.netloc};" in csp
    cookie = page.headers["Set-Cookie"]  # http public URL: no __Host- prefix, which needs Secure (see README)
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}  # as the Functions host writes them
    assert cookie.startswith("cg-signin=")
    assert {"httponly", "samesite=lax", "path=/api/oauth/", "max-age=600"} <= attributes
    assert "&lt;script&gt;alert(1)&lt;/script&gt; mail" in page.text and "<script>" not in page.text
    assert connector_id in page.text and stack.principal_id("alice") in page.text and "openid" in page.text

    confirmed = confirm(browser, connection["loginUrl"], csrf)
    assert confirmed.status_code == 303
    assert confirmed.headers["Cache-Control"] == "no-store"
    provider_url = confirmed.headers["Location"]
    assert provider_url.startswith(provider.authorization_endpoint)
    query = parse_qs(urlsplit(provider_url).query)
    assert query["redirect_uri"] == [f"{stack.public_url}/api/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["code_challenge"]
    again = browser.get(connection["loginUrl"], allow_redirects=False, timeout=30)
    assert again.status_code == 400  # single use: the ticket is gone once confirmed
    assert problem(again)["type"].endswith("invalid-oauth-state")

    callback = sign_in(provider_url, session=browser)
    page = callback_in(browser, callback)
    assert page.status_code == 200
    assert "Connected" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert alice.get(f"{stack.url}/api/connections/{connection['id']}").json()["status"] == "Connected"

    assert alice.get(f"{invoke}/first").status_code == 200
    first_token = bearer_seen(stack, "/first")
    assert provider.introspect(first_token, {"client_id": "gw-client", "client_secret": CLIENT_SECRET})["active"]
    record = stack.connection_record(connection["id"])
    first_secret = stack.keyvault_secret(record["secretName"], record["secretVersion"])
    assert first_secret["tokens"]["access_token"] == first_token
    assert first_token not in repr(stack.entities("connections"))
    assert first_secret["tokens"]["refresh_token"] not in repr(stack.entities("connections"))

    provider.reset()
    expire_stored_token(stack, connection["id"])
    assert alice.get(f"{invoke}/second").status_code == 200
    second_token = bearer_seen(stack, "/second")
    assert second_token != first_token
    assert provider.stats()["grants"]["refresh_token"] == 1
    client = {"client_id": "gw-client", "client_secret": CLIENT_SECRET}
    old_refresh = first_secret["tokens"]["refresh_token"]
    assert not provider.introspect(old_refresh, client)["active"]  # rotated: the provider dropped it
    record = stack.connection_record(connection["id"])
    newest = stack.keyvault_secret(record["secretName"])["tokens"]
    assert newest["refresh_token"] != old_refresh
    assert provider.introspect(newest["refresh_token"], client)["active"]

    assert alice.delete(f"{stack.url}/api/connections/{connection['id']}").status_code == 204
    assert provider.stats()["revocations"] >= 1
    assert not provider.introspect(newest["refresh_token"], client)["active"]
    assert record["secretName"] not in stack.keyvault_state()["secrets"]
    log = stack.gateway_log()
    for token in (first_token, second_token, old_refresh, newest["refresh_token"], CLIENT_SECRET):
        assert token not in log


def test_forged_replayed_expired_and_foreign_state_are_refused(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    forged = requests.get(f"{stack.url}/api/oauth/callback?state=forged&code=abc", timeout=10)
    assert forged.status_code == 400
    assert problem(forged)["type"].endswith("invalid-oauth-state")

    bob = stack.client("bob")
    connection = create(stack, bob, connector_id)
    browser = requests.Session()
    callback = sign_in(to_provider(browser, connection["loginUrl"]), session=browser, username="bob")
    assert callback_in(browser, callback).status_code == 200
    before = stack.connection_record(connection["id"])
    replay = callback_in(browser, callback, html=False)
    assert replay.status_code == 400
    assert problem(replay)["type"].endswith("invalid-oauth-state")
    assert stack.connection_record(connection["id"])["secretVersion"] == before["secretVersion"]

    tokens_before = stack.keyvault_secret(before["secretName"])["tokens"]
    states = stack.tables.get_table_client("e2estates")
    for tamper in ({"expiresAt": PAST}, {"principal": stack.principal_id("mallory")}):
        again = bob.post(f"{stack.url}/api/connections/{connection['id']}/reauthorize").json()
        browser = requests.Session()
        provider_url = to_provider(browser, again["loginUrl"])
        [entity] = [
            e for e in states.query_entities("PartitionKey eq 'state'") if e["connectionId"] == connection["id"]
        ]
        states.update_entity({"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"], **tamper})
        refused = callback_in(browser, sign_in(provider_url, session=browser, username="bob"), html=False)
        assert refused.status_code == 400, tamper
        assert problem(refused)["type"].endswith("invalid-oauth-state")
        assert stack.connection_record(connection["id"])["status"] == "Connected"
        assert stack.keyvault_secret(before["secretName"])["tokens"] == tokens_before  # no code was exchanged

    expired = bob.post(f"{stack.url}/api/connections/{connection['id']}/reauthorize").json()
    [ticket] = [
        e
        for e in states.query_entities("PartitionKey eq 'ticket'")
        if e["connectionId"] == connection["id"] and not e["browserHash"]
    ]
    states.update_entity({"PartitionKey": "ticket", "RowKey": ticket["RowKey"], "expiresAt": PAST})
    late = requests.get(expired["loginUrl"], timeout=30)
    assert late.status_code == 400
    assert problem(late)["type"].endswith("invalid-oauth-state")
    assert "Set-Cookie" not in late.headers


def test_provider_error_is_recorded_and_reauthorize_fixes_the_same_connection(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    carol = stack.client("carol")
    connection = create(stack, carol, connector_id)
    page = complete_sign_in(stack, connection["loginUrl"], username="carol", consent=False)
    assert page.status_code == 400
    assert "access_denied" in page.text
    state = carol.get(f"{stack.url}/api/connections/{connection['id']}").json()
    assert state["status"] == "Error"
    assert "access_denied" in state["error"]
    failed = carol.get(f"{stack.url}/api/connections/{connection['id']}/invoke/x")
    assert failed.status_code == 409
    assert problem(failed)["reauthorizeUrl"] == f"/api/connections/{connection['id']}/reauthorize"

    again = carol.post(f"{stack.url}/api/connections/{connection['id']}/reauthorize").json()
    assert again["id"] == connection["id"]
    assert complete_sign_in(stack, again["loginUrl"], username="carol").status_code == 200
    assert carol.get(f"{stack.url}/api/connections/{connection['id']}/invoke/fixed").status_code == 200


def test_post_login_redirect_must_be_allowlisted(stack: Stack, provider: OidcProvider, connector_id: str) -> None:
    dave = stack.client("dave")
    refused = dave.post(
        f"{stack.url}/api/connectors/{connector_id}/connections",
        json={"displayName": "x", "parameters": {}, "postLoginRedirectUrl": "https://evil.example/steal"},
    )
    assert refused.status_code == 400
    problem(refused)
    connection = create(stack, dave, connector_id, postLoginRedirectUrl="https://app.example.com/done")
    landing = complete_sign_in(stack, connection["loginUrl"], username="dave")
    assert landing.status_code == 302
    assert landing.headers["Location"] == (
        f"https://app.example.com/done?connectionId={connection['id']}&status=Connected"
    )


def test_provider_down_during_refresh_backs_off_then_recovers(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    erin, connection_id = signed_in(stack, connector_id, "erin")
    expire_stored_token(stack, connection_id)
    provider.reset()
    provider.outage(503, count=100)
    invoke = f"{stack.url}/api/connections/{connection_id}/invoke"
    down = erin.get(f"{invoke}/down")
    assert down.status_code == 503
    assert "Retry-After" in down.headers
    problem(down)
    calls = provider.stats()["token_calls"]
    assert erin.get(f"{invoke}/down-again").status_code == 503
    assert provider.stats()["token_calls"] == calls  # inside the backoff window: no new attempt
    provider.outage(503, count=0)
    connections = stack.tables.get_table_client("e2econnections")  # the backoff window ends
    assert stack.connection_record(connection_id)["refreshNotBefore"] > PAST
    connections.update_entity({"PartitionKey": connection_id, "RowKey": "connection", "refreshNotBefore": PAST})
    assert erin.get(f"{invoke}/up").status_code == 200


def test_invalid_grant_puts_the_connection_in_error(stack: Stack, provider: OidcProvider, connector_id: str) -> None:
    frank, connection_id = signed_in(stack, connector_id, "frank")
    record = stack.connection_record(connection_id)
    tokens = stack.keyvault_secret(record["secretName"])["tokens"]
    provider.revoke(tokens["refresh_token"], {"client_id": "gw-client", "client_secret": CLIENT_SECRET})
    expire_stored_token(stack, connection_id)
    failed = frank.get(f"{stack.url}/api/connections/{connection_id}/invoke/gone")
    assert failed.status_code == 409
    assert problem(failed)["reauthorizeUrl"].endswith("/reauthorize")
    assert frank.get(f"{stack.url}/api/connections/{connection_id}").json()["status"] == "Error"


def test_backend_401_refreshes_once_and_retries_once(stack: Stack, provider: OidcProvider, connector_id: str) -> None:
    gina, connection_id = signed_in(stack, connector_id, "gina")
    stack.backend.respond("/oauth/always-401", status=401)
    provider.reset()
    before = len(stack.backend.requests)
    response = gina.get(f"{stack.url}/api/connections/{connection_id}/invoke/always-401")
    assert response.status_code == 401
    attempts = stack.backend.requests[before:]
    assert len(attempts) == 2
    assert attempts[0].header("Authorization") != attempts[1].header("Authorization")
    assert provider.stats()["grants"]["refresh_token"] == 1


def test_token_retrieval(stack: Stack, provider: OidcProvider, connector_id: str) -> None:
    hank, connection_id = signed_in(stack, connector_id, "hank")
    response = hank.get(f"{stack.url}/api/connections/{connection_id}/token")
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresAt"]
    assert provider.introspect(body["accessToken"], {"client_id": "gw-client", "client_secret": CLIENT_SECRET})[
        "active"
    ]
    assert stack.client("stranger").get(f"{stack.url}/api/connections/{connection_id}/token").status_code == 404

    register(stack, "oauth-no-token", *oauth_connector(stack, provider))
    ivy, other_id = signed_in(stack, "oauth-no-token", "ivy")
    assert ivy.get(f"{stack.url}/api/connections/{other_id}/token").status_code == 403


def test_client_credentials_connection_needs_no_user(stack: Stack, provider: OidcProvider) -> None:
    definition, properties = oauth_connector(stack, provider, client_id="gw-machine", grantType="client_credentials")
    register(stack, "oauth-machine", definition, properties)
    robot = stack.client("robot")
    connection = create(stack, robot, "oauth-machine")
    assert connection["status"] == "Connected"
    assert "loginUrl" not in connection
    assert robot.get(f"{stack.url}/api/connections/{connection['id']}/invoke/machine").status_code == 200
    token = bearer_seen(stack, "/machine")
    assert provider.introspect(token, {"client_id": "gw-machine", "client_secret": CLIENT_SECRET})["active"]
    expire_stored_token(stack, connection["id"])
    assert robot.get(f"{stack.url}/api/connections/{connection['id']}/invoke/machine-again").status_code == 200
    assert bearer_seen(stack, "/machine-again") != token


def test_connection_supplies_its_own_client_id_through_token_parameters(stack: Stack, provider: OidcProvider) -> None:
    definition, properties = oauth_connector(stack, provider, client_id="[[DUMMY]]")
    properties["properties"]["connectionParameters"]["token:ClientId"] = {
        "type": "string",
        "uiDefinition": {"displayName": "Client ID", "constraints": {"required": "true"}},
    }
    register(stack, "oauth-byo-client", definition, properties)
    jill = stack.client("jill")
    connection = create(stack, jill, "oauth-byo-client", parameters={"token:ClientId": "gw-client"})
    browser = requests.Session()
    provider_url = to_provider(browser, connection["loginUrl"])
    assert parse_qs(urlsplit(provider_url).query)["client_id"] == ["gw-client"]
    assert callback_in(browser, sign_in(provider_url, session=browser, username="jill")).status_code == 200
    assert jill.get(f"{stack.url}/api/connections/{connection['id']}/invoke/byo").status_code == 200


def test_the_refresh_timer_keeps_idle_connections_alive(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    _, connection_id = signed_in(stack, connector_id, "kate")
    before = stack.connection_record(connection_id)["secretVersion"]
    provider.reset()
    assert stack.run_function("refresh_tokens").status_code == 202
    after = stack.connection_record(connection_id)
    assert after["secretVersion"] != before
    assert after["status"] == "Connected"
    assert provider.stats()["grants"]["refresh_token"] >= 1


def test_aadcertificate_client_certificate_goes_to_key_vault_only(stack: Stack) -> None:
    from tests.support.certs import CertificateAuthority

    issued = CertificateAuthority.create("Test CA").issue("gateway-client")
    definition = {
        "swagger": "2.0",
        "info": {"title": "Graph", "version": "1"},
        "host": "graph.example.com",
        "paths": {},
    }
    settings = {
        "identityProvider": "aadcertificate",
        "clientId": "00000000-0000-0000-0000-00000000c1e7",
        "scopes": [],
        "customParameters": {
            "loginUri": {"value": "https://login.microsoftonline.com"},
            "tenantId": {"value": "common"},
            "resourceUri": {"value": "https://graph.microsoft.com"},
        },
    }
    properties = {
        "properties": {"connectionParameters": {"token": {"type": "oauthSetting", "oAuthSettings": settings}}}
    }
    pem = issued.pem + issued.key_pem
    body = {"apiDefinition": definition, "apiProperties": properties, "clientCertificate": pem}
    response = stack.maker().put(f"{stack.url}/api/connectors/aad-cert", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["oauth"]["clientSecretStored"] is True
    key_body = issued.key_pem.split("\n")[1]
    assert key_body not in response.text
    [entity] = [e for e in stack.entities("connectors") if e["RowKey"] == "aad-cert"]
    assert key_body not in repr(entity)
    stored = stack.keyvault_secret(entity["secretName"])["clientCertificate"]
    assert stored["thumbprint"] == issued.thumbprint.lower().replace(":", "")
    assert "PRIVATE KEY" in stored["private_key"]

    broken = stack.maker().put(f"{stack.url}/api/connectors/aad-cert-bad", json={**body, "clientCertificate": "junk"})
    assert broken.status_code == 400
    assert problem(broken)["type"].endswith("invalid-client-certificate")
    assert stack.maker().get(f"{stack.url}/api/connectors/aad-cert-bad").status_code == 404


def test_a_refused_call_costs_no_token_refresh(stack: Stack, provider: OidcProvider, connector_id: str) -> None:
    lena, connection_id = signed_in(stack, connector_id, "lena")
    expire_stored_token(stack, connection_id)
    provider.reset()
    escaped = lena.get(f"{stack.url}/api/connections/{connection_id}/invoke/%2e%2e/admin")
    assert escaped.status_code == 400
    assert provider.stats()["token_calls"] == 0  # refused before the credential was needed
    assert lena.get(f"{stack.url}/api/connections/{connection_id}/invoke/fine").status_code == 200
    assert provider.stats()["token_calls"] == 1


def assert_nothing_stored(stack: Stack, connection_id: str, before: dict) -> None:
    after = stack.connection_record(connection_id)
    assert (after["status"], after["secretVersion"]) == (before["status"], before["secretVersion"])
    assert "tokens" not in stack.keyvault_secret(after["secretName"])


def test_a_sign_in_finished_in_a_colleagues_browser_stores_nothing(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    mia = stack.client("mia")
    connection = create(stack, mia, connector_id)
    before = stack.connection_record(connection["id"])
    mias_browser, colleagues_browser = requests.Session(), requests.Session()

    # Mia opens her loginUrl and confirms; then she sends the provider page's URL to a colleague.
    provider_url = to_provider(mias_browser, connection["loginUrl"])
    provider.reset()
    callback = sign_in(provider_url, session=colleagues_browser, username="colleague")
    refused = callback_in(colleagues_browser, callback, html=False)
    assert refused.status_code == 403
    assert problem(refused)["type"] == "urn:connector-gateway:problem:signin-browser-mismatch"
    assert refused.headers["Cache-Control"] == "no-store"
    assert provider.stats()["token_calls"] == 0  # the colleague's code was never exchanged
    assert_nothing_stored(stack, connection["id"], before)
    page = callback_in(colleagues_browser, callback)  # a browser gets the same answer as a page
    assert page.status_code == 403 and page.headers["Content-Type"].startswith("text/html")

    # The loginUrl itself, forwarded after Mia opened it, shows the colleague nothing to confirm.
    mias_second = create(stack, mia, connector_id)
    open_start_page(mias_browser, mias_second["loginUrl"])
    forwarded = colleagues_browser.get(mias_second["loginUrl"], allow_redirects=False, timeout=30)
    assert forwarded.status_code == 403
    assert problem(forwarded)["type"] == "urn:connector-gateway:problem:signin-browser-mismatch"
    assert "Set-Cookie" not in forwarded.headers

    # Mia's own browser still completes her sign-in, with her account.
    own = callback_in(mias_browser, sign_in(provider_url, session=mias_browser, username="mia"))
    assert own.status_code == 200
    assert mia.get(f"{stack.url}/api/connections/{connection['id']}/invoke/mine").status_code == 200
    token = bearer_seen(stack, "/mine")
    claims = provider.introspect(token, {"client_id": "gw-client", "client_secret": CLIENT_SECRET})
    assert claims["active"] and claims["sub"] == "mia"


def test_a_callback_without_or_with_another_sign_ins_cookie_is_refused(
    stack: Stack, provider: OidcProvider, connector_id: str
) -> None:
    nick = stack.client("nick")
    connection = create(stack, nick, connector_id)
    before = stack.connection_record(connection["id"])
    browser = requests.Session()
    callback = sign_in(to_provider(browser, connection["loginUrl"]), session=browser, username="nick")

    without = requests.get(callback, allow_redirects=False, timeout=30)  # no cookie at all
    assert without.status_code == 403
    assert problem(without)["type"] == "urn:connector-gateway:problem:signin-browser-mismatch"

    other = requests.Session()  # a browser bound to a sign-in of its own
    open_start_page(other, create(stack, stack.client("olga"), connector_id)["loginUrl"])
    assert other.cookies.get("cg-signin")
    foreign = callback_in(other, callback, html=False)
    assert foreign.status_code == 403
    assert problem(foreign)["type"] == "urn:connector-gateway:problem:signin-browser-mismatch"

    forged = requests.Session()
    forged.cookies.set("cg-signin", "A" * 43, domain="localhost.local", path="/api/oauth/")
    assert callback_in(forged, callback, html=False).status_code == 403
    assert_nothing_stored(stack, connection["id"], before)

    assert callback_in(browser, callback).status_code == 200  # the browser that started it still can


def test_only_the_confirmed_form_goes_to_the_provider(stack: Stack, provider: OidcProvider, connector_id: str) -> None:
    pia = stack.client("pia")
    connection = create(stack, pia, connector_id)
    login_url = connection["loginUrl"]
    browser = requests.Session()
    _, csrf = open_start_page(browser, login_url)

    with_token_in_query = browser.get(f"{login_url}?csrf={csrf}", allow_redirects=False, timeout=30)
    assert with_token_in_query.status_code == 200  # a GET only ever shows the page again
    assert "Location" not in with_token_in_query.headers
    fresh = CSRF_FIELD.search(with_token_in_query.text)
    assert fresh
    csrf = fresh.group(1)  # a reload issues a new token; the old one is void

    for form in (None, "", "wrong-" + csrf):
        refused = confirm(browser, login_url, form)
        assert refused.status_code == 403, form
        assert problem(refused)["type"] == "urn:connector-gateway:problem:signin-confirmation-required"
        assert "Location" not in refused.headers

    stolen = confirm(requests.Session(), login_url, csrf)  # the right token, from a browser without the cookie
    assert stolen.status_code == 403
    assert problem(stolen)["type"] == "urn:connector-gateway:problem:signin-browser-mismatch"

    assert confirm(browser, login_url, csrf).status_code == 303
    assert confirm(browser, login_url, csrf).status_code == 400  # the ticket is spent


def test_a_token_issued_without_refresh_token_is_used_until_it_really_expires(
    stack: Stack, provider: OidcProvider, start_gateway_process: object
) -> None:
    register(stack, "oauth-no-refresh", *oauth_connector(stack, provider, client_id="gw-no-refresh"))
    quinn, connection_id = signed_in(stack, "oauth-no-refresh", "quinn")
    record = stack.connection_record(connection_id)
    assert stack.keyvault_secret(record["secretName"])["tokens"]["refresh_token"] is None
    # A second gateway on the same stores whose refresh margin covers the token's whole life.
    wide_margin = start_gateway_process({"OAUTH_REFRESH_MARGIN_SECONDS": str(10 * TOKEN_TTL)})  # type: ignore[operator]
    provider.reset()
    used = quinn.get(f"{wide_margin}/api/connections/{connection_id}/invoke/no-refresh", timeout=30)
    assert used.status_code == 200
    assert bearer_seen(stack, "/no-refresh") == stack.keyvault_secret(record["secretName"])["tokens"]["access_token"]
    assert provider.stats()["token_calls"] == 0
    assert stack.connection_record(connection_id)["status"] == "Connected"

    expire_stored_token(stack, connection_id)
    expired = quinn.get(f"{wide_margin}/api/connections/{connection_id}/invoke/no-refresh", timeout=30)
    assert expired.status_code == 409
    assert problem(expired)["type"] == "urn:connector-gateway:problem:connection-needs-reauthorization"
    assert stack.connection_record(connection_id)["status"] == "Error"


def test_a_sign_in_under_way_when_its_connector_is_replaced_stores_nothing(
    stack: Stack, provider: OidcProvider
) -> None:
    definition, properties = oauth_connector(stack, provider)
    register(stack, "oauth-replaced", definition, properties)
    rita = stack.client("rita")
    connection = create(stack, rita, "oauth-replaced")
    browser = requests.Session()
    callback = sign_in(to_provider(browser, connection["loginUrl"]), session=browser, username="rita")

    # The backend changes (over https, as the https rule requires): its connections disconnect.
    moved = {**definition, "host": "elsewhere.example.com", "schemes": ["https"]}
    body = {"apiDefinition": moved, "apiProperties": properties, "clientSecret": CLIENT_SECRET}
    forced = stack.maker().put(f"{stack.url}/api/connectors/oauth-replaced?force=true", json=body)
    assert forced.status_code == 200, forced.text
    before = stack.connection_record(connection["id"])
    assert before["status"] == "Error"

    provider.reset()
    late = callback_in(browser, callback, html=False)
    assert late.status_code == 409
    assert problem(late)["type"] == "urn:connector-gateway:problem:connector-changed"
    assert provider.stats()["token_calls"] == 0
    assert_nothing_stored(stack, connection["id"], before)

    again = rita.post(f"{stack.url}/api/connections/{connection['id']}/reauthorize").json()  # consent to the new one
    assert complete_sign_in(stack, again["loginUrl"], username="rita").status_code == 200
    assert stack.connection_record(connection["id"])["status"] == "Connected"
