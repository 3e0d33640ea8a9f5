"""Crash safety: the gateway process is killed (SIGKILL) between the steps of creating, refreshing and deleting a
connection,
then the cleanup timer, run by a fresh gateway, reaches a consistent state: no orphan secret, no stuck record, never
a Connected record without its secret.

A step is frozen with a hold: the Key Vault emulator holds a request until released (then serves it, so the vault
applies a write whose answer the dead gateway never read), or the Table stand-in (a proxy in front of Azurite)
holds one and drops it (the write never happened). A token refresh killed after its vault write is finished
by the next refresh once the dead holder's lease has run out. The vault here has purge protection on, as the
Bicep deploys it: deleted secrets stay soft-deleted until they expire, and the gateway still finishes every record.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient, UpdateMode

from devtools.stack import Service, free_port, start_gateway, start_keyvault
from tests.e2e.conftest import Stack, api_key_connector, host_of, problem
from tests.support import connector_files
from tests.support.oidc_provider import OidcProvider
from tests.support.table_standin import TableStandin

PREFIX = "crash"
SECRET = "crash-test-secret-value"
CONNECTOR = "crashy"


@dataclass
class CrashStack:
    stack: Stack
    standin: TableStandin
    keyvault: Service
    env: dict[str, str]
    logs: Path
    gateway: Service | None = None
    url: str = ""

    def start(self) -> None:
        port = free_port()
        env = {**self.env, "GATEWAY_PORT": str(port), "GATEWAY_PUBLIC_URL": f"http://localhost:{port}"}
        with open(self.logs / f"gateway-{port}.log", "w") as log:
            self.gateway = start_gateway(env, port, log=log)
        self.url = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        assert self.gateway is not None
        self.gateway.process.kill()  # SIGKILL: no cleanup, no finally blocks
        self.gateway.process.wait()

    def logs_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs.glob("*.log"))

    # -- the vault, through its test hooks --------------------------------------------------------------

    def _hook(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(
            method, f"{self.keyvault.url}_emulator/{path}", verify=self.keyvault.details["ca_bundle"], **kwargs
        )
        response.raise_for_status()
        return response

    def hold_vault(self, method: str) -> None:
        self._hook("POST", "faults", json={"hold": True, "count": 1, "method": method, "path_regex": "^/secrets/conn-"})

    def wait_vault_held(self) -> None:
        assert self._hook("POST", "held/wait", timeout=60).json()["held"] >= 1

    def release_vault(self) -> None:
        self._hook("DELETE", "faults")

    def vault(self) -> dict[str, list[str]]:
        return self._hook("GET", "state").json()

    # -- the tables, read directly from Azurite ---------------------------------------------------------

    def records(self) -> dict[str, dict[str, Any]]:
        tables = TableServiceClient.from_connection_string(self.stack.env["TABLES_CONNECTION_STRING"])
        client = tables.get_table_client(f"{PREFIX}connections")
        return {e["PartitionKey"]: dict(e) for e in client.list_entities()}

    def backdate(self, connection_id: str) -> None:
        """As if the cleanup timer's grace for Pending records (10 minutes) had passed."""
        tables = TableServiceClient.from_connection_string(self.stack.env["TABLES_CONNECTION_STRING"])
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
        tables.get_table_client(f"{PREFIX}connections").update_entity(
            {"PartitionKey": connection_id, "RowKey": "connection", "createdAt": past}, mode=UpdateMode.MERGE
        )

    def cleanup(self) -> None:
        assert requests.post(f"{self.url}/admin/functions/cleanup", json={"input": ""}, timeout=120).status_code == 202


