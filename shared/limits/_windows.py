"""Pure arithmetic of rate limits and quotas: windows, decisions, response headers and problems.

Rate limits use the *sliding window counter* approximation (as many gateways do): the
period is cut into fixed windows aligned to the epoch, and the calls of the sliding
window ending now are estimated as

    current-window calls + previous-window calls x (part of the previous window still inside).

A call is admitted while that estimate plus the call fits the limit, so within one fixed
window exactly `calls` are admitted. The estimate assumes the previous window's calls were
spread evenly; a burst at its very end followed by a burst early in the current window can
let up to twice the limit through a true sliding window, the price of keeping one small
counter per key instead of a log of every call.

Quotas count calls and/or bytes per renewal period: fixed periods aligned to multiples of
the period since the Unix epoch (a 86400 s quota renews at 00:00 UTC), or never renewed
when the period is 0 (APIM's lifetime quota). Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from shared.problems import Problem

RATE_LIMIT = "rate-limit"
QUOTA = "quota"


@dataclass(frozen=True)
class LimitPolicy:
    """At most `calls` per sliding window of `period_seconds` (APIM rate-limit-by-key)."""

    calls: int
    period_seconds: int
    name: str | None = None  # shown in RateLimit-Policy; defaults to the key's kind

    def __post_init__(self) -> None:
        if self.calls < 1 or self.period_seconds < 1:
            raise ValueError("a rate limit needs calls >= 1 and period_seconds >= 1")


@dataclass(frozen=True)
class QuotaPolicy:
    """At most `calls` and/or `bandwidth_bytes` per renewal period; period 0 never renews (APIM quota-by-key)."""

    calls: int | None
    bandwidth_bytes: int | None
    renewal_period_seconds: int
    name: str | None = None  # defaults to "<key kind>-quota"

    def __post_init__(self) -> None:
        if self.calls is None and self.bandwidth_bytes is None:
            raise ValueError("a quota needs calls, bandwidth_bytes or both")
        if min(self.calls or 0, self.bandwidth_bytes or 0, self.renewal_period_seconds) < 0:
            raise ValueError("quota limits and the renewal period can't be negative")


@dataclass(frozen=True)
class Decision:
    """Whether one call may go ahead, and what to tell the caller about the limit."""

    allowed: bool
    remaining: int | None  # further calls admitted right now; None when the policy doesn't count calls
    retry_after_seconds: int | None  # when denied: wait this long; None when allowed or the quota never renews
    limit: int | None  # calls per window; None when the policy doesn't count calls
    kind: Literal["rate-limit", "quota"] = RATE_LIMIT
    policy_name: str = "default"
    window_seconds: int = 0  # 0: a lifetime quota
    reset_seconds: int | None = None  # until more becomes available (RateLimit's t); None: never
    bandwidth_limit: int | None = None
    bandwidth_remaining: int | None = None
    # The start of the window (rate limit) or period (quota) the admitted call was counted in, so a call
    # refused later (by another limit) can be given back; None when the call wasn't counted.
    counted_in: int | None = None


def policy_name(key: str, configured: str | None, suffix: str = "") -> str:
    """The configured name, or the key's kind ("connection" of "connection:42") - never the id itself."""
    return configured or key.split(":", 1)[0] + suffix


def window_start(now: float, period_seconds: int) -> int:
    """Start of the fixed window holding `now`: windows are aligned to multiples of the period since the epoch."""
    return math.floor(now / period_seconds) * period_seconds


# --- rate limits: sliding window counter ---


@dataclass(frozen=True)
class WindowCounts:
    window_start: int
    current: int
    previous: int


def roll(counts: WindowCounts | None, now: float, period_seconds: int) -> WindowCounts:
    """The counts as seen from `now`: the current window becomes the previous one as time moves on."""
    start = window_start(now, period_seconds)
    if counts is None:
        return WindowCounts(start, 0, 0)
    if counts.window_start >= start:
        # Same window - or an instance with a clock ahead of ours already moved on; keep its counts.
        return counts
    if counts.window_start == start - period_seconds:
        return WindowCounts(start, 0, counts.current)
    return WindowCounts(start, 0, 0)


def _weighted_used(counts: WindowCounts, elapsed: float, period: int) -> float:
    """Estimated calls in the sliding window, times the period (keeps the arithmetic exact for whole seconds)."""
    return counts.current * period + counts.previous * (period - elapsed)


