"""Rate limits and quotas per key, like Azure API Management's rate-limit-by-key and quota-by-key.

    limiter = RateLimiter(limits_table(settings))
    decision = limiter.check(f"connection:{connection_id}", LimitPolicy(calls=500, period_seconds=60))
    raise_if_denied(decision)                # 429 rate-limited, with Retry-After
    response.headers.update(decision_headers(decision))

    quotas = QuotaCounter(limits_table(settings))
    decision = quotas.check(f"subscription:{key_id}", QuotaPolicy(10_000, None, 86_400), bytes=len(body))
    raise_if_denied(decision)                # 403 quota-exceeded, with Retry-After
    quotas.add_bytes(key, policy, len(response_body))   # bandwidth counts the response too

    admission = Admission(limiter, quotas)   # several limits for one call, in order:
    admission.rate(key, policy, "connection")           # raises the denial; what earlier limits
    admission.quota(key, quota, "subscription", bytes=n) # counted for this call is given back first

Keys are "<kind>:<id>" (principal, subscription, connection); the caller builds them and
they may hold any characters. Counters live in Table Storage and are shared by every
instance (see _store.py); the arithmetic is in _windows.py. Rate limits are sliding windows
(approximated from two fixed windows), quotas fixed periods aligned to the Unix epoch.
A counter store outage raises Problem 503; a counter too contended to update raises 429.
A call one limit refuses must not use up another's budget: `Admission` gives back what the
limits before the refusing one counted (best effort: a failed give-back is logged, and the
counter errs towards refusing, never towards admitting more than the limit).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient

from shared.problems import Problem
from shared.settings import Settings
from shared.stores.clients import table_service

from ._store import EXPIRES_AT, CounterTable, expires_at, int64, purge_expired, read_int, table_key
from ._windows import (
    Decision,
    LimitPolicy,
    QuotaPolicy,
    QuotaUsage,
    WindowCounts,
    decision_headers,
    denial_problem,
    policy_name,
    quota_decision,
    quota_released,
    raise_if_denied,
    rate_decision,
    rate_released,
    with_added_bytes,
)

__all__ = [
    "Admission",
    "Decision",
    "LimitPolicy",
    "QuotaCounter",
    "QuotaPolicy",
    "RateLimiter",
    "decision_headers",
    "denial_problem",
    "limits_table",
    "purge_expired",
    "raise_if_denied",
    "table_key",
]

Clock = Callable[[], float]
log = logging.getLogger(__name__)


def limits_table(settings: Settings) -> TableClient:
    """The shared counters' table, created on first use."""
    client = table_service(settings).get_table_client(f"{settings.tables_prefix}limits")
    with contextlib.suppress(ResourceExistsError):
        client.create_table()
    return client


class RateLimiter:
    """Sliding-window rate limits per key, counted across all instances."""

    def __init__(self, table: TableClient, clock: Clock = time.time, *, max_attempts: int = 40) -> None:
        self.counters = CounterTable(table, max_attempts=max_attempts)
        self.clock = clock

    def check(self, key: str, policy: LimitPolicy) -> Decision:
        """Counts the call if it fits; denied calls are not counted."""
        now = self.clock()
        name = policy_name(key, policy.name)

        def decide(entity: dict[str, Any] | None) -> tuple[Decision, dict[str, Any] | None]:
            decision, admitted = rate_decision(_window_counts(entity), now, policy, name)
            if admitted is None:
                return decision, None
            return decision, _window_properties(admitted, policy.period_seconds)

        return self.counters.update(table_key(key), f"rate-{policy.period_seconds}", decide)

    def release(self, key: str, policy: LimitPolicy, decision: Decision) -> None:
        """Gives back the call `decision` admitted (another limit refused it); a no-op once its window slid out."""
        counted_in = decision.counted_in
        if counted_in is None:
            return
        period = policy.period_seconds

        def decide(entity: dict[str, Any] | None) -> tuple[None, dict[str, Any] | None]:
            released = rate_released(_window_counts(entity), counted_in, period)
            if released is None:
                return None, None
            return None, _window_properties(released, period)

        self.counters.update(table_key(key), f"rate-{period}", decide)


