"""One worker process of the refresh stampede: threads that each make one invocation, released together.

Kept apart from refresh_stampede so the worker's code is small and has no stack to start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests

BARRIER_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Outcome:
    process: int
    status: int  # 0: no HTTP answer at all
    latency: float  # seconds from this thread's release to the whole response
    released_at: float  # wall clock (time.time) at release, comparable across processes
    credential: str  # the backend's tag of the access token it received ("" unless 200)
    problem: str  # the problem type on failure ("" on success)


def outcome_of(process: int, response: requests.Response | None, latency: float, released_at: float) -> Outcome:
    if response is None:
        return Outcome(process, 0, latency, released_at, "", "no answer")
    if response.status_code == 200:
        return Outcome(process, 200, latency, released_at, response.json().get("credential", ""), "")
    try:
        problem = str(response.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        problem = response.text[:80]
    return Outcome(process, response.status_code, latency, released_at, "", problem)


def run_worker(
    process: int, gateway_url: str, invoke_url: str, caller_token: str, threads: int, barrier: Any, results: Any
) -> None:
    """Target of a multiprocessing.Process: puts a list of Outcome dicts on `results`.

    Two-level release: the threads get ready (keep-alive connection up), this process's main thread
    then meets the other processes at `barrier` (one party per process, plus the parent), and wakes
    its threads with one Event. A 101-party multiprocessing.Barrier would wake its waiters one
    handshake at a time, spreading the release over ~200 ms on two cores.
    """
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)
    go = threading.Event()

    def one_call() -> None:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {caller_token}"
        try:
            session.get(f"{gateway_url}/api/health", timeout=10)  # the keep-alive connection is up before the go
        finally:
            ready.wait(timeout=BARRIER_TIMEOUT)
        go.wait(timeout=BARRIER_TIMEOUT)
        released_at, started = time.time(), time.perf_counter()
        try:
            response: requests.Response | None = session.get(invoke_url, timeout=CALL_TIMEOUT)
        except requests.RequestException:
            response = None
        outcome = outcome_of(process, response, time.perf_counter() - started, released_at)
        with lock:
            outcomes.append(outcome)
        session.close()

    workers = [threading.Thread(target=one_call, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        ready.wait(timeout=BARRIER_TIMEOUT)
        barrier.wait(timeout=BARRIER_TIMEOUT)
    finally:
        go.set()  # released, or given up: either way no thread waits on
    for worker in workers:
        worker.join(timeout=CALL_TIMEOUT + 10)
    results.put([asdict(outcome) for outcome in outcomes])
