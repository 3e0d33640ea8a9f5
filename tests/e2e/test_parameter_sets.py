"""Authentication details the upload must get right, end to end through the dev host, with real connectors
(tests/fixtures, pointed at a recording backend by host and scheme only):

- connection parameter sets (multi-auth): a connection names its set and authenticates with that set's scheme;
- OAuth settings no connection can fix are a warning at upload and a maker-facing problem at connection time;
- the https rule and unknown security types refuse the upload;
- test connection: the declared operation is called with the new credential; a refusal stores nothing.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shared.connectors import decode_document
from tests.e2e.conftest import GatewayFactory, Stack, host_of, problem
from tests.support import connector_files
from tests.support.backend import RecordingBackend
from tests.support.connector_files import CURATED_CONNECTORS, api_key_connector, read_connector_files
from tests.support.gateway_signin import to_provider
from tests.support.oidc_provider import OidcProvider

PROBLEM = "urn:connector-gateway:problem:"
CERTIFIED = CURATED_CONNECTORS / "certified-connectors"
PASSWORD = "avepoint-secret-" + uuid.uuid4().hex
API_KEY = "forms-key-" + uuid.uuid4().hex
CLIENT_SECRET = "nonprod-client-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def backend() -> Iterator[RecordingBackend]:
    with RecordingBackend() as recording:
        yield recording


def real_connector(folder: Path, backend: RecordingBackend) -> tuple[dict, dict]:
    """A real connector's files as its maker wrote them, pointed at the recording backend by host and scheme."""
    raw_definition, raw_properties = read_connector_files(folder)
    definition = decode_document(raw_definition, "apiDefinition.swagger.json")
    properties = decode_document(raw_properties, "apiProperties.json")
    return {**definition, "host": host_of(backend.url), "schemes": ["http"]}, properties


def put_connector(
    stack: Stack, gateway: str, connector_id: str, definition: dict, properties: dict
) -> requests.Response:
    body = {"apiDefinition": definition, "apiProperties": properties}
    return stack.maker().put(f"{gateway}/api/connectors/{connector_id}", json=body)


def create(client: requests.Session, stack: Stack, connector_id: str, **body: object) -> requests.Response:
    return client.post(f"{stack.url}/api/connectors/{connector_id}/connections", json={"displayName": "mine", **body})


def stored_state(stack: Stack) -> tuple[set[str], dict]:
    """The connection records and the whole Key Vault, as an operator could read them."""
    return {e["PartitionKey"] for e in stack.entities("connections")}, stack.keyvault_state()


# -- parameter sets -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def avepoint(stack: Stack, backend: RecordingBackend) -> dict:
    response = put_connector(
        stack, stack.url, "avepoint", *real_connector(CERTIFIED / "AvePoint Cloud Governance", backend)
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_connector_lists_its_parameter_sets_and_warns_about_the_placeholder_client(avepoint: dict) -> None:
    assert (avepoint["authentication"], avepoint["supported"]) == ({"type": "parameterSets"}, True)
    sets = {s["name"]: s for s in avepoint["parameterSets"]}
    assert sets["basic"]["authentication"] == {"type": "basic"}
    assert [p["name"] for p in sets["basic"]["parameters"]] == ["username", "password"]
    assert sets["oauth"]["authentication"] == {"type": "oauth2", "identityProvider": "aad"}
    pointers = {w["pointer"]: w["detail"] for w in avepoint["warnings"]}
    oauth_set = "/apiProperties/properties/connectionParameterSets/values/0/parameters/token/oAuthSettings"
    assert "placeholder" in pointers[oauth_set]


def test_a_basic_set_connection_sends_that_sets_credential(
    stack: Stack, avepoint: dict, backend: RecordingBackend
) -> None:
    client = stack.client("ave-user")
    response = create(
        client,
        stack,
        "avepoint",
        parameterSet="basic",
        parameters={"username": "ops@contoso.com", "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    connection = response.json()
    assert connection["status"] == "Connected"
    assert stack.connection_record(connection["id"])["parameterSet"] == "basic"
    invoked = client.get(f"{stack.url}/api/connections/{connection['id']}/invoke/flow/objecttypes")
    assert invoked.status_code == 200, invoked.text
    seen = backend.requests[-1]
    assert seen.path == "/admin/flow/objecttypes"
    expected = base64.b64encode(f"ops@contoso.com:{PASSWORD}".encode()).decode()
    assert seen.header("Authorization") == f"Basic {expected}"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "name one as parameterSet"),
        ({"parameterSet": "kerberos"}, "Not a parameter set of this connector"),
        ({"parameterSet": ["basic"]}, "Not a parameter set of this connector"),
    ],
)
def test_a_connection_must_name_one_of_the_sets(stack: Stack, avepoint: dict, body: dict, detail: str) -> None:
    before = stored_state(stack)
    response = create(
        stack.client("ave-user"), stack, "avepoint", parameters={"username": "u", "password": PASSWORD}, **body
    )
    assert response.status_code == 400, response.text
    found = problem(response)
    assert found["type"] == PROBLEM + "invalid-parameters"
    assert found["errors"][0]["pointer"] == "/parameterSet"
    assert detail in found["detail"] and "'oauth', 'basic'" in found["detail"]
    assert stored_state(stack) == before