@pytest.fixture(scope="module")
def crash(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashStack]:
    state = tmp_path_factory.mktemp("crash")
    keyvault = start_keyvault(state / "keyvault", purge_protection=True)
    try:
        with TableStandin(stack.env["TABLES_CONNECTION_STRING"]) as standin:
            env = {
                **stack.env,
                "KEY_VAULT_URL": keyvault.url,
                "KEY_VAULT_CA_BUNDLE": keyvault.details["ca_bundle"],
                "TABLES_CONNECTION_STRING": standin.connection_string,
                "TABLES_PREFIX": PREFIX,
            }
            crash = CrashStack(stack, standin, keyvault, env, state)
            crash.start()
            response = stack.maker().put(
                f"{crash.url}/api/connectors/{CONNECTOR}",
                json=dict(
                    zip(("apiDefinition", "apiProperties"), api_key_connector(host_of(stack.backend.url)), strict=True)
                ),
            )
            assert response.status_code in (200, 201), response.text
            yield crash
            if crash.gateway is not None:
                crash.gateway.stop()
    finally:
        keyvault.stop()


def _in_background(call: Callable[[], requests.Response]) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(requests.RequestException):  # the gateway died under it: a dropped connection
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _create(crash: CrashStack, owner: str) -> Callable[[], requests.Response]:
    client = crash.stack.client(owner)
    return lambda: client.post(
        f"{crash.url}/api/connectors/{CONNECTOR}/connections",
        json={"displayName": "crash", "parameters": {"api_key": SECRET}},
        timeout=120,
    )


def _new_record(crash: CrashStack, before: set[str]) -> dict[str, Any]:
    [record] = [r for cid, r in crash.records().items() if cid not in before]
    return record


def _assert_gone(crash: CrashStack, record: dict[str, Any], owner: str) -> None:
    """Consistent: the record is gone, the secret is no longer active (soft-deleted: purge protection), no secret
    value in any log, and the owner sees nothing."""
    assert record["PartitionKey"] not in crash.records()
    vault = crash.vault()
    assert record["secretName"] not in vault["secrets"]
    assert record["secretName"] in vault["deleted"]
    assert SECRET not in crash.logs_text()
    listing = crash.stack.client(owner).get(f"{crash.url}/api/connections").json()["value"]
    assert record["PartitionKey"] not in [c["id"] for c in listing]


@pytest.mark.parametrize("frozen", ["vault-write-applied-unanswered", "table-connected-merge-lost"])
def test_killed_during_create_the_cleanup_timer_leaves_no_orphan_secret(crash: CrashStack, frozen: str) -> None:
    owner = f"creator-{uuid.uuid4().hex[:8]}"
    before = set(crash.records())
    if frozen == "vault-write-applied-unanswered":
        crash.hold_vault("PUT")
    else:
        crash.standin.hold(count=1, path_regex=rf"{PREFIX}connections\(PartitionKey=")
    caller = _in_background(_create(crash, owner))
    if frozen == "vault-write-applied-unanswered":
        crash.wait_vault_held()
    else:
        crash.standin.wait_held()
    crash.kill()
    crash.release_vault()
    crash.standin.release()
    caller.join(timeout=60)

    record = _new_record(crash, before)
    assert record["status"] == "Pending"  # never Connected: the record would name a version it doesn't have
    assert record["secretVersion"] == ""
    assert record["secretName"] in crash.vault()["secrets"]  # the write landed after the gateway died

    crash.start()
    view = crash.stack.client(owner).get(f"{crash.url}/api/connections/{record['PartitionKey']}")
    assert view.status_code == 200 and view.json()["status"] == "Pending"
    invoke = crash.stack.client(owner).get(f"{crash.url}/api/connections/{record['PartitionKey']}/invoke/x")
    assert invoke.status_code == 409  # not usable, no backend call with a half-made credential
    crash.cleanup()
    assert crash.records()[record["PartitionKey"]]["status"] == "Pending"  # within the grace: maybe still running
    crash.backdate(record["PartitionKey"])
    crash.cleanup()
    _assert_gone(crash, record, owner)