class QuotaCounter:
    """Calls and/or bytes per renewal period per key, counted across all instances."""

    def __init__(self, table: TableClient, clock: Clock = time.time, *, max_attempts: int = 40) -> None:
        self.counters = CounterTable(table, max_attempts=max_attempts)
        self.clock = clock

    def check(self, key: str, policy: QuotaPolicy, bytes: int = 0) -> Decision:
        """Counts one call and `bytes` (e.g. the request body) if they fit; denied calls are not counted."""
        if bytes < 0:
            raise ValueError("bytes can't be negative")
        now = self.clock()
        name = policy_name(key, policy.name, "-quota")

        def decide(entity: dict[str, Any] | None) -> tuple[Decision, dict[str, Any] | None]:
            decision, after = quota_decision(_usage(entity), now, policy, name, bytes)
            return decision, None if after is None else _usage_properties(after, policy)

        return self.counters.update(table_key(key), _quota_row(policy), decide)

    def release(self, key: str, policy: QuotaPolicy, decision: Decision, bytes: int = 0) -> None:
        """Gives back the call (and its `bytes`) `decision` admitted; a no-op once its period renewed."""
        counted_in = decision.counted_in
        if counted_in is None:
            return

        def decide(entity: dict[str, Any] | None) -> tuple[None, dict[str, Any] | None]:
            released = quota_released(_usage(entity), counted_in, bytes)
            return None, None if released is None else _usage_properties(released, policy)

        self.counters.update(table_key(key), _quota_row(policy), decide)

    def add_bytes(self, key: str, policy: QuotaPolicy, count: int) -> None:
        """Counts bytes of an admitted call found out later (the response); may go past the limit."""
        if count <= 0:
            return
        now = self.clock()

        def decide(entity: dict[str, Any] | None) -> tuple[None, dict[str, Any]]:
            return None, _usage_properties(with_added_bytes(_usage(entity), now, policy, count), policy)

        self.counters.update(table_key(key), _quota_row(policy), decide)


class Admission:
    """The limits of one call, counted in order. When one refuses (a denial, an outage, contention), what
    the limits before it counted for this call is given back before the refusal is raised, so a refused
    call consumes no limit's budget. `decisions` holds the admitted ones, for the response headers."""

    def __init__(self, rate_limiter: RateLimiter, quotas: QuotaCounter) -> None:
        self._rate_limiter = rate_limiter
        self._quotas = quotas
        self.decisions: list[Decision] = []
        self._give_back: list[Callable[[], None]] = []

    def rate(self, key: str, policy: LimitPolicy, scope: str) -> Decision:
        decision = self._count(lambda: self._rate_limiter.check(key, policy), scope)
        self._give_back.append(lambda: self._rate_limiter.release(key, policy, decision))
        return decision

    def quota(self, key: str, policy: QuotaPolicy, scope: str, bytes: int = 0) -> Decision:
        decision = self._count(lambda: self._quotas.check(key, policy, bytes=bytes), scope)
        self._give_back.append(lambda: self._quotas.release(key, policy, decision, bytes))
        return decision

    def _count(self, check: Callable[[], Decision], scope: str) -> Decision:
        try:
            decision = check()
        except Problem:
            self.release()
            raise
        if not decision.allowed:
            self.release()
            problem = denial_problem(decision, scope)
            problem.headers = decision_headers(*self.decisions, decision)
            raise problem
        self.decisions.append(decision)
        return decision

    def release(self) -> None:
        """Gives back every call counted so far (newest first). Best effort: a failure is logged."""
        while self._give_back:
            give_back = self._give_back.pop()
            try:
                give_back()
            except Problem as problem:
                log.warning("a refused call's limit count was not given back (%s)", problem.detail)


def _window_counts(entity: dict[str, Any] | None) -> WindowCounts | None:
    if entity is None:
        return None
    return WindowCounts(read_int(entity, "WindowStart"), read_int(entity, "Current"), read_int(entity, "Previous"))


def _window_properties(counts: WindowCounts, period_seconds: int) -> dict[str, Any]:
    return {
        "WindowStart": int64(counts.window_start),
        "Current": int64(counts.current),
        "Previous": int64(counts.previous),
        # Two windows on, both counts have slid out.
        EXPIRES_AT: expires_at(counts.window_start + 2 * period_seconds),
    }


def _quota_row(policy: QuotaPolicy) -> str:
    return f"quota-{policy.renewal_period_seconds}"


def _usage(entity: dict[str, Any] | None) -> QuotaUsage | None:
    if entity is None:
        return None
    return QuotaUsage(read_int(entity, "PeriodStart"), read_int(entity, "Calls"), read_int(entity, "Bytes"))


def _usage_properties(usage: QuotaUsage, policy: QuotaPolicy) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "PeriodStart": int64(usage.period_start),
        "Calls": int64(usage.calls),
        "Bytes": int64(usage.bytes),
    }
    if policy.renewal_period_seconds:  # a lifetime quota never expires
        properties[EXPIRES_AT] = expires_at(usage.period_start + policy.renewal_period_seconds)
    return properties