def test_a_sets_parameters_are_validated_against_that_set(stack: Stack, avepoint: dict) -> None:
    response = create(
        stack.client("ave-user"), stack, "avepoint", parameterSet="basic", parameters={"token:TenantId": "t"}
    )
    assert response.status_code == 400
    pointers = {e["pointer"] for e in problem(response)["errors"]}
    assert pointers == {"/parameters/token:TenantId", "/parameters/username", "/parameters/password"}


def test_a_placeholder_client_id_is_the_makers_problem_not_the_users(stack: Stack, avepoint: dict) -> None:
    before = stored_state(stack)
    response = create(stack.client("ave-user"), stack, "avepoint", parameterSet="oauth", parameters={})
    assert response.status_code == 409, response.text
    found = problem(response)
    assert found["type"] == PROBLEM + "connector-misconfigured"
    assert "clientId '<resource-id>' is a placeholder" in found["detail"]
    assert "its maker must correct the connector" in found["detail"]
    assert stored_state(stack) == before


@pytest.fixture(scope="module")
def three_e(stack: Stack, backend: RecordingBackend) -> dict:
    response = put_connector(stack, stack.url, "three-e", *real_connector(CERTIFIED / "3E Events", backend))
    assert response.status_code == 201, response.text
    return response.json()


def test_an_oauth_set_signs_in_with_that_sets_settings_and_the_connections_own_client(
    stack: Stack, three_e: dict
) -> None:
    assert [s["name"] for s in three_e["parameterSets"]] == ["aadProd", "aadPreview", "aadNonprod"]
    warned = {w["pointer"].split("/")[5] for w in three_e["warnings"]}
    assert warned == {"0", "1"}  # the two sets with a [[DUMMY]] client id; aadNonprod asks each connection
    tenant = "0b9a2c5e-1f0d-4c7e-9a55-1d2c3b4a5f60"
    response = create(
        stack.client("elite-user"),
        stack,
        "three-e",
        parameterSet="aadNonprod",
        parameters={
            "token:customHost": "api.us.nprd.elite.com/dev",
            "token:3eInstanceId": "inst-1",
            "token:TenantId": tenant,
            "token:clientId": "nonprod-app",
            "token:clientSecret": CLIENT_SECRET,
            "token:customScopes": "https://elite.com/dev/ewh.all",
        },
    )
    assert response.status_code == 201, response.text
    connection = response.json()
    assert connection["status"] == "Unauthenticated"
    provider_url = urlsplit(to_provider(requests.Session(), connection["loginUrl"]))
    assert (provider_url.netloc, provider_url.path) == ("login.microsoftonline.com", f"/{tenant}/oauth2/v2.0/authorize")
    query = parse_qs(provider_url.query)
    assert query["client_id"] == ["nonprod-app"]
    assert query["scope"] == ["https://elite.com/dev/ewh.all"]
    record = stack.connection_record(connection["id"])
    assert record["parameterSet"] == "aadNonprod"
    assert CLIENT_SECRET not in str(record)
    assert stack.keyvault_secret(record["secretName"])["values"]["token:clientSecret"] == CLIENT_SECRET

    refused = create(
        stack.client("elite-user"), stack, "three-e", parameterSet="aadProd", parameters={"token:3eInstanceId": "i"}
    )
    assert refused.status_code == 409
    assert problem(refused)["type"] == PROBLEM + "connector-misconfigured"


