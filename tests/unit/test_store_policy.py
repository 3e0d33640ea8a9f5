"""Every store call ends in a bounded time: the Table stand-in (a proxy in front of Azurite) and the Key Vault
emulator's fault hooks count the attempts; no clock is read."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError

from devtools.keyvault_emulator import RunningEmulator, start_emulator
from shared import problems
from shared.connections import ConnectionRecords
from shared.settings import Settings
from shared.stores.clients import StorePolicy, request_budget, secret_client, table_service
from shared.stores.secrets import SecretStore
from tests.support.azurite import azurite_tables
from tests.support.table_standin import TableStandin

RETRIES = 3
FAST = StorePolicy(retries=RETRIES, attempt_timeout=2.0, deadline=20.0, backoff_factor=0.01, backoff_max=0.05)


@pytest.fixture(scope="module")
def standin() -> Iterator[TableStandin]:
    with azurite_tables() as connection_string, TableStandin(connection_string) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with start_emulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(standin: TableStandin, emulator: RunningEmulator) -> Iterator[None]:
    yield
    standin.clear()
    standin.reset_counts()
    emulator.clear_faults()
    emulator.reset_request_counts()


def settings_for(standin: TableStandin, emulator: RunningEmulator, **env: str) -> Settings:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_", "KEY_VAULT_", "STORE_"))}
    return Settings.from_env(
        {
            **base,
            "KEY_VAULT_URL": emulator.url,
            "KEY_VAULT_EMULATOR": "true",
            "KEY_VAULT_CA_BUNDLE": emulator.ca_bundle,
            "TABLES_CONNECTION_STRING": standin.connection_string,
            "TABLES_PREFIX": "faults",
            **env,
        }
    )


def records(standin: TableStandin, emulator: RunningEmulator, policy: StorePolicy = FAST) -> ConnectionRecords:
    client = table_service(settings_for(standin, emulator), policy).create_table_if_not_exists("faultsconnections")
    return ConnectionRecords(client)


def new_id() -> str:
    return os.urandom(16).hex()


def test_settings_reach_the_policy(standin: TableStandin, emulator: RunningEmulator) -> None:
    settings = settings_for(
        standin, emulator, STORE_RETRIES="2", STORE_ATTEMPT_TIMEOUT_SECONDS="4", STORE_DEADLINE_SECONDS="12"
    )
    options = StorePolicy.from_settings(settings).client_options()
    assert options["retry_total"] == 2
    assert options["read_timeout"] == 4
    assert options["connection_timeout"] == 2
    assert options["timeout"] == 12
    defaults = StorePolicy.from_settings(settings_for(standin, emulator)).client_options()
    assert (defaults["retry_total"], defaults["read_timeout"], defaults["timeout"]) == (3, 10, 30)


def test_table_503_is_retried_a_bounded_number_of_times_then_a_503_problem(
    standin: TableStandin, emulator: RunningEmulator
) -> None:
    table = records(standin, emulator)
    connection_id = new_id()
    standin.fail(503, count=100, method="GET", path_regex=connection_id)
    with pytest.raises(problems.Problem) as caught:
        table.read(connection_id)
    assert caught.value.status == 503
    assert standin.attempts("GET", connection_id) == 1 + RETRIES


def test_a_brief_table_outage_is_ridden_out(standin: TableStandin, emulator: RunningEmulator) -> None:
    table = records(standin, emulator)
    connection_id = new_id()
    table.insert({"PartitionKey": connection_id, "status": "Connected"})
    standin.fail(503, count=2, method="GET", path_regex=connection_id)
    entity = table.read(connection_id)
    assert entity is not None and entity["status"] == "Connected"
    assert standin.attempts("GET", connection_id) == 3


def test_a_long_table_retry_after_is_not_waited_past_the_deadline(
    standin: TableStandin, emulator: RunningEmulator
) -> None:
    # Retry-After: 3600 is cut to StorePolicy.retry_after_max (5 s); a 1 s deadline leaves no room even for that.
    table = records(standin, emulator, StorePolicy(retries=RETRIES, attempt_timeout=2.0, deadline=1.0))
    connection_id = new_id()
    standin.fail(503, count=100, method="GET", path_regex=connection_id, retry_after=3600)
    with pytest.raises(problems.Problem) as caught:
        table.read(connection_id)
    assert caught.value.status == 503
    assert standin.attempts("GET", connection_id) == 1


def test_a_short_table_retry_after_is_honoured(standin: TableStandin, emulator: RunningEmulator) -> None:
    table = records(standin, emulator)
    connection_id = new_id()
    table.insert({"PartitionKey": connection_id, "status": "Connected"})
    standin.fail(503, count=1, method="GET", path_regex=connection_id, retry_after=0.1)
    assert table.read(connection_id) is not None
    assert standin.attempts("GET", connection_id) == 2


def test_table_412_is_not_retried_and_leaves_the_record(standin: TableStandin, emulator: RunningEmulator) -> None:
    table = records(standin, emulator)
    connection_id = new_id()
    table.insert({"PartitionKey": connection_id, "status": "Connected"})
    entity = table.read(connection_id)
    assert entity is not None
    standin.reset_counts()
    standin.fail(412, count=1, method="PATCH", path_regex=connection_id)
    client = table_service(settings_for(standin, emulator), FAST).get_table_client("faultsconnections")
    with pytest.raises(ResourceModifiedError):
        client.update_entity(
            {"PartitionKey": connection_id, "RowKey": "connection", "status": "Deleting"},
            etag=entity.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    assert standin.attempts("PATCH", connection_id) == 1
    assert table.read(connection_id)["status"] == "Connected"


def test_an_unanswered_table_call_times_out_per_attempt_and_gives_up(
    standin: TableStandin, emulator: RunningEmulator
) -> None:
    policy = StorePolicy(retries=1, attempt_timeout=0.5, deadline=20.0, backoff_factor=0.01)
    table = records(standin, emulator, policy)
    connection_id = new_id()
    standin.hold(count=100, method="GET", path_regex=connection_id)
    with pytest.raises(problems.Problem) as caught:
        table.read(connection_id)
    assert caught.value.status == 503
    assert standin.attempts("GET", connection_id) == 2


def secrets(standin: TableStandin, emulator: RunningEmulator, policy: StorePolicy = FAST) -> SecretStore:
    return SecretStore(secret_client(settings_for(standin, emulator), policy), cache_size=0)


def _kv_attempts(emulator: RunningEmulator, route: str) -> int:
    return emulator.request_counts()["by_route"].get(route, 0)


@pytest.mark.parametrize("status", [429, 503])
def test_key_vault_throttling_with_retry_after_is_honoured(
    standin: TableStandin, emulator: RunningEmulator, status: int
) -> None:
    store = secrets(standin, emulator)
    name = f"conn-{new_id()}"
    version = store.put(name, {"values": {"k": "v"}})
    emulator.reset_request_counts()
    emulator.inject_faults(status, count=2, retry_after=0.1, method="GET")
    assert store.get(name, version) == {"values": {"k": "v"}}
    assert _kv_attempts(emulator, "GET /secrets/{name}/{version}") == 3


@pytest.mark.parametrize("status", [429, 503])
def test_key_vault_that_stays_throttled_is_a_503_problem_after_bounded_attempts(
    standin: TableStandin, emulator: RunningEmulator, status: int
) -> None:
    store = secrets(standin, emulator)
    name = f"conn-{new_id()}"
    emulator.inject_faults(status, count=100, retry_after=0.1, method="PUT")
    with pytest.raises(problems.Problem) as caught:
        store.put(name, {"values": {"k": "v"}})
    assert caught.value.status == 503
    assert _kv_attempts(emulator, "PUT /secrets/{name}") == 1 + RETRIES
    assert name not in emulator.state()["secrets"]


def test_a_long_key_vault_retry_after_is_not_waited_past_the_deadline(
    standin: TableStandin, emulator: RunningEmulator
) -> None:
    store = secrets(standin, emulator, StorePolicy(retries=RETRIES, attempt_timeout=2.0, deadline=1.0))
    emulator.inject_faults(429, count=100, retry_after=3600, method="PUT")
    with pytest.raises(problems.Problem):
        store.put(f"conn-{new_id()}", {"values": {}})
    assert _kv_attempts(emulator, "PUT /secrets/{name}") == 1


def test_store_retries_setting_bounds_table_and_key_vault_attempts(
    standin: TableStandin, emulator: RunningEmulator
) -> None:
    settings = settings_for(standin, emulator, STORE_RETRIES="1")
    table = ConnectionRecords(table_service(settings).create_table_if_not_exists("faultsconnections"))
    connection_id = new_id()
    standin.fail(503, count=100, method="GET", path_regex=connection_id, retry_after=0.01)
    with pytest.raises(problems.Problem):
        table.read(connection_id)
    assert standin.attempts("GET", connection_id) == 2
    store = SecretStore(secret_client(settings), cache_size=0)
    emulator.inject_faults(503, count=100, retry_after=0.01, method="PUT")
    with pytest.raises(problems.Problem):
        store.put(f"conn-{new_id()}", {"values": {}})
    assert _kv_attempts(emulator, "PUT /secrets/{name}") == 2


def test_a_spent_request_budget_sends_nothing_more(standin: TableStandin, emulator: RunningEmulator) -> None:
    table = records(standin, emulator)
    store = secrets(standin, emulator)
    connection_id = new_id()
    with request_budget(0):
        with pytest.raises(problems.Problem) as table_failure:
            table.read(connection_id)
        with pytest.raises(problems.Problem) as vault_failure:
            store.put(f"conn-{new_id()}", {"values": {}})
    assert (table_failure.value.status, vault_failure.value.status) == (503, 503)
    assert standin.attempts(path_regex=connection_id) == 0
    assert emulator.request_counts()["by_route"].get("PUT /secrets/{name}", 0) == 0
    assert table.read(connection_id) is None  # outside the request's budget: the call's own deadline only


def test_the_request_budget_cuts_retries_the_call_deadline_would_allow(
    standin: TableStandin, emulator: RunningEmulator
) -> None:
    table = records(standin, emulator)  # its own deadline (20 s) would allow every retry after a 1 s Retry-After
    connection_id = new_id()
    standin.fail(503, count=100, method="GET", path_regex=connection_id, retry_after=1)
    with request_budget(0.5), pytest.raises(problems.Problem):
        table.read(connection_id)
    assert standin.attempts("GET", connection_id) == 1
