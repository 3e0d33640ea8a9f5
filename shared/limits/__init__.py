"""Rate limits and quotas per key, like Azure API Management's rate-limit-by-key and quota-by-key.

    limiter = RateLimiter(limits_table(settings))
    decision = limiter.check(f"connection:{connection_id}", LimitPolicy(calls=500, period_seconds=60))
    raise_if_denied(decision)                # 429 rate-limited, with Retry-After
    response.headers.update(decision_headers(decision))

    quotas = QuotaCounter(limits_table(settings))
    decision = quotas.check(f"subscription:{key_id}", QuotaPolicy(10_000, None, 86_400), bytes=len(body))
    raise_if_denied(decision)                # 403 quota-exceeded, with Retry-After
    quotas.add_bytes(key, policy, len(response_body))   # bandwidth counts the response too

Keys are "<kind>:<id>" (principal, subscription, connection); the caller builds them and
they may hold any characters. Counters live in Table Storage and are shared by every
instance (see _store.py); the arithmetic is in _windows.py. Rate limits are sliding windows
(approximated from two fixed windows), quotas fixed periods aligned to the Unix epoch.
A counter store outage raises Problem 503; a counter too contended to update raises 429.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient

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
    raise_if_denied,
    rate_decision,
    with_added_bytes,
)

__all__ = [
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
            counts = None
            if entity is not None:
                counts = WindowCounts(
                    read_int(entity, "WindowStart"), read_int(entity, "Current"), read_int(entity, "Previous")
                )
            decision, admitted = rate_decision(counts, now, policy, name)
            if admitted is None:
                return decision, None
            return decision, {
                "WindowStart": int64(admitted.window_start),
                "Current": int64(admitted.current),
                "Previous": int64(admitted.previous),
                # Two windows on, both counts have slid out.
                EXPIRES_AT: expires_at(admitted.window_start + 2 * policy.period_seconds),
            }

        return self.counters.update(table_key(key), f"rate-{policy.period_seconds}", decide)


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

    def add_bytes(self, key: str, policy: QuotaPolicy, count: int) -> None:
        """Counts bytes of an admitted call found out later (the response); may go past the limit."""
        if count <= 0:
            return
        now = self.clock()

        def decide(entity: dict[str, Any] | None) -> tuple[None, dict[str, Any]]:
            return None, _usage_properties(with_added_bytes(_usage(entity), now, policy, count), policy)

        self.counters.update(table_key(key), _quota_row(policy), decide)


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