# -- refusals at upload ------------------------------------------------------------------------------


def test_a_credential_over_plain_http_to_a_real_host_is_refused_at_upload(stack: Stack) -> None:
    definition, properties = api_key_connector("api.example.com")
    definition["schemes"] = ["http"]
    response = put_connector(stack, stack.url, "plain-http", definition, properties)
    assert response.status_code == 400, response.text
    found = problem(response)
    assert found["type"] == PROBLEM + "credentials-need-https"
    assert found["errors"] == [{"pointer": "/apiDefinition/schemes", "detail": found["detail"]}]
    assert "an API key" in found["detail"]
    assert stack.maker().get(f"{stack.url}/api/connectors/plain-http").status_code == 404


def test_a_real_connector_declaring_http_is_refused_and_told_why(stack: Stack) -> None:
    raw_definition, raw_properties = read_connector_files(CURATED_CONNECTORS / "independent-publisher-connectors/IQAir")
    definition = decode_document(raw_definition, "apiDefinition.swagger.json")
    assert (definition["schemes"], definition["host"]) == (["http"], "api.airvisual.com")  # as its maker wrote it
    response = put_connector(
        stack, stack.url, "iqair", definition, decode_document(raw_properties, "apiProperties.json")
    )
    assert response.status_code == 400
    assert problem(response)["type"] == PROBLEM + "credentials-need-https"


def test_no_credential_no_https_needed(stack: Stack) -> None:
    definition, _ = api_key_connector("api.example.com")
    definition = {**definition, "schemes": ["http"], "securityDefinitions": {}}
    response = put_connector(stack, stack.url, "plain-open", definition, {"properties": {}})
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def strict_gateway(start_gateway_process: GatewayFactory) -> str:
    return start_gateway_process({"PROXY_ALLOW_LOOPBACK": "false"})


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_without_proxy_allow_loopback_a_loopback_backend_is_refused_at_upload(
    stack: Stack, strict_gateway: str, backend: RecordingBackend, scheme: str
) -> None:
    definition, properties = api_key_connector(host_of(backend.url))
    definition["schemes"] = [scheme]
    response = put_connector(stack, strict_gateway, f"strict-loop-{scheme}", definition, properties)
    assert response.status_code == 403, response.text
    found = problem(response)
    assert found["type"] == PROBLEM + "backend-address-forbidden"
    assert found["errors"][0]["pointer"] == "/apiDefinition/host"
    assert "PROXY_ALLOW_LOOPBACK" in found["detail"]
    # The same files where the stack allows loopback (as make run and the tests do): accepted over http.
    assert put_connector(stack, stack.url, f"loop-{scheme}", definition, properties).status_code == 201


def test_an_unknown_security_type_is_refused_not_treated_as_none(stack: Stack, backend: RecordingBackend) -> None:
    definition, properties = api_key_connector(host_of(backend.url))
    definition["securityDefinitions"] = {"oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://x/.well-known"}}
    response = put_connector(stack, stack.url, "odd-security", definition, properties)
    assert response.status_code == 400, response.text
    found = problem(response)
    assert found["type"] == PROBLEM + "invalid-parameters"
    assert [e["pointer"] for e in found["errors"]] == ["/apiDefinition/securityDefinitions/oidc/type"]


# -- test connection ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forms(stack: Stack, backend: RecordingBackend) -> dict:
    response = put_connector(stack, stack.url, "forms", *real_connector(CERTIFIED / "App Power Forms", backend))
    assert response.status_code == 201, response.text
    return response.json()