@pytest.mark.parametrize("frozen", ["vault-delete-applied-unanswered", "table-record-delete-lost"])
def test_killed_during_delete_the_cleanup_timer_finishes_it(crash: CrashStack, frozen: str) -> None:
    owner = f"deleter-{uuid.uuid4().hex[:8]}"
    client = crash.stack.client(owner)
    created = client.post(
        f"{crash.url}/api/connectors/{CONNECTOR}/connections",
        json={"displayName": "crash", "parameters": {"api_key": SECRET}},
    )
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    record = crash.records()[connection_id]
    assert record["status"] == "Connected"
    if frozen == "vault-delete-applied-unanswered":
        crash.hold_vault("DELETE")
    else:
        crash.standin.hold(count=1, method="DELETE", path_regex=rf"{PREFIX}connections\(PartitionKey='{connection_id}'")
    caller = _in_background(lambda: client.delete(f"{crash.url}/api/connections/{connection_id}", timeout=120))
    if frozen == "vault-delete-applied-unanswered":
        crash.wait_vault_held()
    else:
        crash.standin.wait_held()
    crash.kill()
    crash.release_vault()
    crash.standin.release()
    caller.join(timeout=60)

    assert crash.records()[connection_id]["status"] == "Deleting"  # unusable from the first step on
    crash.start()
    invoke = client.get(f"{crash.url}/api/connections/{connection_id}/invoke/x")
    assert invoke.status_code == 409
    crash.cleanup()  # Deleting records need no grace
    _assert_gone(crash, record, owner)


