"""Counts the gateway's outgoing HTTP requests, for the benchmarks (never deployed, never used by tests).

Loaded only when a benchmark puts this folder on the gateway's PYTHONPATH and sets BENCH_PROBE_FILE.
Every urllib3 request (Table Storage, Key Vault, backends, token endpoints all go through it) adds
one to a counter keyed by "METHOD host:port /first/two-segments"; on SIGUSR1 the counts are written
to BENCH_PROBE_FILE as JSON {"seq": n, "counts": {...}}. Cost: a lock and a dict update per request.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from typing import Any


def resource_of(url: str) -> str:
    """The first two path segments, without entity keys or query: `/devstoreaccount1/gwconnections`."""
    path = url.split("?", 1)[0].split("://", 1)[-1]
    if not path.startswith("/"):
        path = "/" + path.split("/", 1)[-1] if "/" in path else "/"
    segments = [segment.split("(", 1)[0] for segment in path.split("/")[1:3]]
    return "/" + "/".join(segments)


def install(target: str) -> None:
    from urllib3.connectionpool import HTTPConnectionPool

    counts: Counter[str] = Counter()
    lock = threading.RLock()  # the dump may interrupt the main thread inside a counted request
    dumps = 0
    original = HTTPConnectionPool.urlopen

    def counting_urlopen(self: HTTPConnectionPool, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            counts[f"{method} {self.host}:{self.port} {resource_of(url)}"] += 1
        return original(self, method, url, *args, **kwargs)

    def dump(_signum: int, _frame: object) -> None:
        nonlocal dumps
        with lock:
            dumps += 1
            snapshot = {"seq": dumps, "counts": dict(counts)}
        partial = f"{target}.partial"
        with open(partial, "w") as file:
            json.dump(snapshot, file)
        os.replace(partial, target)  # readers never see half a file

    HTTPConnectionPool.urlopen = counting_urlopen  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, dump)


if os.environ.get("BENCH_PROBE_FILE"):
    install(os.environ["BENCH_PROBE_FILE"])