def test_connection_creation_calls_the_test_operation_with_the_new_key(
    stack: Stack, forms: dict, backend: RecordingBackend
) -> None:
    assert forms["testConnection"] == {"operationId": "MetadataTestConnection"}
    backend.respond("/api/MetadataTestConnection", status=200, body={"ok": True})
    backend.clear()
    response = create(stack.client("forms-user"), stack, "forms", parameters={"api_key": API_KEY})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "Connected"
    [tested] = backend.requests
    assert (tested.method, tested.path) == ("GET", "/api/MetadataTestConnection")
    assert tested.header("api-key") == API_KEY


@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_failed_test_connection_stores_nothing(
    stack: Stack, forms: dict, backend: RecordingBackend, status: int
) -> None:
    refused_key = f"refused-{status}-" + uuid.uuid4().hex
    backend.respond("/api/MetadataTestConnection", status=status, body={"error": "bad key", "echo": refused_key})
    backend.clear()
    before = stored_state(stack)
    response = create(stack.client("forms-user"), stack, "forms", parameters={"api_key": refused_key})
    assert response.status_code == (400 if status < 500 else 502), response.text
    found = problem(response)
    assert found["type"] == PROBLEM + "test-connection-failed"
    assert (found["backendStatus"], found["operationId"]) == (status, "MetadataTestConnection")
    assert refused_key not in response.text  # the backend's body (which echoes it) is not passed on
    assert [r.header("api-key") for r in backend.requests] == [refused_key]
    assert stored_state(stack) == before  # no record, and nothing in Key Vault
    assert refused_key not in str(stack.entities("connections"))


def test_a_connector_without_the_capability_is_not_tested(stack: Stack, backend: RecordingBackend) -> None:
    definition, properties = real_connector(CERTIFIED / "App Power Forms", backend)
    definition = copy.deepcopy(definition)
    del definition["x-ms-capabilities"]
    assert put_connector(stack, stack.url, "forms-untested", definition, properties).status_code == 201
    backend.respond("/api/MetadataTestConnection", status=401)
    backend.clear()
    response = create(stack.client("forms-user"), stack, "forms-untested", parameters={"api_key": API_KEY})
    assert response.status_code == 201, response.text
    assert backend.requests == []


# -- an OAuth set, signed in: the backend receives that set's token ---------------------------------

