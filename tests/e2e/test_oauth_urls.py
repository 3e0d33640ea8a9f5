"""OAuth URLs end to end: a connection's values can't move a token request (and the connector's client secret)
to another host, and token requests go through the same address guard as backend calls."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from tests.e2e.conftest import GatewayFactory, Stack, host_of, problem
from tests.support import connector_files
from tests.support.backend import RecordingBackend
from tests.support.gateway_signin import to_provider
from tests.support.oauth_standins import ProviderStandin

CLIENT_SECRET = "maker-client-secret-" + uuid.uuid4().hex


class ConnectionCounter:
    """The attacker's listener: counts every TCP connection (TLS or not), so "nothing arrived" means nothing."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            client.close()

    def stop(self) -> None:
        self._server.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.stop()


def _generic_connector(stack: Stack, token_url_template: str, *parameters: str) -> tuple[dict, dict]:
    definition = {
        "swagger": "2.0",
        "info": {"title": "Generic", "version": "1"},
        "host": stack.backend.url.split("://", 1)[1],
        "basePath": "/generic",
        "schemes": ["http"],
        "paths": connector_files.segment_operations(),
    }
    settings = {
        "identityProvider": "oauth2generic",
        "clientId": "maker-client",
        "scopes": ["read"],
        "customParameters": {
            "tokenUrlTemplate": {"value": token_url_template},
            "grantType": {"value": "client_credentials"},  # the token request goes out while the connection is made
        },
    }
    declared: dict = {"token": {"type": "oauthSetting", "oAuthSettings": settings}}
    for name in parameters:
        declared[f"token:{name}"] = {"type": "string", "uiDefinition": {"constraints": {"required": "true"}}}
    return definition, {"properties": {"connectionParameters": declared}}


def _register(stack: Stack, connector_id: str, definition: dict, properties: dict) -> None:
    body = {"apiDefinition": definition, "apiProperties": properties, "clientSecret": CLIENT_SECRET}
    response = stack.maker().put(f"{stack.url}/api/connectors/{connector_id}", json=body)
    assert response.status_code in (200, 201), response.text


MOVES = ["/x?", "/x#", "@", "\\x", ":443/x?"]


@pytest.mark.parametrize("move", MOVES)
def test_a_subdomain_value_cannot_move_the_token_request(stack: Stack, listener: ConnectionCounter, move: str) -> None:
    connector_id = f"generic-sub-{MOVES.index(move)}"
    _register(stack, connector_id, *_generic_connector(stack, "https://{Subdomain}.example.com/token", "Subdomain"))
    attack = f"127.0.0.1:{listener.port}{move}"
    response = stack.client("mallory").post(
        f"{stack.url}/api/connectors/{connector_id}/connections",
        json={"displayName": "x", "parameters": {"token:Subdomain": attack}},
    )
    body = problem(response)
    assert response.status_code == 400, response.text
    assert body["type"] == "urn:connector-gateway:problem:invalid-parameters"
    assert "{Subdomain} must be one DNS label" in body["detail"]
    assert listener.accepted == 0
    assert CLIENT_SECRET not in response.text
    assert not [e for e in stack.entities("connections") if e.get("connectorId") == connector_id]


def test_a_connection_cannot_choose_the_host_that_gets_the_connectors_client_secret(
    stack: Stack, listener: ConnectionCounter
) -> None:
    _register(stack, "generic-host", *_generic_connector(stack, "https://{Host}/token", "Host"))
    response = stack.client("mallory").post(
        f"{stack.url}/api/connectors/generic-host/connections",
        json={"displayName": "x", "parameters": {"token:Host": f"127.0.0.1:{listener.port}"}},
    )
    body = problem(response)
    # No value could pass (token:Host has no allowedValues): the connector is at fault, not the user's input.
    assert response.status_code == 409, response.text
    assert body["type"] == "urn:connector-gateway:problem:connector-misconfigured"
    assert "'token:Host' would choose the host the connector's client secret is sent to" in body["detail"]
    assert listener.accepted == 0
    assert CLIENT_SECRET not in stack.gateway_log()


@pytest.fixture(scope="module")
def strict_gateway(start_gateway_process: GatewayFactory) -> str:
    return start_gateway_process({"PROXY_ALLOW_LOOPBACK": "false"})


