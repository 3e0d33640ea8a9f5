"""The local stack for end-to-end tests: Azurite, the Key Vault emulator, a test OIDC issuer,
recording backends, and the gateway itself in the dev host — each a real process or server.

Tests talk to the gateway over HTTP only, and inspect the stores directly to prove what
is (and isn't) in them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient
from azure.keyvault.secrets import SecretClient

from devtools.stack import (
    Service,
    create_key,
    free_port,
    gateway_environment,
    start_azurite,
    start_gateway,
    start_keyvault,
)
from tests.support.backend import RecordingBackend
from tests.support.connector_files import api_key_connector  # noqa: F401 - the e2e tests import it from here
from tests.support.oidc_issuer import OidcIssuer
from tests.support.secret_scan import SECRETS, harvest_http

AUDIENCE = "api://connector-gateway-tests"
MAKER_ROLE = "Connectors.Manage"
MAX_BODY = 64 * 1024


@dataclass
class Stack:
    url: str
    public_url: str
    env: dict[str, str]
    issuer: OidcIssuer
    backend: RecordingBackend
    keyvault: Service
    tables: TableServiceClient
    log_path: Path

    def token(self, subject: str, roles: tuple[str, ...] = ()) -> str:
        return self.issuer.mint({"sub": subject, "roles": list(roles)})

    def client(self, subject: str, roles: tuple[str, ...] = ()) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token(subject, roles)}"
        return session

    def maker(self) -> requests.Session:
        return self.client("maker", (MAKER_ROLE,))

    def key(self, principal: str, roles: tuple[str, ...] = ()) -> str:
        return create_key(self.env, principal, f"key-{uuid.uuid4().hex[:6]}", list(roles))

    def principal_id(self, subject: str) -> str:
        return f"{self.issuer.issuer}|{subject}"

    def group_id(self, group: str) -> str:
        """A `groups` claim value of the test issuer as the gateway sees it: namespaced (it isn't Entra)."""
        return f"{self.issuer.issuer}|{group}"

    # -- the stores, read directly --------------------------------------------------------------

    def entities(self, table: str) -> list[dict[str, Any]]:
        client = self.tables.get_table_client(f"e2e{table}")
        return [dict(e) for e in client.list_entities()]

    def keyvault_state(self) -> dict[str, list[str]]:
        return requests.get(
            f"{self.keyvault.url}_emulator/state", verify=self.keyvault.details["ca_bundle"], timeout=5
        ).json()

    def keyvault_requests(self) -> dict[str, Any]:
        return requests.get(
            f"{self.keyvault.url}_emulator/requests", verify=self.keyvault.details["ca_bundle"], timeout=5
        ).json()

    def keyvault_secret(self, name: str, version: str | None = None) -> dict:
        """A secret's value, read as an operator could: to prove what is (only) in Key Vault."""
        from shared.stores.clients import StaticTokenCredential

        client = SecretClient(
            self.keyvault.url,
            StaticTokenCredential(),
            verify_challenge_resource=False,
            connection_verify=self.keyvault.details["ca_bundle"],
        )
        return json.loads(client.get_secret(name, version).value or "{}")

    def connection_record(self, connection_id: str) -> dict[str, Any]:
        return dict(self.tables.get_table_client("e2econnections").get_entity(connection_id, "connection"))

    def keyvault_faults(self, **fault: Any) -> None:
        requests.post(
            f"{self.keyvault.url}_emulator/faults", json=fault, verify=self.keyvault.details["ca_bundle"], timeout=5
        ).raise_for_status()

    def clear_keyvault_faults(self) -> None:
        requests.delete(
            f"{self.keyvault.url}_emulator/faults", verify=self.keyvault.details["ca_bundle"], timeout=5
        ).raise_for_status()

    def run_function(self, name: str) -> requests.Response:
        return requests.post(f"{self.url}/admin/functions/{name}", json={"input": ""}, timeout=30)

    def gateway_log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # -- connectors and connections ----------------------------------------------------------------

    def register(self, connector_id: str, api_definition: dict, api_properties: dict) -> dict:
        response = self.maker().put(
            f"{self.url}/api/connectors/{connector_id}",
            json={"apiDefinition": api_definition, "apiProperties": api_properties},
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def connect(self, client: requests.Session, connector_id: str, parameters: dict) -> dict:
        response = client.post(
            f"{self.url}/api/connectors/{connector_id}/connections",
            json={"displayName": f"{connector_id} test", "parameters": parameters},
        )
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("stack")
    log_path = state / "gateway.log"
    services: list[Service] = []
    issuer = OidcIssuer(audience=AUDIENCE).start()
    backend = RecordingBackend()
    standin_log = open(state / "standins.log", "w")  # noqa: SIM115 - Azurite's and the emulator's, for the secret scan
    try:
        azurite = start_azurite(log=standin_log)
        services.append(azurite)
        keyvault = start_keyvault(state / "keyvault", log=standin_log)
        services.append(keyvault)
        port = free_port()
        env = gateway_environment(
            azurite,
            keyvault,
            port,
            {
                "AUTH_OIDC_ISSUERS": issuer.issuer,
                "AUTH_OIDC_AUDIENCES": AUDIENCE,
                "AUTH_MAKER_ROLE": MAKER_ROLE,
                "TABLES_PREFIX": "e2e",
                "LOG_LEVEL": "DEBUG",
                "PROXY_MAX_BODY_BYTES": str(MAX_BODY),
                "PROXY_READ_TIMEOUT_SECONDS": "1",
                "PROXY_CONNECT_TIMEOUT_SECONDS": "1",
                "OAUTH_REFRESH_MARGIN_SECONDS": "1",
                "OAUTH_REFRESH_BACKOFF_SECONDS": "2",
                "OAUTH_POST_LOGIN_REDIRECTS": "https://app.example.com/done",
            },
        )
        with open(log_path, "w") as log:
            services.append(start_gateway(env, port, log=log))
            yield Stack(
                url=f"http://127.0.0.1:{port}",
                public_url=env["GATEWAY_PUBLIC_URL"],
                env=env,
                issuer=issuer,
                backend=backend,
                keyvault=keyvault,
                tables=TableServiceClient.from_connection_string(azurite.details["connection_string"]),
                log_path=log_path,
            )
    finally:
        for service in reversed(services):
            service.stop()
        backend.stop()
        issuer.stop()
        standin_log.close()


_FUZZ_TESTS = "tests/e2e/test_openapi_fuzz.py"


@pytest.fixture(scope="session", autouse=True)
def _collect_secrets() -> Iterator[None]:
    """What the tests send and receive over `requests` feeds the secret scan that runs last (test_secret_scan.py)."""
    send = requests.Session.send

    def harvesting_send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        # The patch lasts the whole session, but only the e2e tests' own traffic is collected: tests that run
        # after them in the same session (tests/devtools) are left exactly as they run alone.
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        if not current.startswith("tests/e2e/"):
            return send(session, request, **kwargs)
        if current.startswith(_FUZZ_TESTS):
            # Schemathesis makes up the query and body values it sends under secret-looking names, and the same
            # made-up strings land in the paths it logs: they are noise, not secrets. Its real credential (the
            # maker key) travels in a header, which is still collected.
            harvest_http(SECRETS, "", request.headers, None, "sent by a test")
            return send(session, request, **kwargs)
        harvest_http(SECRETS, request.url or "", request.headers, request.body, "sent by a test")
        response = send(session, request, **kwargs)
        if not kwargs.get("stream"):
            harvest_http(SECRETS, "", {}, response.content, "received by a test")
        return response

    requests.Session.send = harvesting_send  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.send = send  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The secret scan reads the logs of everything else, so it runs after everything else.
    items.sort(key=lambda item: item.path.name == "test_secret_scan.py")


GatewayFactory = Callable[[Mapping[str, str]], str]


@pytest.fixture(scope="module")
def start_gateway_process(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFactory]:
    """Starts more gateway processes against the same Azurite and Key Vault: `start({"AUTH_IP_ALLOW": ...})`
    returns the base URL of a gateway with the stack's settings plus those. Same tables unless the overrides
    set TABLES_PREFIX. Stopped when the test module ends; each logs to its own file."""
    started: list[tuple[Service, Any]] = []
    logs = tmp_path_factory.mktemp("gateways")

    def start(overrides: Mapping[str, str]) -> str:
        port = free_port()
        env = {**stack.env, "GATEWAY_PORT": str(port), "GATEWAY_PUBLIC_URL": f"http://localhost:{port}", **overrides}
        log = open(logs / f"gateway-{port}.log", "w")  # noqa: SIM115 - closed with the process below
        try:
            started.append((start_gateway(env, port, log=log), log))
        except BaseException:
            log.close()
            raise
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for service, log in started:
            service.stop()
            log.close()


def host_of(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


def problem(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
    body = json.loads(response.text)
    assert body["status"] == response.status_code
    assert "Traceback" not in response.text
    return body
