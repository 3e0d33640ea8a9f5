"""Bounded load: calls in a row, or from threads released together. Each call is a `Request`: a
zero-argument callable that makes one call and returns its status (an HTTP status, or 200 for success)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import requests

from benchmarks._common import latency_line, summarize

Request = Callable[[], int]
WARMUP_PER_THREAD = 5


@dataclass
class PhaseResult:
    name: str
    planned: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    unmeasured_calls: int = 0  # warm-up calls made inside the phase (threads warm their own sessions)

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def all_calls(self) -> int:
        return self.calls + self.unmeasured_calls

    @property
    def rate(self) -> float:
        return self.calls / self.wall_seconds if self.wall_seconds else float("nan")

    @property
    def failures(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    def line(self) -> str:
        cut = "" if self.calls == self.planned else f"  (stopped at the time bound: {self.calls}/{self.planned})"
        failed = f"  non-2xx: {dict(self.statuses)}" if self.failures else ""
        latencies = latency_line(summarize(self.latencies))
        return f"{self.name:44s} {self.calls:5d} calls {self.rate:7.1f}/s   {latencies}{cut}{failed}"


def new_session(headers: Mapping[str, str]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: never an environment proxy
    session.headers.update(headers)
    return session


def http_request(session: requests.Session, method: str, url: str, body: bytes | None = None) -> Request:
    def request() -> int:
        try:
            response = session.request(method, url, data=body, timeout=30)
            response.content  # noqa: B018 - reading the whole body is part of the call
        except requests.RequestException:
            return 0  # no HTTP answer: counted as a failure, not a crash of the load
        return response.status_code

    return request


def _timed(request: Request, calls: int, deadline: float, result: PhaseResult) -> None:
    for _ in range(calls):
        if time.monotonic() > deadline:
            return
        started = time.perf_counter()
        status = request()
        result.latencies.append(time.perf_counter() - started)
        result.statuses[status] += 1


def sequential(name: str, request: Request, calls: int, deadline: float) -> PhaseResult:
    result = PhaseResult(name, calls)
    started = time.perf_counter()
    _timed(request, calls, deadline, result)
    result.wall_seconds = time.perf_counter() - started
    return result


def threaded(
    name: str, make_request: Callable[[], Request], threads: int, calls_each: int, deadline: float
) -> PhaseResult:
    """`threads` threads, each with its own request (own keep-alive session), warmed up, released together."""
    result = PhaseResult(name, threads * calls_each, unmeasured_calls=threads * WARMUP_PER_THREAD)
    lock = threading.Lock()
    gate = threading.Barrier(threads + 1)

    def worker() -> None:
        request = make_request()
        for _ in range(WARMUP_PER_THREAD):
            request()
        gate.wait(timeout=60)
        mine = PhaseResult(name, calls_each)
        _timed(request, calls_each, deadline, mine)
        with lock:
            result.latencies.extend(mine.latencies)
            result.statuses.update(mine.statuses)

    workers = [threading.Thread(target=worker, name=f"load-{i}", daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    gate.wait(timeout=60)
    started = time.perf_counter()
    for thread in workers:
        thread.join(timeout=max(1.0, deadline - time.monotonic() + 30))
    result.wall_seconds = time.perf_counter() - started
    return result