def _rate_retry_after(counts: WindowCounts, elapsed: float, policy: LimitPolicy) -> int:
    """Seconds until one more call fits, if no other call comes first."""
    period, calls = policy.period_seconds, policy.calls
    if counts.current < calls and counts.previous:
        # Later in this window, once enough of the previous window has slid out.
        fits_at = period - (calls - 1 - counts.current) * period / counts.previous
        wait = fits_at - elapsed
    else:
        # In the next window this window's calls become the previous ones and slide out in turn.
        fits_at = max(0.0, period - (calls - 1) * period / counts.current) if counts.current else 0.0
        wait = period - elapsed + fits_at
    return max(1, math.ceil(wait))


def rate_decision(
    counts: WindowCounts | None, now: float, policy: LimitPolicy, name: str
) -> tuple[Decision, WindowCounts | None]:
    """The decision for one call at `now`, and the counts to store if it is admitted (None: store nothing)."""
    period = policy.period_seconds
    rolled = roll(counts, now, period)
    elapsed = min(max(now - rolled.window_start, 0.0), float(period))
    used = _weighted_used(rolled, elapsed, period)
    base = Decision(
        allowed=True, remaining=0, retry_after_seconds=None, limit=policy.calls, policy_name=name, window_seconds=period
    )
    if used + period <= policy.calls * period:
        remaining = math.floor((policy.calls * period - used - period) / period)
        reset = max(1, math.ceil(period - elapsed))
        admitted = replace(rolled, current=rolled.current + 1)
        return replace(base, remaining=remaining, reset_seconds=reset, counted_in=rolled.window_start), admitted
    retry_after = _rate_retry_after(rolled, elapsed, policy)
    return replace(base, allowed=False, retry_after_seconds=retry_after, reset_seconds=retry_after), None


# --- quotas: fixed renewal periods ---


@dataclass(frozen=True)
class QuotaUsage:
    period_start: int
    calls: int
    bytes: int


def renew(usage: QuotaUsage | None, now: float, period_seconds: int) -> QuotaUsage:
    """The usage as seen from `now`: zero again once a new renewal period has begun."""
    start = window_start(now, period_seconds) if period_seconds else 0
    if usage is None or usage.period_start < start:
        return QuotaUsage(start, 0, 0)
    return usage


def period_end(usage: QuotaUsage, period_seconds: int) -> int | None:
    return usage.period_start + period_seconds if period_seconds else None


def quota_decision(
    usage: QuotaUsage | None, now: float, policy: QuotaPolicy, name: str, request_bytes: int = 0
) -> tuple[Decision, QuotaUsage | None]:
    """Admits a call while a call and `request_bytes` still fit; once the bandwidth is used up, no call fits."""
    period = policy.renewal_period_seconds
    current = renew(usage, now, period)
    calls_fit = policy.calls is None or current.calls + 1 <= policy.calls
    bytes_fit = policy.bandwidth_bytes is None or (
        current.bytes < policy.bandwidth_bytes and current.bytes + request_bytes <= policy.bandwidth_bytes
    )
    allowed = calls_fit and bytes_fit
    after = replace(current, calls=current.calls + 1, bytes=current.bytes + request_bytes) if allowed else current
    end = period_end(current, period)
    reset = None if end is None else max(1, math.ceil(end - now))
    decision = Decision(
        allowed=allowed,
        remaining=None if policy.calls is None else max(0, policy.calls - after.calls),
        retry_after_seconds=None if allowed else reset,
        limit=policy.calls,
        kind=QUOTA,
        policy_name=name,
        window_seconds=period,
        reset_seconds=reset,
        bandwidth_limit=policy.bandwidth_bytes,
        bandwidth_remaining=None if policy.bandwidth_bytes is None else max(0, policy.bandwidth_bytes - after.bytes),
        counted_in=current.period_start if allowed else None,
    )
    return decision, after if allowed else None


def rate_released(counts: WindowCounts | None, counted_in: int, period_seconds: int) -> WindowCounts | None:
    """The counts without one call counted in the window starting at `counted_in`: taken from that window,
    wherever it now is (current, or previous once time moved on). None: nothing to give back any more."""
    if counts is None:
        return None
    if counts.window_start == counted_in and counts.current > 0:
        return replace(counts, current=counts.current - 1)
    if counts.window_start == counted_in + period_seconds and counts.previous > 0:
        return replace(counts, previous=counts.previous - 1)
    return None


def quota_released(usage: QuotaUsage | None, counted_in: int, request_bytes: int) -> QuotaUsage | None:
    """The usage without one call and its request bytes, while its period lasts. None: nothing to give back."""
    if usage is None or usage.period_start != counted_in or usage.calls <= 0:
        return None
    return replace(usage, calls=usage.calls - 1, bytes=max(0, usage.bytes - request_bytes))