def test_token_requests_go_through_the_address_guard(stack: Stack, strict_gateway: str) -> None:
    with RecordingBackend() as identity_provider:
        identity_provider.respond("/token", body={"access_token": "at", "token_type": "Bearer", "expires_in": 3600})
        _register(stack, "generic-loopback-idp", *_generic_connector(stack, identity_provider.url + "/token"))
        client = stack.client("mallory")
        refused = client.post(
            f"{strict_gateway}/api/connectors/generic-loopback-idp/connections",
            json={"displayName": "x", "parameters": {}},
        )
        assert identity_provider.requests == []
        assert [e for e in stack.entities("connections") if e["connectorId"] == "generic-loopback-idp"] == []
        allowed = client.post(
            f"{stack.url}/api/connectors/generic-loopback-idp/connections",
            json={"displayName": "x", "parameters": {}},
        )
        assert allowed.status_code == 201, allowed.text  # the same connector where loopback is allowed
        assert len(identity_provider.requests) == 1
    body = problem(refused)
    # Not the provider refusing the client credentials: the gateway never asked. A maker's fix, said as such.
    assert refused.status_code == 409, refused.text
    assert body["type"] == "urn:connector-gateway:problem:connector-misconfigured"
    assert body["connectorId"] == "generic-loopback-idp"
    assert "token endpoint (host '127.0.0.1') resolves to a loopback address" in body["detail"]
    assert "address guard refuses" in body["detail"]
    assert "client credentials" not in body["detail"]
    assert CLIENT_SECRET not in refused.text


# -- a backend host named by the token response (Salesforce's instance_url) ------------------------


def _salesforce_connector(stack: Stack, salesforce: ProviderStandin) -> tuple[dict, dict]:
    definition, properties = connector_files.oauth_connector(
        host_of(stack.backend.url),
        f"{salesforce.url}/services/oauth2/authorize",
        salesforce.url + salesforce.token_path,
        f"{salesforce.url}{salesforce.revocation_path}",
        salesforce.client_id,
    )
    properties["properties"]["connectionParameters"]["token"]["oAuthSettings"]["identityProvider"] = "salesforce"
    return definition, properties


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://attacker.example",  # not Salesforce's
        "https://acme.my.salesforce.com.attacker.example",  # Salesforce's name as a label of another domain
        "https://acme.my.salesforce.com@attacker.example",  # userinfo: the host is attacker.example
        "https://127.0.0.1",  # an address, not an org's host
        "http://acme.my.salesforce.com",  # the token would cross the network in clear text
        "https://acme.my.salesforce.com:8443",  # another port than Salesforce's
    ],
)
def test_a_token_response_naming_a_host_the_provider_does_not_use_fails_the_sign_in(
    stack: Stack, instance_url: str
) -> None:
    """A token response decides nothing about where the user's token goes: the sign-in fails, saying why, and
    neither the tokens nor the named host are stored."""
    with ProviderStandin("salesforce", client_secret=CLIENT_SECRET, instance_url=instance_url) as salesforce:
        connector_id = f"sf-hostile-{uuid.uuid4().hex[:8]}"
        _register(stack, connector_id, *_salesforce_connector(stack, salesforce))
        owner = stack.client("sf-owner")
        created = owner.post(
            f"{stack.url}/api/connectors/{connector_id}/connections", json={"displayName": "sf", "parameters": {}}
        )
        assert created.status_code == 201, created.text
        connection = created.json()
        before = stack.connection_record(connection["id"])
        browser = requests.Session()
        authorize = urlsplit(to_provider(browser, connection["loginUrl"]))
        asked = dict(parse_qsl(authorize.query))
        code = salesforce.issue_code(asked["redirect_uri"], asked.get("code_challenge"), scope="api refresh_token")
        callback = f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}"
        answer = browser.get(callback, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
        assert len(salesforce.calls(salesforce.token_path)) == 1  # the provider did answer, with that host
    assert answer.status_code == 400, answer.text
    assert "the sign-in was refused: the token response&#x27;s instance_url" in answer.text
    record = stack.connection_record(connection["id"])
    assert record["status"] == "Error"
    assert record["errorReason"].startswith("the sign-in was refused: the token response's instance_url")
    assert record.get("backendUrl", "") == before.get("backendUrl", "")  # the snapshot's backend still
    assert record["secretVersion"] == before["secretVersion"]  # no tokens written
    assert "attacker" not in repr(record)
    view = owner.get(f"{stack.url}/api/connections/{connection['id']}").json()
    assert view["status"] == "Error" and "instance_url" in view["error"]
    assert owner.get(f"{stack.url}/api/connections/{connection['id']}/invoke/x").status_code == 409