def test_a_bad_record_does_not_stop_the_cleanup_of_the_others(crash: CrashStack) -> None:
    """One stuck record whose secret can't be deleted, one with a damaged snapshot, one plain; and an expired
    sign-in state. The run finishes the two it can and purges the state; the next run finishes the last."""
    if crash.gateway is None or crash.gateway.process.poll() is not None:
        crash.start()
    owner = f"cleaner-{uuid.uuid4().hex[:8]}"
    client = crash.stack.client(owner)
    ids = []
    for _ in range(3):
        created = client.post(
            f"{crash.url}/api/connectors/{CONNECTOR}/connections",
            json={"displayName": "stuck", "parameters": {"api_key": SECRET}},
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    stuck, damaged, plain = ids
    records = crash.records()
    tables = TableServiceClient.from_connection_string(crash.stack.env["TABLES_CONNECTION_STRING"])
    connections = tables.get_table_client(f"{PREFIX}connections")
    for connection_id in ids:
        connections.update_entity(
            {"PartitionKey": connection_id, "RowKey": "connection", "status": "Deleting"}, mode=UpdateMode.MERGE
        )
    connections.update_entity(
        {"PartitionKey": damaged, "RowKey": "connection", "connector0": "{not json"}, mode=UpdateMode.MERGE
    )
    states = tables.create_table_if_not_exists(f"{PREFIX}states")
    expired = {"PartitionKey": "state", "RowKey": uuid.uuid4().hex, "expiresAt": "2000-01-01T00:00:00Z"}
    states.create_entity(expired)
    crash._hook(
        "POST",
        "faults",
        json={
            "status": 500,
            "count": 1000,
            "method": "DELETE",
            "path_regex": f"^/secrets/{records[stuck]['secretName']}$",
        },
    )
    try:
        crash.cleanup()
        left = crash.records()
        assert left[stuck]["status"] == "Deleting"
        assert records[stuck]["secretName"] in crash.vault()["secrets"]
        for finished in (damaged, plain):
            assert finished not in left
            assert records[finished]["secretName"] in crash.vault()["deleted"]
        assert expired["RowKey"] not in [e["RowKey"] for e in states.list_entities()]
    finally:
        crash.release_vault()
    crash.cleanup()
    _assert_gone(crash, records[stuck], owner)


# -- refresh ------------------------------------------------------------------------------------------------------

MACHINE_SECRET = "crash-machine-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def machine_connector(crash: CrashStack) -> Iterator[OidcProvider]:
    clients = [
        {
            "client_id": "crash-machine",
            "client_secret": MACHINE_SECRET,
            "redirect_uris": ["https://unused.example/callback"],
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "client_secret_post",
        }
    ]
    # Tokens live 500 s: under the refresh timer's 600 s horizon, so every timer run refreshes them.
    with OidcProvider().start(clients, access_token_ttl=500) as provider:
        definition, properties = connector_files.oauth_connector(
            host_of(crash.stack.backend.url),
            provider.authorization_endpoint,
            provider.token_endpoint,
            provider.revocation_endpoint,
            "crash-machine",
            grantType="client_credentials",
        )
        if crash.gateway is None or crash.gateway.process.poll() is not None:
            crash.start()
        response = crash.stack.maker().put(
            f"{crash.url}/api/connectors/crash-machine",
            json={"apiDefinition": definition, "apiProperties": properties, "clientSecret": MACHINE_SECRET},
        )
        assert response.status_code in (200, 201), response.text
        yield provider


def test_killed_during_refresh_the_next_refresh_run_reaches_a_consistent_state(
    crash: CrashStack, machine_connector: OidcProvider
) -> None:
    if crash.gateway is None or crash.gateway.process.poll() is not None:
        crash.start()
    owner = f"robot-{uuid.uuid4().hex[:8]}"
    client = crash.stack.client(owner)
    created = client.post(f"{crash.url}/api/connectors/crash-machine/connections", json={"displayName": "m"})
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    before = crash.records()[connection_id]
    assert before["status"] == "Connected"

    # The refresh's token write reaches the vault and is applied, but the gateway dies before reading the answer
    # (and before naming the new version in the record).
    crash._hook(
        "POST",
        "faults",
        json={"hold": True, "count": 1, "method": "PUT", "path_regex": f"^/secrets/{before['secretName']}$"},
    )
    timer = _in_background(
        lambda: requests.post(f"{crash.url}/admin/functions/refresh_tokens", json={"input": ""}, timeout=120)
    )
    crash.wait_vault_held()
    crash.kill()
    crash.release_vault()
    timer.join(timeout=60)

    interrupted = crash.records()[connection_id]
    assert interrupted["status"] == "Connected"
    assert interrupted["secretVersion"] == before["secretVersion"]  # the record still names a complete version
    assert interrupted.get("refreshLeaseUntil")  # and the dead holder's lease is still on it

    crash.start()
    # The record stays usable meanwhile: it names a version whose token is still valid.
    assert client.get(f"{crash.url}/api/connections/{connection_id}/invoke/still").status_code == 200
    # As if the dead holder's 30 s lease had run out.
    tables = TableServiceClient.from_connection_string(crash.stack.env["TABLES_CONNECTION_STRING"])
    tables.get_table_client(f"{PREFIX}connections").update_entity(
        {"PartitionKey": connection_id, "RowKey": "connection", "refreshLeaseUntil": "2000-01-01T00:00:00Z"},
        mode=UpdateMode.MERGE,
    )
    assert requests.post(f"{crash.url}/admin/functions/refresh_tokens", json={"input": ""}, timeout=120).ok
    after = crash.records()[connection_id]
    assert after["status"] == "Connected"
    assert after["secretVersion"] != before["secretVersion"]
    assert not after.get("refreshLeaseUntil")  # released: no stuck lease
    assert client.get(f"{crash.url}/api/connections/{connection_id}/invoke/after").status_code == 200
    seen = [r for r in crash.stack.backend.requests if r.path.endswith("/after")][-1]
    token = (seen.header("Authorization") or "").removeprefix("Bearer ")
    assert machine_connector.introspect(token, {"client_id": "crash-machine", "client_secret": MACHINE_SECRET})[
        "active"
    ]
    assert MACHINE_SECRET not in crash.logs_text()
    # Deleting it afterwards leaves nothing either.
    assert client.delete(f"{crash.url}/api/connections/{connection_id}").status_code == 204
    _assert_gone(crash, after, owner)


# -- store faults through the gateway: bounded attempts, the problem a caller gets, what is left ------------------

STORE_ATTEMPTS = 4  # 1 + STORE_RETRIES (default 3)


def _alive(crash: CrashStack) -> None:
    if crash.gateway is None or crash.gateway.process.poll() is not None:
        crash.start()


def _connect(crash: CrashStack, client: requests.Session) -> requests.Response:
    return client.post(
        f"{crash.url}/api/connectors/{CONNECTOR}/connections",
        json={"displayName": "faulty", "parameters": {"api_key": SECRET}},
    )


def test_table_503_is_a_503_problem_after_bounded_attempts(crash: CrashStack) -> None:
    _alive(crash)
    client = crash.stack.client(f"reader-{uuid.uuid4().hex[:8]}")
    created = _connect(crash, client)
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    row = rf"{PREFIX}connections\(PartitionKey='{connection_id}'"
    crash.standin.reset_counts()
    crash.standin.fail(503, count=1000, method="GET", path_regex=row)
    try:
        response = client.get(f"{crash.url}/api/connections/{connection_id}")
    finally:
        crash.standin.clear()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = problem(response)
    assert body["type"].endswith(":dependency-unavailable")
    assert crash.standin.attempts("GET", row) == STORE_ATTEMPTS
    assert client.get(f"{crash.url}/api/connections/{connection_id}").status_code == 200  # and it recovers


def test_table_412_on_the_last_create_step_leaves_nothing_behind(crash: CrashStack) -> None:
    _alive(crash)
    owner = f"raced-{uuid.uuid4().hex[:8]}"
    client = crash.stack.client(owner)
    before = set(crash.records())
    vault_before = crash.vault()
    # The conditional merge that marks the record Connected finds it changed (as when the connector is replaced).
    crash.standin.fail(412, count=1, path_regex=rf"{PREFIX}connections\(PartitionKey=")
    response = _connect(crash, client)
    assert response.status_code == 409, response.text
    assert problem(response)["type"].endswith("connector-changed")
    assert set(crash.records()) == before  # the half-made record was undone at once
    vault = crash.vault()
    assert set(vault["secrets"]) == set(vault_before["secrets"])  # no orphan secret: its secret went too
    assert client.get(f"{crash.url}/api/connections").json()["value"] == []


@pytest.mark.parametrize("status", [429, 503])
def test_key_vault_throttling_is_ridden_out_within_bounds(crash: CrashStack, status: int) -> None:
    _alive(crash)
    client = crash.stack.client(f"throttled-{uuid.uuid4().hex[:8]}")
    crash._hook("DELETE", "requests")
    crash._hook(
        "POST",
        "faults",
        json={"status": status, "count": 2, "retry_after": 0.1, "method": "PUT", "path_regex": "^/secrets/conn-"},
    )
    try:
        response = _connect(crash, client)
    finally:
        crash.release_vault()
    assert response.status_code == 201, response.text
    assert crash._hook("GET", "requests").json()["by_route"]["PUT /secrets/{name}"] == 3


@pytest.mark.parametrize("status", [429, 503])
def test_key_vault_that_stays_throttled_is_a_503_problem_and_nothing_is_left(crash: CrashStack, status: int) -> None:
    _alive(crash)
    client = crash.stack.client(f"refused-{uuid.uuid4().hex[:8]}")
    before = set(crash.records())
    crash._hook("DELETE", "requests")
    crash._hook(
        "POST",
        "faults",
        json={"status": status, "count": 1000, "retry_after": 0.1, "method": "PUT", "path_regex": "^/secrets/conn-"},
    )
    try:
        response = _connect(crash, client)
    finally:
        crash.release_vault()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    problem(response)
    assert crash._hook("GET", "requests").json()["by_route"]["PUT /secrets/{name}"] == STORE_ATTEMPTS
    assert set(crash.records()) == before
    assert SECRET not in crash.logs_text()
