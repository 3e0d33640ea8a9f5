"""Audit use counts survive a failed flush: the Table stand-in answers 503, the counts wait for the next flush."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient, TableServiceClient

from shared.audit import FLUSH_AFTER_CALLS, AuditLog
from shared.stores.clients import StorePolicy, _BoundedTableService
from tests.support.azurite import azurite_tables
from tests.support.table_standin import TableStandin

POLICY = StorePolicy(retries=1, attempt_timeout=2.0, deadline=10.0, backoff_factor=0.01, backoff_max=0.02)


@pytest.fixture(scope="module")
def standin() -> Iterator[TableStandin]:
    with azurite_tables() as connection_string, TableStandin(connection_string) as proxy:
        yield proxy


@pytest.fixture
def table(standin: TableStandin) -> Iterator[TableClient]:
    service: TableServiceClient = _BoundedTableService.from_connection_string(
        standin.connection_string, **POLICY.client_options()
    )
    client = service.create_table_if_not_exists("audit")
    yield client
    standin.clear()
    for entity in client.list_entities():
        client.delete_entity(entity["PartitionKey"], entity["RowKey"])


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def use_rows(table: TableClient) -> dict[tuple[str, str], int]:
    return {(e["PartitionKey"], e["principal"]): e["count"] for e in table.list_entities() if e["action"] == "used"}


def test_counts_of_a_failed_flush_are_written_by_the_next(standin: TableStandin, table: TableClient) -> None:
    audit = AuditLog(table, clock=Clock())
    for _ in range(3):
        audit.used("c1", "alice")
    audit.used("c2", "bob")
    standin.fail(503, count=1000, path_regex="audit")
    assert audit.flush() == 0
    assert standin.attempts(path_regex="audit") >= 2  # tried (and retried), within the policy's bound
    standin.clear()
    assert use_rows(table) == {}
    audit.used("c1", "alice")
    assert audit.flush() == 5
    assert use_rows(table) == {("c1", "alice"): 4, ("c2", "bob"): 1}
    assert audit.flush() == 0  # nothing pending any more: nothing written twice
    assert use_rows(table) == {("c1", "alice"): 4, ("c2", "bob"): 1}


def test_one_failing_row_does_not_lose_the_others(standin: TableStandin, table: TableClient) -> None:
    audit = AuditLog(table, clock=Clock())
    audit.used("good", "alice")
    audit.used("bad", "alice")
    standin.fail(503, count=1000, path_regex="'bad'")
    assert audit.flush() == 1
    standin.clear()
    assert use_rows(table) == {("good", "alice"): 1}
    assert audit.flush() == 1
    assert use_rows(table) == {("good", "alice"): 1, ("bad", "alice"): 1}


def test_after_a_failed_flush_calls_no_longer_flush_on_count(standin: TableStandin, table: TableClient) -> None:
    clock = Clock()
    audit = AuditLog(table, clock=clock)
    standin.fail(503, count=100_000, path_regex="audit")
    for _ in range(FLUSH_AFTER_CALLS):
        audit.used("c", "alice")  # the last one flushes, and fails
    tried = standin.attempts(path_regex="audit")
    assert tried >= 1
    for _ in range(FLUSH_AFTER_CALLS):
        audit.used("c", "alice")  # a down table costs these calls nothing
    assert standin.attempts(path_regex="audit") == tried
    standin.clear()
    clock.now += 61  # the time trigger still flushes, and nothing was lost
    audit.used("c", "alice")
    assert use_rows(table) == {("c", "alice"): 2 * FLUSH_AFTER_CALLS + 1}
