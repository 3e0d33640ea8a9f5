"""Usage counters per subscription key against a real Azurite: buffered in memory, flushed with ETags."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from azure.data.tables import TableClient

from devtools.stack import azurite_connection_string, free_port
from shared.callers import CallerAuthenticator, SubscriptionKeyStore, UsageCounter
from shared.settings import Settings
from tests.support.azurite import azurite_tables
from tests.support.key_tables import CountingTable, fresh_table

NOON = datetime(2025, 3, 14, 12, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as running:
        yield running


@pytest.fixture
def table(azurite):
    return CountingTable(fresh_table(azurite))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def counter(table, clock, **options) -> UsageCounter:
    options.setdefault("flush_interval_seconds", 60)
    options.setdefault("flush_after_calls", 1000)
    return UsageCounter(table, clock=clock, flush_in_background=False, **options)


def test_calls_are_buffered_then_flushed_per_slot_and_day(table, clock):
    usage = counter(table, clock)
    for _ in range(5):
        usage.record("sub1", "primary")
    usage.record("sub1", "secondary")
    usage.record("sub2", "secondary")
    assert sum(table.calls.values()) == 0  # no Table call per recorded call
    assert usage.pending_calls() == 7

    assert usage.flush() == 7

    assert usage.pending_calls() == 0
    assert table.calls["create_entity"] == 2  # one entity per subscription and day
    assert [u.to_json() for u in usage.daily("sub1")] == [
        {"date": "2025-03-14", "primary": 5, "secondary": 1, "calls": 6}
    ]
    assert [(u.primary, u.secondary) for u in usage.daily("sub2")] == [(0, 1)]
    assert usage.flush() == 0  # nothing new, nothing written


def test_days_are_utc_days(table, clock):
    usage = counter(table, clock)
    clock.now = datetime(2025, 3, 14, 23, 59, 59, tzinfo=UTC).timestamp()
    usage.record("s", "primary")
    clock.now += 2
    usage.record("s", "primary")
    usage.record("s", "secondary")
    usage.flush()

    days = usage.daily("s")
    assert [(u.day, u.primary, u.secondary) for u in days] == [(date(2025, 3, 14), 1, 0), (date(2025, 3, 15), 1, 1)]
    assert usage.daily("s", days=1) == days[1:]


def test_flushes_add_to_what_is_stored(table, clock):
    usage = counter(table, clock)
    for round_ in range(3):
        usage.record("s", "primary")
        usage.flush()
        assert usage.daily("s")[0].primary == round_ + 1


def test_a_full_buffer_flushes_by_itself(table, clock):
    usage = counter(table, clock, flush_after_calls=10)
    clock.now += 5  # past the minimum gap between flushes
    for _ in range(9):
        usage.record("s", "secondary")
    assert usage.pending_calls() == 9 and table.calls["create_entity"] == 0

    usage.record("s", "secondary")

    assert usage.pending_calls() == 0
    assert usage.daily("s")[0].secondary == 10


def test_the_flush_interval_flushes_by_itself(table, clock):
    usage = counter(table, clock, flush_interval_seconds=30)
    usage.record("s", "primary")
    clock.now += 29
    usage.record("s", "primary")
    assert usage.pending_calls() == 2

    clock.now += 1
    usage.record("s", "primary")

    assert usage.pending_calls() == 0 and usage.daily("s")[0].primary == 3


def test_background_flush_runs_off_the_calling_thread(azurite, clock):
    usage = UsageCounter(fresh_table(azurite), clock=clock, flush_interval_seconds=10)
    usage.record("s", "primary")
    clock.now += 10
    usage.record("s", "primary")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [u.primary for u in usage.daily("s")] != [2]:
        time.sleep(0.02)
    assert [u.primary for u in usage.daily("s")] == [2]


def test_a_failed_flush_keeps_its_counts(clock):
    dead = TableClient.from_connection_string(azurite_connection_string(free_port()), "gone", retry_total=0)
    usage = counter(dead, clock)
    usage.record("s", "primary")
    usage.record("s", "secondary")

    assert usage.flush() == 0
    assert usage.pending_calls() == 2


def test_two_instances_add_up_exactly(azurite, clock):
    shared_table = fresh_table(azurite)
    instances = [counter(shared_table, clock) for _ in range(2)]
    rounds, calls_per_round = 5, 40

    def run(usage: UsageCounter, slot: str, start: threading.Barrier) -> None:
        for _ in range(rounds):
            for _ in range(calls_per_round):
                usage.record("busy", slot)
            start.wait()  # both flush at once, so their ETag writes collide
            usage.flush()

    barrier = threading.Barrier(2)
    workers = [
        threading.Thread(target=run, args=(instances[0], "primary", barrier)),
        threading.Thread(target=run, args=(instances[1], "secondary", barrier)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    [day] = instances[0].daily("busy")
    assert (day.primary, day.secondary) == (rounds * calls_per_round, rounds * calls_per_round)


def test_two_stores_on_one_table_add_up_through_authentication(azurite, clock):
    shared_table = fresh_table(azurite)
    settings = Settings.from_env({"KEY_VAULT_URL": "https://vault.example", "TABLES_CONNECTION_STRING": azurite})
    stores = [SubscriptionKeyStore(shared_table, counter(shared_table, clock)) for _ in range(2)]
    created = stores[0].create_subscription("metered", "p")
    authenticators = [CallerAuthenticator(settings, store) for store in stores]

    for authenticator, value, times in [
        (authenticators[0], created.primary_value, 3),
        (authenticators[1], created.primary_value, 4),
        (authenticators[1], created.secondary_value, 2),
    ]:
        for _ in range(times):
            authenticator.authenticate({"Ocp-Apim-Subscription-Key": value}, {})
    for store in stores:
        store.usage.flush()

    [day] = stores[1].usage.daily(created.subscription.id)
    assert (day.primary, day.secondary, day.calls) == (7, 2, 9)


def test_discard_drops_a_subscriptions_buffered_counts(table, clock):
    usage = counter(table, clock)
    usage.record("gone", "primary")
    usage.record("kept", "primary")
    usage.discard("gone")
    assert usage.pending_calls() == 1
    usage.flush()
    assert usage.daily("gone") == [] and usage.daily("kept")[0].primary == 1
