"""Two gateway processes share rate-limit and quota counters through one Azurite: exact totals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableServiceClient

from devtools.stack import REPO
from tests.support.azurite import azurite_tables

TABLE = "sharedlimits"
NOW = 1_700_000_010.0  # fixed, so every check of every process falls into one window


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as connection_string:
        TableServiceClient.from_connection_string(connection_string).create_table(TABLE)
        yield connection_string


def run_workers(azurite: str, kind: str, key: str, calls: int, processes: int, threads: int, checks: int) -> list[dict]:
    command = [sys.executable, "-m", "tests.support.limits_worker", "--kind", kind, "--table", TABLE]
    command += ["--key", key, "--calls", str(calls), "--now", str(NOW)]
    command += ["--threads", str(threads), "--checks", str(checks)]
    env = {**os.environ, "TABLES_CONNECTION_STRING": azurite}
    workers = [
        subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # all at once, so that the processes contend
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            output, _ = worker.communicate(timeout=120)
            assert worker.returncode == 0
            results.append(json.loads(output))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.mark.parametrize("kind", ["rate", "quota"])
def test_two_processes_admit_exactly_the_limit_between_them(azurite: str, kind: str) -> None:
    calls, processes, threads, checks = 120, 2, 3, 40  # 240 checks for 120 calls
    key = f"connection:shared/{kind}/{uuid.uuid4().hex}"  # a counter of this test's own
    results = run_workers(azurite, kind, key, calls, processes, threads, checks)

    assert [r["contended"] for r in results] == [0] * processes
    assert [r["admitted"] + r["denied"] for r in results] == [threads * checks] * processes
    # Each process alone makes 120 checks, enough to admit all 120 calls from a counter of its own; exactly 120
    # admitted in all is therefore one counter shared by both, however the scheduler split the calls between
    # them (on a loaded machine one process may run all its checks first, so neither share is asserted).
    assert threads * checks >= calls
    assert sum(r["admitted"] for r in results) == calls
    for r in results:
        rate = (r["admitted"] + r["denied"]) / r["seconds"]
        print(f"{kind}: {r['admitted']} admitted, {r['conflicts']} conflicts, {rate:.0f} checks/s")


def test_processes_on_different_keys_do_not_share(azurite: str) -> None:
    alice, bob = (f"principal:{name}-{uuid.uuid4().hex}" for name in ("alice", "bob"))
    first = run_workers(azurite, "rate", alice, 30, 1, 1, 40)
    second = run_workers(azurite, "rate", bob, 30, 1, 1, 40)
    assert first[0]["admitted"] == 30
    assert second[0]["admitted"] == 30