def with_added_bytes(usage: QuotaUsage | None, now: float, policy: QuotaPolicy, count: int) -> QuotaUsage:
    """Usage after `count` more bytes (e.g. the response), counted whether or not they fit."""
    current = renew(usage, now, policy.renewal_period_seconds)
    return replace(current, bytes=current.bytes + count)


# --- what callers see ---


def _sf_string(text: str) -> str:
    """An RFC 8941 String: printable ASCII, with " and \\ escaped."""
    printable = "".join(ch for ch in text if " " <= ch <= "~")
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ietf_items(decision: Decision) -> tuple[list[str], list[str]]:
    """RateLimit-Policy and RateLimit items (draft-ietf-httpapi-ratelimit-headers-10) of one decision."""
    window = f";w={decision.window_seconds}" if decision.window_seconds else ""
    reset = f";t={decision.reset_seconds}" if decision.reset_seconds is not None else ""
    policies, limits = [], []
    if decision.limit is not None:
        name = _sf_string(decision.policy_name)
        policies.append(f"{name};q={decision.limit}{window}")
        limits.append(f"{name};r={decision.remaining or 0}{reset}")
    if decision.bandwidth_limit is not None:
        name = _sf_string(decision.policy_name + "-bytes")
        policies.append(f'{name};q={decision.bandwidth_limit};qu="content-bytes"{window}')
        limits.append(f"{name};r={decision.bandwidth_remaining or 0}{reset}")
    return policies, limits


def decision_headers(*decisions: Decision) -> dict[str, str]:
    """Response headers for one or more decisions of the same request.

    RateLimit-Policy and RateLimit list every policy; X-RateLimit-Limit/-Remaining
    describe the tightest rate limit (APIM's remaining-calls header); Retry-After
    is the longest wait of the denied ones.
    """
    policies: list[str] = []
    limits: list[str] = []
    for decision in decisions:
        more_policies, more_limits = _ietf_items(decision)
        policies += more_policies
        limits += more_limits
    headers: dict[str, str] = {}
    rate_limits = [d for d in decisions if d.kind == RATE_LIMIT and d.limit is not None]
    if rate_limits:
        tightest = min(rate_limits, key=lambda d: d.remaining or 0)
        headers["X-RateLimit-Limit"] = str(tightest.limit)
        headers["X-RateLimit-Remaining"] = str(tightest.remaining or 0)
    if policies:
        headers["RateLimit-Policy"] = ", ".join(policies)
        headers["RateLimit"] = ", ".join(limits)
    waits = [d.retry_after_seconds for d in decisions if not d.allowed and d.retry_after_seconds is not None]
    if waits:
        headers["Retry-After"] = str(max(waits))
    return headers


def _quota_amount(decision: Decision) -> str:
    parts = []
    if decision.limit is not None:
        parts.append(f"{decision.limit} calls")
    if decision.bandwidth_limit is not None:
        parts.append(f"{decision.bandwidth_limit} bytes")
    return " and ".join(parts)


def denial_problem(decision: Decision, scope: str | None = None) -> Problem:
    """429 for a rate limit, 403 for a quota (as APIM answers), each saying when to retry."""
    subject = scope or decision.policy_name
    wait = decision.retry_after_seconds
    headers = decision_headers(decision)
    extensions = {"violated_policies": [decision.policy_name], "retry_after_seconds": wait}
    if decision.kind == RATE_LIMIT:
        detail = (
            f"The {subject} rate limit of {decision.limit} calls per {decision.window_seconds} s is reached."
            f" Retry in {wait} s."
        )
        return Problem(429, "rate-limited", "Too many requests", detail, headers=headers, **extensions)
    period = f"per {decision.window_seconds} s" if decision.window_seconds else "in total"
    when = f"It renews in {wait} s; retry then." if wait is not None else "It does not renew."
    detail = f"The {subject} quota of {_quota_amount(decision)} {period} is used up. {when}"
    return Problem(403, "quota-exceeded", "Quota exceeded", detail, headers=headers, **extensions)


def raise_if_denied(decision: Decision, scope: str | None = None) -> None:
    """Raises the denial's Problem; `scope` names what is limited in the message (default: the policy name)."""
    if not decision.allowed:
        raise denial_problem(decision, scope)


def contention_problem() -> Problem:
    """When a counter stayed too contended to update: deny rather than admit uncounted calls."""
    return Problem(
        429,
        "rate-limited",
        "Too many requests",
        "Too many simultaneous calls share this limit. Retry in 1 s.",
        headers={"Retry-After": "1"},
        retry_after_seconds=1,
    )
