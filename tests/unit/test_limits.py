"""Rate limits and quotas: window arithmetic, decisions, headers, problems, and the Table-backed counters."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient

from devtools.stack import azurite_connection_string, free_port
from shared.limits import (
    Admission,
    Decision,
    LimitPolicy,
    QuotaCounter,
    QuotaPolicy,
    RateLimiter,
    decision_headers,
    limits_table,
    purge_expired,
    raise_if_denied,
    table_key,
)
from shared.limits._store import CounterTable, read_int
from shared.limits._windows import (
    QuotaUsage,
    WindowCounts,
    quota_decision,
    quota_released,
    rate_decision,
    rate_released,
    window_start,
    with_added_bytes,
)
from shared.problems import Problem
from shared.settings import Settings
from tests.support.azurite import azurite_tables

T0 = 1_700_000_040.0  # any instant; tests compute window boundaries from it


# --- pure: sliding window counter ---


def run_rate(policy: LimitPolicy, counts: WindowCounts | None, now: float, times: int) -> tuple[list, WindowCounts]:
    decisions = []
    for _ in range(times):
        decision, admitted = rate_decision(counts, now, policy, "test")
        decisions.append(decision)
        counts = admitted or counts
    assert counts is not None
    return decisions, counts


def test_windows_are_aligned_to_the_epoch() -> None:
    assert window_start(125.9, 60) == 120
    assert window_start(120.0, 60) == 120
    assert window_start(119.999, 60) == 60
    assert window_start(86_400 * 3 + 5, 86_400) == 86_400 * 3


def test_a_fresh_window_admits_exactly_the_limit() -> None:
    policy = LimitPolicy(calls=5, period_seconds=60)
    now = window_start(T0, 60) + 10
    decisions, counts = run_rate(policy, None, now, 8)
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
    assert counts == WindowCounts(window_start(T0, 60), 5, 0)
    assert decisions[0].limit == 5
    assert decisions[0].reset_seconds == 50  # to the end of the fixed window
    # Denied with nothing in the previous window: the 5 calls slide out across the next window.
    # At 60/5 = 12 s into it, 5 x 48/60 = 4 calls remain counted, so one more fits: 50 + 12 s.
    assert decisions[5].retry_after_seconds == 62
    assert decisions[5].reset_seconds == 62


def test_the_previous_window_counts_by_how_much_of_it_is_still_inside() -> None:
    policy = LimitPolicy(calls=10, period_seconds=60)
    start = window_start(T0, 60)
    previous_full = WindowCounts(start - 60, 10, 0)
    # 15 s into the window, 45/60 of the previous window still counts: 7.5 calls, so 2 more fit.
    decisions, counts = run_rate(policy, previous_full, start + 15, 3)
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [d.remaining for d in decisions] == [1, 0, 0]
    assert counts == WindowCounts(start, 2, 10)
    # 2 + 10 x (60 - 18)/60 = 9 at 18 s, so the next call fits 3 s later.
    assert decisions[2].retry_after_seconds == 3
    assert rate_decision(counts, start + 17.9, policy, "test")[0].allowed is False
    assert rate_decision(counts, start + 18, policy, "test")[0].allowed is True


def test_counts_older_than_the_previous_window_are_forgotten() -> None:
    policy = LimitPolicy(calls=3, period_seconds=10)
    old = WindowCounts(window_start(T0, 10) - 20, 3, 3)
    decisions, counts = run_rate(policy, old, T0, 4)
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert counts == WindowCounts(window_start(T0, 10), 3, 0)


def test_counts_from_an_instance_whose_clock_is_ahead_are_kept() -> None:
    policy = LimitPolicy(calls=3, period_seconds=10)
    ahead = WindowCounts(window_start(T0, 10) + 10, 3, 0)
    decision, admitted = rate_decision(ahead, T0, policy, "test")
    assert not decision.allowed
    assert admitted is None


@pytest.mark.parametrize(("calls", "period"), [(1, 1), (3, 10), (10, 60), (7, 9)])
def test_retry_after_is_the_shortest_whole_wait_that_succeeds(calls: int, period: int) -> None:
    policy = LimitPolicy(calls, period)
    start = window_start(T0, period)
    checked = 0
    for previous in range(calls + 1):
        for current in range(calls + 1):
            for elapsed in (0, 0.5, period / 3, period - 1, period - 0.25):
                counts = WindowCounts(start, current, previous)
                now = start + elapsed
                decision, _ = rate_decision(counts, now, policy, "test")
                if decision.allowed:
                    continue
                wait = decision.retry_after_seconds
                assert wait is not None and wait >= 1
                assert rate_decision(counts, now + wait, policy, "test")[0].allowed, (counts, elapsed, wait)
                if wait > 1:
                    assert not rate_decision(counts, now + wait - 1, policy, "test")[0].allowed, (counts, elapsed)
                checked += 1
    assert checked > 0


def test_policies_must_make_sense() -> None:
    with pytest.raises(ValueError, match="calls >= 1"):
        LimitPolicy(0, 60)
    with pytest.raises(ValueError, match="calls >= 1"):
        LimitPolicy(5, 0)
    with pytest.raises(ValueError, match="calls, bandwidth_bytes or both"):
        QuotaPolicy(None, None, 3600)
    with pytest.raises(ValueError, match="negative"):
        QuotaPolicy(5, None, -1)


# --- pure: quotas ---


def test_a_calls_quota_renews_at_the_next_aligned_period() -> None:
    policy = QuotaPolicy(calls=2, bandwidth_bytes=None, renewal_period_seconds=3600)
    start = window_start(T0, 3600)
    usage = None
    outcomes = []
    for _ in range(3):
        decision, after = quota_decision(usage, start + 3599, policy, "q")
        outcomes.append(decision)
        usage = after or usage
    assert [d.allowed for d in outcomes] == [True, True, False]
    assert [d.remaining for d in outcomes] == [1, 0, 0]
    assert outcomes[2].retry_after_seconds == 1
    assert outcomes[2].kind == "quota"
    assert outcomes[0].retry_after_seconds is None
    renewed, after = quota_decision(usage, start + 3600, policy, "q")
    assert renewed.allowed and renewed.remaining == 1
    assert after == QuotaUsage(start + 3600, 1, 0)


def test_a_lifetime_quota_never_renews() -> None:
    policy = QuotaPolicy(calls=1, bandwidth_bytes=None, renewal_period_seconds=0)
    first, usage = quota_decision(None, T0, policy, "q")
    assert first.allowed and first.reset_seconds is None and first.window_seconds == 0
    later, _ = quota_decision(usage, T0 + 10 * 365 * 86_400, policy, "q")
    assert not later.allowed
    assert later.retry_after_seconds is None


def test_bandwidth_quota_admits_while_the_bytes_fit() -> None:
    policy = QuotaPolicy(calls=None, bandwidth_bytes=1000, renewal_period_seconds=60)
    first, usage = quota_decision(None, T0, policy, "q", request_bytes=600)
    assert first.allowed and first.bandwidth_remaining == 400 and first.remaining is None
    too_big, none = quota_decision(usage, T0, policy, "q", request_bytes=401)
    assert not too_big.allowed and none is None and too_big.bandwidth_remaining == 400
    exact, usage = quota_decision(usage, T0, policy, "q", request_bytes=400)
    assert exact.allowed and exact.bandwidth_remaining == 0
    # Used up: not even a call without a body goes through.
    assert not quota_decision(usage, T0, policy, "q")[0].allowed


def test_response_bytes_count_after_the_fact() -> None:
    policy = QuotaPolicy(calls=10, bandwidth_bytes=1000, renewal_period_seconds=60)
    _, usage = quota_decision(None, T0, policy, "q", request_bytes=10)
    usage = with_added_bytes(usage, T0, policy, 5000)
    assert usage.bytes == 5010 and usage.calls == 1
    denied, _ = quota_decision(usage, T0, policy, "q")
    assert not denied.allowed and denied.remaining == 9 and denied.bandwidth_remaining == 0
    # Bytes added in a later period start that period afresh.
    assert with_added_bytes(usage, T0 + 60, policy, 7) == QuotaUsage(window_start(T0 + 60, 60), 0, 7)


# --- pure: headers and problems ---

RATE_ALLOWED = Decision(True, 12, None, 500, policy_name="connection", window_seconds=60, reset_seconds=30)
RATE_DENIED = Decision(False, 0, 7, 500, policy_name="connection", window_seconds=60, reset_seconds=7)
QUOTA_DENIED = Decision(
    False,
    3,
    600,
    100,
    kind="quota",
    policy_name="subscription-quota",
    window_seconds=3600,
    reset_seconds=600,
    bandwidth_limit=5000,
    bandwidth_remaining=0,
)


def test_headers_of_an_admitted_call() -> None:
    assert decision_headers(RATE_ALLOWED) == {
        "X-RateLimit-Limit": "500",
        "X-RateLimit-Remaining": "12",
        "RateLimit-Policy": '"connection";q=500;w=60',
        "RateLimit": '"connection";r=12;t=30',
    }


def test_headers_of_a_denied_call_say_when_to_retry() -> None:
    headers = decision_headers(RATE_DENIED)
    assert headers["Retry-After"] == "7"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["RateLimit"] == '"connection";r=0;t=7'


def test_headers_of_several_decisions_are_merged() -> None:
    tighter = Decision(True, 2, None, 10, policy_name="principal", window_seconds=1, reset_seconds=1)
    headers = decision_headers(RATE_ALLOWED, tighter, QUOTA_DENIED)
    assert headers["X-RateLimit-Limit"] == "10"
    assert headers["X-RateLimit-Remaining"] == "2"
    assert headers["RateLimit-Policy"] == (
        '"connection";q=500;w=60, "principal";q=10;w=1, "subscription-quota";q=100;w=3600,'
        ' "subscription-quota-bytes";q=5000;qu="content-bytes";w=3600'
    )
    assert headers["RateLimit"] == (
        '"connection";r=12;t=30, "principal";r=2;t=1, "subscription-quota";r=3;t=600,'
        ' "subscription-quota-bytes";r=0;t=600'
    )
    assert headers["Retry-After"] == "600"


def test_policy_names_are_valid_structured_field_strings() -> None:
    odd = Decision(True, 1, None, 2, policy_name='we"ird\\\tname\x7f€', window_seconds=5, reset_seconds=5)
    assert decision_headers(odd)["RateLimit-Policy"] == '"we\\"ird\\\\name";q=2;w=5'


def test_an_admitted_call_raises_nothing() -> None:
    raise_if_denied(RATE_ALLOWED)


def test_a_rate_limited_call_gets_429_with_retry_after() -> None:
    with pytest.raises(Problem) as raised:
        raise_if_denied(RATE_DENIED)
    problem = raised.value
    assert (problem.status, problem.slug) == (429, "rate-limited")
    assert problem.headers["Retry-After"] == "7"
    assert problem.headers["X-RateLimit-Remaining"] == "0"
    assert problem.detail == "The connection rate limit of 500 calls per 60 s is reached. Retry in 7 s."
    assert problem.to_dict()["retry_after_seconds"] == 7
    assert problem.to_dict()["violated_policies"] == ["connection"]


def test_an_exhausted_quota_gets_403_with_retry_after() -> None:
    with pytest.raises(Problem) as raised:
        raise_if_denied(QUOTA_DENIED, "subscription")
    problem = raised.value
    assert (problem.status, problem.slug) == (403, "quota-exceeded")
    assert problem.headers["Retry-After"] == "600"
    assert "X-RateLimit-Remaining" not in problem.headers
    assert problem.detail == (
        "The subscription quota of 100 calls and 5000 bytes per 3600 s is used up. It renews in 600 s; retry then."
    )


def test_an_exhausted_lifetime_quota_says_it_does_not_renew() -> None:
    lifetime = Decision(False, 0, None, 5, kind="quota", policy_name="principal-quota", window_seconds=0)
    with pytest.raises(Problem) as raised:
        raise_if_denied(lifetime)
    assert "Retry-After" not in raised.value.headers
    assert raised.value.detail == "The principal-quota quota of 5 calls in total is used up. It does not renew."


# --- table keys ---

TRICKY_KEYS = [
    "connection:abc-123",
    "principal:a/b",
    "principal:a\\b",
    "principal:a#b?c",
    "principal:\x00\x1f\x7f\x9f",
    "principal:it's",
    "principal:100%",
    "principal:ü€😀",
    "principal:!",
    "principal:!21",
    "principal:a b",
]


def test_safe_keys_stay_readable() -> None:
    assert table_key("connection:abc-123_x.y@z") == "connection:abc-123_x.y@z"


def test_escaped_keys_are_distinct_and_free_of_forbidden_characters() -> None:
    escaped = [table_key(k) for k in TRICKY_KEYS]
    assert len(set(escaped)) == len(TRICKY_KEYS)
    for key in escaped:
        assert not set(key) & set("/\\#?'%")
        assert all(" " < ch < "\x7f" for ch in key)
    assert table_key("principal:a/b") == "principal:a!2Fb"
    assert table_key("principal:!") == "principal:!21"
    assert table_key("principal:!21") == "principal:!2121"


def test_long_keys_are_hashed() -> None:
    long_key = "principal:" + "x" * 300
    hashed = table_key(long_key)
    assert hashed.startswith("!!") and len(hashed) == 66
    assert hashed != table_key(long_key + "y")
    assert table_key("principal:" + "é" * 80).startswith("!!")  # short, but too long once escaped
    with pytest.raises(ValueError, match="empty"):
        table_key("")


# --- against Azurite ---


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as connection_string:
        yield connection_string


@pytest.fixture(scope="module")
def table(azurite: str) -> TableClient:
    settings = Settings.from_env(
        {"KEY_VAULT_URL": "https://unused.example", "TABLES_CONNECTION_STRING": azurite, "TABLES_PREFIX": "lt"}
    )
    client = limits_table(settings)
    assert client.table_name == "ltlimits"
    assert limits_table(settings).table_name == "ltlimits"  # a second call finds it
    return client


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_tricky_keys_work_as_table_keys(table: TableClient) -> None:
    limiter = RateLimiter(table, clock=FixedClock(T0))
    policy = LimitPolicy(1, 60)
    for key in [*TRICKY_KEYS, "principal:" + "z" * 400]:
        assert limiter.check(key, policy).allowed, key
        assert not limiter.check(key, policy).allowed, key


def test_the_limiter_admits_the_limit_then_renews(table: TableClient) -> None:
    clock = FixedClock(window_start(T0, 60) + 30)
    limiter = RateLimiter(table, clock=clock)
    policy = LimitPolicy(4, 60)
    decisions = [limiter.check("connection:renews", policy) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 4 + [False] * 2
    assert decisions[0].policy_name == "connection"
    # Half of the previous window still counts 30 s into the next one: 2 of 4, so 2 fit.
    clock.now += 60
    later = [limiter.check("connection:renews", policy) for _ in range(3)]
    assert [d.allowed for d in later] == [True, True, False]
    # A different period is a different counter.
    assert limiter.check("connection:renews", LimitPolicy(4, 10)).allowed


def test_an_instance_with_a_stale_copy_still_counts_exactly(table: TableClient) -> None:
    first = RateLimiter(table, clock=FixedClock(T0))
    second = RateLimiter(table, clock=FixedClock(T0))
    policy = LimitPolicy(5, 60)
    assert all(first.check("subscription:stale", policy).allowed for _ in range(3))
    assert all(second.check("subscription:stale", policy).allowed for _ in range(2))
    # first's remembered copy says 3: its write fails the ETag check, it reads 5 and denies.
    denied = first.check("subscription:stale", policy)
    assert not denied.allowed
    assert first.counters.conflicts == 1


def test_threads_of_several_instances_admit_exactly_the_limit(table: TableClient) -> None:
    limiters = [RateLimiter(table, clock=FixedClock(T0)) for _ in range(2)]
    policy = LimitPolicy(60, 60)
    admitted: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: RateLimiter) -> None:
        for _ in range(25):
            allowed = limiter.check("connection:contended", policy).allowed
            with lock:
                admitted.append(allowed)

    threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 150
    assert admitted.count(True) == 60  # exact, however the two instances' writes interleaved


def test_threads_of_one_instance_take_turns_instead_of_racing_the_etag(table: TableClient) -> None:
    limiter = RateLimiter(table, clock=FixedClock(T0))
    policy = LimitPolicy(60, 60)
    threads = [
        threading.Thread(target=lambda: [limiter.check("connection:one-instance", policy) for _ in range(20)])
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.counters.conflicts == 0  # only other instances ever lose an ETag race


def test_quota_counts_calls_and_bytes_across_instances(table: TableClient) -> None:
    policy = QuotaPolicy(calls=3, bandwidth_bytes=1000, renewal_period_seconds=3600)
    clock = FixedClock(window_start(T0, 3600) + 100)
    first, second = QuotaCounter(table, clock=clock), QuotaCounter(table, clock=clock)
    assert first.check("subscription:q", policy, bytes=300).bandwidth_remaining == 700
    second.add_bytes("subscription:q", policy, 650)
    decision = first.check("subscription:q", policy, bytes=40)
    assert decision.allowed and decision.remaining == 1 and decision.bandwidth_remaining == 10
    denied = second.check("subscription:q", policy, bytes=11)
    assert not denied.allowed and denied.retry_after_seconds == 3500
    clock.now += 3500
    assert first.check("subscription:q", policy, bytes=11).bandwidth_remaining == 989
    with pytest.raises(ValueError, match="negative"):
        first.check("subscription:q", policy, bytes=-1)


def test_big_byte_counts_fit(table: TableClient) -> None:
    policy = QuotaPolicy(calls=None, bandwidth_bytes=10 * 2**40, renewal_period_seconds=86_400)
    quotas = QuotaCounter(table, clock=FixedClock(T0))
    assert quotas.check("principal:big", policy, bytes=5 * 2**40).bandwidth_remaining == 5 * 2**40
    quotas.add_bytes("principal:big", policy, 5 * 2**40)
    assert not QuotaCounter(table, clock=FixedClock(T0)).check("principal:big", policy).allowed


def test_purge_deletes_only_expired_counters(azurite: str) -> None:
    table = TableServiceClient.from_connection_string(azurite).create_table("purgelimits")
    RateLimiter(table, clock=FixedClock(T0)).check("connection:old", LimitPolicy(5, 60))
    quotas = QuotaCounter(table, clock=FixedClock(T0))
    quotas.check("principal:lifetime", QuotaPolicy(5, None, 0))
    quotas.check("principal:hourly", QuotaPolicy(5, None, 3600))

    rate_expiry = window_start(T0, 60) + 120
    assert purge_expired(table, rate_expiry - 1) == 0
    assert purge_expired(table, rate_expiry + 1) == 1
    with pytest.raises(ResourceNotFoundError):
        table.get_entity(table_key("connection:old"), "rate-60")
    assert purge_expired(table, T0 + 10 * 86_400) == 1  # the hourly quota; the lifetime one stays
    assert [e["RowKey"] for e in table.list_entities()] == ["quota-0"]


def test_a_purged_counter_is_recreated(table: TableClient) -> None:
    clock = FixedClock(T0)
    limiter = RateLimiter(table, clock=clock)
    policy = LimitPolicy(2, 60)
    assert limiter.check("connection:purged", policy).allowed
    clock.now += 180
    assert purge_expired(table, clock.now) >= 1
    # The remembered copy points at a deleted entity: the write gets 404, reads, and creates it anew.
    assert [limiter.check("connection:purged", policy).allowed for _ in range(3)] == [True, True, False]


def test_an_unreachable_table_is_a_503() -> None:
    dead = TableClient.from_connection_string(azurite_connection_string(free_port()), "gwlimits", retry_total=0)
    with pytest.raises(Problem) as raised:
        RateLimiter(dead).check("connection:x", LimitPolicy(5, 60))
    assert raised.value.status == 503
    assert "Retry-After" in raised.value.headers


class AlwaysChangedTable:
    """A table on which another writer always gets there first."""

    def __init__(self) -> None:
        self.writes = 0

    def get_entity(self, partition: str, row: str) -> dict:
        entity = type("Entity", (dict,), {})({"WindowStart": 0, "Current": 0, "Previous": 0})
        entity.metadata = {"etag": "old"}
        return entity

    def update_entity(self, entity: dict, **kwargs: object) -> dict:
        self.writes += 1
        raise ResourceModifiedError("precondition failed")


def test_endless_contention_denies_instead_of_admitting() -> None:
    fake = AlwaysChangedTable()
    limiter = RateLimiter(fake, clock=FixedClock(T0), max_attempts=3)  # type: ignore[arg-type]
    with pytest.raises(Problem) as raised:
        limiter.check("connection:busy", LimitPolicy(5, 60))
    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "1"
    assert fake.writes == 3
    assert isinstance(limiter.counters, CounterTable)


# --- a refused call gives back what the earlier limits counted ---


def test_pure_give_back_takes_the_call_from_the_window_it_was_counted_in() -> None:
    start = window_start(T0, 60)
    assert rate_released(WindowCounts(start, 3, 1), start, 60) == WindowCounts(start, 2, 1)
    # The window moved on: the call now sits in the previous window's count.
    assert rate_released(WindowCounts(start + 60, 4, 3), start, 60) == WindowCounts(start + 60, 4, 2)
    assert rate_released(WindowCounts(start + 120, 4, 3), start, 60) is None  # slid out: nothing to give back
    assert rate_released(WindowCounts(start, 0, 0), start, 60) is None
    assert rate_released(None, start, 60) is None
    usage = QuotaUsage(3600, 2, 500)
    assert quota_released(usage, 3600, 200) == QuotaUsage(3600, 1, 300)
    assert quota_released(usage, 0, 200) is None  # renewed since: this period owes nothing
    assert quota_released(QuotaUsage(3600, 1, 10), 3600, 200) == QuotaUsage(3600, 0, 0)


def test_a_call_the_quota_refuses_uses_none_of_the_rate_limits_budget(table: TableClient) -> None:
    clock = FixedClock(window_start(T0, 3600) + 30)
    limiter, quotas = RateLimiter(table, clock=clock), QuotaCounter(table, clock=clock)
    rate, quota = LimitPolicy(3, 60), QuotaPolicy(calls=1, bandwidth_bytes=100, renewal_period_seconds=3600)

    def call(bytes: int = 10) -> None:
        admission = Admission(limiter, quotas)
        admission.rate("connection:giveback", rate, "connection")
        admission.rate("principal:giveback", rate, "principal")
        admission.quota("principal:giveback", quota, "principal", bytes=bytes)

    call()
    for _ in range(5):  # refused by the quota: neither rate limit keeps counting them
        with pytest.raises(Problem) as refused:
            call()
        assert refused.value.status == 403
        assert refused.value.type.endswith("quota-exceeded")
    for key in ("connection:giveback", "principal:giveback"):
        entity = table.get_entity(table_key(key), "rate-60")
        assert (read_int(entity, "Current"), read_int(entity, "Previous")) == (1, 0), key
    assert limiter.check("connection:giveback", rate).remaining == 1  # 2 of 3 used: this call and the first


def test_a_rate_limit_refusal_gives_back_the_earlier_quota(table: TableClient) -> None:
    clock = FixedClock(window_start(T0, 3600) + 30)
    limiter, quotas = RateLimiter(table, clock=clock), QuotaCounter(table, clock=clock)
    quota = QuotaPolicy(calls=10, bandwidth_bytes=1000, renewal_period_seconds=3600)
    admission = Admission(limiter, quotas)
    admission.quota("subscription:first", quota, "subscription", bytes=300)
    assert limiter.check("connection:full", LimitPolicy(1, 60)).allowed
    with pytest.raises(Problem) as refused:
        admission.rate("connection:full", LimitPolicy(1, 60), "connection")
    assert refused.value.status == 429
    entity = table.get_entity(table_key("subscription:first"), "quota-3600")
    assert (read_int(entity, "Calls"), read_int(entity, "Bytes")) == (0, 0)


def test_a_failing_later_limit_gives_back_too_and_a_failed_give_back_is_only_logged(table: TableClient) -> None:
    clock = FixedClock(T0)
    limiter = RateLimiter(table, clock=clock)
    dead = TableClient.from_connection_string(azurite_connection_string(free_port()), "gwlimits", retry_total=0)
    admission = Admission(limiter, QuotaCounter(dead, clock=clock))
    admission.rate("connection:outage", LimitPolicy(5, 60), "connection")
    with pytest.raises(Problem) as outage:
        admission.quota("principal:outage", QuotaPolicy(5, None, 60), "principal")
    assert outage.value.status == 503
    assert read_int(table.get_entity(table_key("connection:outage"), "rate-60"), "Current") == 0


class GiveBackFails:
    """A limiter that admits, then can't give the call back (its store went down in between)."""

    def check(self, key: str, policy: LimitPolicy) -> Decision:
        return Decision(True, 0, None, policy.calls, counted_in=0)

    def release(self, key: str, policy: LimitPolicy, decision: Decision) -> None:
        raise Problem(503, "store-unavailable", "Unavailable", "Table Storage is unavailable.")


def test_a_failed_give_back_is_logged_and_the_refusal_still_raised(table: TableClient, caplog) -> None:
    clock = FixedClock(T0)
    admission = Admission(GiveBackFails(), QuotaCounter(table, clock=clock))  # type: ignore[arg-type]
    admission.rate("connection:flaky", LimitPolicy(5, 60), "connection")
    quota = QuotaPolicy(1, None, 60)
    QuotaCounter(table, clock=clock).check("principal:flaky", quota)
    with pytest.raises(Problem) as refused:
        admission.quota("principal:flaky", quota, "principal")
    assert refused.value.status == 403
    assert "not given back" in caplog.text
