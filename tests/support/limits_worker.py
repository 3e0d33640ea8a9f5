"""One stand-in gateway instance for the shared-limits tests: checks one key many times, prints the tally.

    python -m tests.support.limits_worker --kind rate --key K --calls 100 --period 60 --now 1e6 --checks 80

TABLES_CONNECTION_STRING names the Azurite to use. The worker prints "ready", waits for a
line on stdin so that all workers start together, then prints one JSON line of results.
The clock is fixed (--now) so that every check falls into the same window.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from azure.data.tables import TableClient

from shared.limits import LimitPolicy, QuotaCounter, QuotaPolicy, RateLimiter
from shared.problems import Problem


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["rate", "quota"], required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--period", type=int, default=60)
    parser.add_argument("--now", type=float, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checks", type=int, required=True, help="checks per thread")
    # On a loaded machine one process can lose many ETag races in a row while the other runs; these tests are
    # about exact totals, so a check retries until it lands (the bound on attempts is tested in test_limits.py).
    parser.add_argument("--max-attempts", type=int, default=10_000)
    args = parser.parse_args()

    table = TableClient.from_connection_string(os.environ["TABLES_CONNECTION_STRING"], args.table)
    if args.kind == "rate":
        limiter = RateLimiter(table, clock=lambda: args.now, max_attempts=args.max_attempts)
        rate_policy = LimitPolicy(args.calls, args.period)

        def check() -> bool:
            return limiter.check(args.key, rate_policy).allowed

        counters = limiter.counters
    else:
        quotas = QuotaCounter(table, clock=lambda: args.now, max_attempts=args.max_attempts)
        quota_policy = QuotaPolicy(args.calls, None, args.period)

        def check() -> bool:
            return quotas.check(args.key, quota_policy).allowed

        counters = quotas.counters

    tally = {"admitted": 0, "denied": 0, "contended": 0}
    lock = threading.Lock()

    def run() -> None:
        for _ in range(args.checks):
            try:
                outcome = "admitted" if check() else "denied"
            except Problem:
                outcome = "contended"
            with lock:
                tally[outcome] += 1

    threads = [threading.Thread(target=run) for _ in range(args.threads)]
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    print(json.dumps({**tally, "conflicts": counters.conflicts, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
