"""What both benchmarks share: machine context, latency summaries, the stack's processes and their counters."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import requests

from devtools.stack import REPO, Service, StackError, start_azurite, start_gateway, start_keyvault
from tests.support.oidc_issuer import OidcIssuer

PROBE_DIR = Path(__file__).resolve().parent / "_probe"
MAKER_ROLE = "Connectors.Manage"
AUDIENCE = "api://connector-gateway-benchmarks"
TABLES_PREFIX = "bench"


# ---- pure helpers ------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(latencies_s: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    ordered = sorted(latency * 1000 for latency in latencies_s)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 0.50),
        "p90": percentile(ordered, 0.90),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else float("nan"),
    }


def latency_line(summary: Mapping[str, float]) -> str:
    return (
        f"p50 {summary['p50']:7.2f} ms   p90 {summary['p90']:7.2f} ms   "
        f"p99 {summary['p99']:7.2f} ms   max {summary['max']:7.2f} ms"
    )


def counter_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What was counted between two snapshots, zero entries dropped."""
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in set(before) | set(after)}
    return {key: value for key, value in sorted(delta.items()) if value}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_context() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores ({usable} usable), {cpu_model()}\n"
        f"python:  {platform.python_implementation()} {platform.python_version()} on {platform.platform()}\n"
        f"load:    {load} (1/5/15 min, before the run)"
    )


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


# ---- processes ---------------------------------------------------------------------------------------


def start_fast_backend(stack: ExitStack) -> Service:
    """benchmarks._fast_backend in its own process; stopped when `stack` closes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._fast_backend"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    service = Service("fast backend", process, "")
    stack.callback(service.stop)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise StackError(f"the fast backend exited with code {process.wait(timeout=5)}")
    service.url = json.loads(line)["url"]
    return service


class Probe:
    """Reads the counting probe loaded into a gateway process (see _probe/sitecustomize.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path  # where the gateway writes its counts; one file per gateway
        self._seq = 0

    def environment(self) -> dict[str, str]:
        """Extra gateway environment that loads the probe."""
        path = os.pathsep.join(filter(None, [str(PROBE_DIR), os.environ.get("PYTHONPATH", "")]))
        return {"PYTHONPATH": path, "BENCH_PROBE_FILE": str(self.path)}

    def counts(self, pid: int, timeout: float = 5.0) -> dict[str, int]:
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                snapshot = json.loads(self.path.read_text())
            except (OSError, ValueError):
                snapshot = {"seq": 0}
            if snapshot["seq"] > self._seq:
                self._seq = snapshot["seq"]
                return dict(snapshot["counts"])
            time.sleep(0.01)
        raise StackError("the gateway's request probe did not answer (is PYTHONPATH passed through?)")


def start_gateways(
    stack: ExitStack, ports: list[int], env_for: Callable[[int, int], Mapping[str, str]], log_dir: Path
) -> list[Service]:
    """A dev host per port, started in parallel; env_for(i, port) gives gateway i's environment."""
    count = len(ports)

    def start(index: int) -> Service:
        log = stack.enter_context(open(log_dir / f"gateway-{index}.log", "w"))  # noqa: SIM115 - the stack closes it
        return start_gateway(env_for(index, ports[index]), ports[index], log=log)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
    gateways = []
    for future in futures:  # register every started one for cleanup before raising any failure
        if future.exception() is None:
            gateways.append(future.result())
            stack.callback(gateways[-1].stop)
    if len(gateways) < count:
        raise StackError(f"only {len(gateways)} of {count} gateways started: {[f.exception() for f in futures]}")
    return gateways


def describe_requests(counts: Mapping[str, int], names: Mapping[str, str], per: int = 0) -> list[str]:
    """Probe counts as lines, host:port replaced by a service name where known; `per` adds count/per."""
    lines = []
    for key, count in sorted(counts.items(), key=lambda item: -item[1]):
        method, address, resource = key.split(" ", 2)
        ratio = f"   [{count / per:.3f} per invocation]" if per else ""
        lines.append(f"{count:8d}  {method:6s} {names.get(address, address)} {resource}{ratio}")
    return lines


def address_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def temp_dir(stack: ExitStack, prefix: str) -> Path:
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))


# ---- the gateway's API ---------------------------------------------------------------------------------


@dataclass
class KeyVaultCounter:
    """The Key Vault emulator's request counters (GET/DELETE /_emulator/requests)."""

    keyvault: Service

    def _call(self, method: str) -> Any:
        response = requests.request(
            method, f"{self.keyvault.url}_emulator/requests", verify=self.keyvault.details["ca_bundle"], timeout=5
        )
        response.raise_for_status()
        return response.json() if response.content else {}

    def reset(self) -> None:
        self._call("DELETE")

    def counts(self) -> dict[str, int]:
        """Requests by route since the last reset; their sum is the total."""
        return {str(route): int(count) for route, count in self._call("GET")["by_route"].items()}


def gateway_settings(issuer: str, **extra: str) -> dict[str, str]:
    """Gateway environment shared by the benchmarks: test issuer for callers, own table prefix."""
    return {
        "AUTH_OIDC_ISSUERS": issuer,
        "AUTH_OIDC_AUDIENCES": AUDIENCE,
        "AUTH_MAKER_ROLE": MAKER_ROLE,
        "TABLES_PREFIX": TABLES_PREFIX,
        "LOG_LEVEL": "INFO",
        **extra,
    }


def put_connector(gateway_url: str, maker_token: str, connector_id: str, body: dict[str, Any]) -> None:
    response = requests.put(
        f"{gateway_url}/api/connectors/{connector_id}",
        json=body,
        headers={"Authorization": f"Bearer {maker_token}"},
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise StackError(f"registering {connector_id} failed: HTTP {response.status_code} {response.text[:300]}")


def create_connection(gateway_url: str, token: str, connector_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        f"{gateway_url}/api/connectors/{connector_id}/connections",
        json={"displayName": f"{connector_id} benchmark", "parameters": parameters},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise StackError(f"creating a connection failed: HTTP {response.status_code} {response.text[:300]}")
    result: dict[str, Any] = response.json()
    return result


class Stores(NamedTuple):
    """What every benchmark starts first: a caller-token issuer, a fast backend, Azurite and the Key Vault emulator."""

    issuer: OidcIssuer
    backend: Service
    state: Path
    azurite: Service
    keyvault: Service


def start_stores(stack: ExitStack, audience: str, name: str) -> Stores:
    issuer = stack.enter_context(OidcIssuer(audience=audience))
    backend = start_fast_backend(stack)
    state = temp_dir(stack, f"bench-{name}-")
    azurite = start_azurite()
    stack.callback(azurite.stop)
    keyvault = start_keyvault(state / "keyvault")
    stack.callback(keyvault.stop)
    return Stores(issuer, backend, state, azurite, keyvault)