OAUTH_CLIENT_SECRET = "ave-oauth-client-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def provider(stack: Stack) -> Iterator[OidcProvider]:
    client = {
        "client_id": "ave-client",
        "client_secret": OAUTH_CLIENT_SECRET,
        "redirect_uris": [f"{stack.public_url}/api/oauth/callback"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    with OidcProvider().start([client], access_token_ttl=500) as op:
        yield op


def test_the_maker_fixes_the_oauth_set_and_its_connections_send_their_token(
    stack: Stack, backend: RecordingBackend, provider: OidcProvider
) -> None:
    """AvePoint as its maker would fix it after the warning: the OAuth set's placeholder client replaced by a
    real client of their identity provider (here a local one). The basic set is untouched and still works."""
    definition, properties = real_connector(CERTIFIED / "AvePoint Cloud Governance", backend)
    properties = copy.deepcopy(properties)
    oauth_set = properties["properties"]["connectionParameterSets"]["values"][0]
    assert oauth_set["name"] == "oauth"
    endpoints = {
        "authorizationUrl": provider.authorization_endpoint,
        "tokenUrl": provider.token_endpoint,
        "refreshUrl": provider.token_endpoint,
    }
    oauth_set["parameters"]["token"]["oAuthSettings"] = {
        "identityProvider": "oauth2",
        "clientId": "ave-client",
        "scopes": ["openid", "offline_access"],
        "customParameters": {name: {"value": url} for name, url in endpoints.items()},
    }
    body = {"apiDefinition": definition, "apiProperties": properties, "clientSecret": OAUTH_CLIENT_SECRET}
    registered = stack.maker().put(f"{stack.url}/api/connectors/avepoint-fixed", json=body)
    assert registered.status_code == 201, registered.text
    assert not [w for w in registered.json()["warnings"] if "connectionParameterSets/values/0" in w["pointer"]]

    client = stack.client("ave-signin")
    connection = create(client, stack, "avepoint-fixed", parameterSet="oauth", parameters={}).json()
    assert connection["status"] == "Unauthenticated"
    browser = requests.Session()
    callback = provider.sign_in(to_provider(browser, connection["loginUrl"]), session=browser, username="ave")
    assert browser.get(callback, headers={"Accept": "text/html"}, timeout=30).status_code == 200
    invoked = client.get(f"{stack.url}/api/connections/{connection['id']}/invoke/flow/objectstatus")
    assert invoked.status_code == 200, invoked.text
    seen = backend.requests[-1]
    assert seen.path == "/admin/flow/objectstatus"
    assert (seen.header("Authorization") or "").startswith("Bearer ")

    basic = create(
        client, stack, "avepoint-fixed", parameterSet="basic", parameters={"username": "u", "password": PASSWORD}
    ).json()
    assert client.get(f"{stack.url}/api/connections/{basic['id']}/invoke/flow/servicetypes").status_code == 200
    expected = base64.b64encode(f"u:{PASSWORD}".encode()).decode()
    assert backend.requests[-1].header("Authorization") == f"Basic {expected}"


def test_a_replaced_connector_keeps_each_connection_on_its_set(stack: Stack, backend: RecordingBackend) -> None:
    definition, properties = real_connector(CERTIFIED / "AvePoint Cloud Governance", backend)
    assert put_connector(stack, stack.url, "avepoint-replaced", definition, properties).status_code == 201
    client = stack.client("ave-replace")
    values = {"username": "keeper", "password": PASSWORD}
    connection = create(client, stack, "avepoint-replaced", parameterSet="basic", parameters=values).json()
    # The same files again: nothing about where credentials go changed, so the connection keeps working.
    assert put_connector(stack, stack.url, "avepoint-replaced", definition, properties).status_code == 200
    invoke = f"{stack.url}/api/connections/{connection['id']}/invoke/flow/workspace"
    assert client.get(invoke).status_code == 200
    expected = base64.b64encode(f"keeper:{PASSWORD}".encode()).decode()
    assert backend.requests[-1].header("Authorization") == f"Basic {expected}"
    # Dropping the basic set changes where its connections' credentials go: refused without force.
    without_basic = copy.deepcopy(properties)
    without_basic["properties"]["connectionParameterSets"]["values"].pop()
    refused = put_connector(stack, stack.url, "avepoint-replaced", definition, without_basic)
    assert refused.status_code == 409
    assert problem(refused)["changed"] == ["authentication"]
    forced = stack.maker().put(
        f"{stack.url}/api/connectors/avepoint-replaced?force=true",
        json={"apiDefinition": definition, "apiProperties": without_basic},
    )
    assert forced.status_code == 200, forced.text
    assert client.get(f"{stack.url}/api/connections/{connection['id']}").json()["status"] == "Error"
    assert client.get(invoke).status_code != 200


# -- PATCH and the validate dry run follow the same rules --------------------------------------------


def test_rotating_a_sets_password_is_validated_against_that_set(
    stack: Stack, avepoint: dict, backend: RecordingBackend
) -> None:
    client = stack.client("ave-rotate")
    values = {"username": "rotator", "password": PASSWORD}
    connection = create(client, stack, "avepoint", parameterSet="basic", parameters=values).json()
    rotated = PASSWORD + "-rotated"
    response = client.patch(
        f"{stack.url}/api/connections/{connection['id']}", json={"parameters": {"password": rotated}}
    )
    assert response.status_code == 200, response.text
    assert client.get(f"{stack.url}/api/connections/{connection['id']}/invoke/flow/servicetypes").status_code == 200
    expected = base64.b64encode(f"rotator:{rotated}".encode()).decode()
    assert backend.requests[-1].header("Authorization") == f"Basic {expected}"


def test_a_rotation_the_test_connection_refuses_changes_nothing(
    stack: Stack, forms: dict, backend: RecordingBackend
) -> None:
    backend.respond("/api/MetadataTestConnection", status=200)
    client = stack.client("forms-rotate")
    connection = create(client, stack, "forms", parameters={"api_key": API_KEY}).json()
    record = stack.connection_record(connection["id"])
    backend.respond("/api/MetadataTestConnection", status=401)
    refused_key = "refused-rotation-" + uuid.uuid4().hex
    response = client.patch(
        f"{stack.url}/api/connections/{connection['id']}", json={"parameters": {"api_key": refused_key}}
    )
    assert response.status_code == 400, response.text
    assert problem(response)["type"] == PROBLEM + "test-connection-failed"
    after = stack.connection_record(connection["id"])
    assert after["secretVersion"] == record["secretVersion"]
    assert stack.keyvault_secret(after["secretName"])["values"]["api_key"] == API_KEY


def test_the_dry_run_says_what_the_upload_would(stack: Stack, backend: RecordingBackend) -> None:
    definition, properties = api_key_connector("api.example.com")
    definition["schemes"] = ["http"]
    body = {"apiDefinition": definition, "apiProperties": properties}
    refused = stack.maker().post(f"{stack.url}/api/connectors/dry-http/validate", json=body).json()
    assert refused["valid"] is False
    assert [e["pointer"] for e in refused["errors"]] == ["/apiDefinition/schemes"]
    ave_definition, ave_properties = real_connector(CERTIFIED / "AvePoint Cloud Governance", backend)
    body = {"apiDefinition": ave_definition, "apiProperties": ave_properties}
    warned = stack.maker().post(f"{stack.url}/api/connectors/dry-ave/validate", json=body).json()
    assert warned["valid"] is True
    oauth_set = "/apiProperties/properties/connectionParameterSets/values/0/parameters/token/oAuthSettings"
    assert oauth_set in [w["pointer"] for w in warned["warnings"]]


def _signed_in_connection(stack: Stack, provider: OidcProvider, connector_id: str, user: str) -> tuple[int, dict]:
    """The callback page's status, and the connection after it."""
    client = stack.client(user)
    connection = create(client, stack, connector_id, parameters={}).json()
    browser = requests.Session()
    callback = provider.sign_in(to_provider(browser, connection["loginUrl"]), session=browser, username=user)
    page = browser.get(callback, headers={"Accept": "text/html"}, timeout=30)
    return page.status_code, client.get(f"{stack.url}/api/connections/{connection['id']}").json()


def test_an_oauth_connection_is_tested_with_its_first_token_at_the_callback(
    stack: Stack, backend: RecordingBackend, provider: OidcProvider
) -> None:
    definition, properties = connector_files.oauth_connector(
        host_of(backend.url),
        provider.authorization_endpoint,
        provider.token_endpoint,
        provider.revocation_endpoint,
        "ave-client",
        base_path="/tested",
    )
    definition["paths"] = {"/ping": {"get": {"operationId": "Ping", "responses": {"200": {"description": "ok"}}}}}
    definition["x-ms-capabilities"] = {"testConnection": {"operationId": "Ping", "parameters": {}}}
    body = {"apiDefinition": definition, "apiProperties": properties, "clientSecret": OAUTH_CLIENT_SECRET}
    assert stack.maker().put(f"{stack.url}/api/connectors/oauth-tested", json=body).status_code == 201

    backend.respond("/tested/ping", status=401)
    backend.clear()
    page, refused = _signed_in_connection(stack, provider, "oauth-tested", "tested-refused")
    assert page == 400  # the callback's "Sign-in did not complete" page
    assert refused["status"] == "Error"
    assert refused["error"] == "the test connection (Ping) answered HTTP 401 with the new sign-in"
    [tested] = backend.requests
    assert (tested.method, tested.path) == ("GET", "/tested/ping")
    assert (tested.header("Authorization") or "").startswith("Bearer ")
    record = stack.connection_record(refused["id"])
    assert "tokens" not in stack.keyvault_secret(record["secretName"], record["secretVersion"] or None)

    backend.respond("/tested/ping", status=200)
    page, accepted = _signed_in_connection(stack, provider, "oauth-tested", "tested-accepted")
    assert (page, accepted["status"]) == (200, "Connected")
    assert backend.requests[-1].path == "/tested/ping"
