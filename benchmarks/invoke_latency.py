"""The proxy hot path: latency and throughput of /api/connections/{id}/invoke/... on an apiKey connection.

    .venv/bin/python -m benchmarks.invoke_latency [--calls 2000] [--threads 8] [--calls-per-thread 250]

Starts Azurite, the Key Vault emulator, a test OIDC issuer (callers' bearer tokens), a fast backend
in its own process, and two gateways in the dev host on the same stores, one with the per-connection
rate limit off and one with it on (never hit); registers an apiKey connector and creates one
connection. Then measures, after a warm-up, the backend called directly (the baseline) and through
each gateway: sequential calls on one keep-alive session, the same spread over threads, and (limit
off) sequential POSTs with a 1 KiB body. Prints latencies, the gateways' RSS and CPU per call, and
what they asked of Key Vault, Table Storage and the backend per invocation. Asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from azure.data.tables import TableServiceClient

from benchmarks._common import (
    AUDIENCE,
    MAKER_ROLE,
    TABLES_PREFIX,
    KeyVaultCounter,
    Probe,
    address_of,
    counter_delta,
    cpu_seconds,
    create_connection,
    describe_requests,
    gateway_settings,
    machine_context,
    put_connector,
    rss_mib,
    start_gateways,
    start_stores,
    summarize,
)
from benchmarks._load import PhaseResult, Request, http_request, new_session, sequential, threaded
from devtools.stack import Service, free_port, gateway_environment
from tests.support import connector_files
from tests.support.oidc_issuer import OidcIssuer

CONNECTOR_ID = "bench-echo"
API_KEY = "bench-api-key-value"
WARMUP_CALLS = 50
POST_CALLS = 500
POST_BODY = b'{"pad": "' + b"x" * 1000 + b'"}'  # ~1 KiB of JSON
PHASE_SECONDS = 45.0  # any one phase stops here, whatever its call count
RUN_SECONDS = 150.0  # and every phase stops once the whole run is this old
DELAYED_ACK_MS = 35.0  # a p50 at or above this smells of the 40 ms delayed-ACK + Nagle stall
# Two gateways on the same stores: the per-connection rate limit off, and on but far above this traffic
# (counted across instances in Table Storage, never hit). Label, LIMIT_CONNECTION_CALLS_PER_MINUTE.
GATEWAYS = (("gateway (limit off)", "0"), ("gateway (limit on)", "100000000"))


def api_key_connector(backend_url: str) -> dict:
    definition, properties = connector_files.api_key_connector(address_of(backend_url))
    return {"apiDefinition": definition, "apiProperties": properties}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.invoke_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per target (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent threads (default 8)")
    parser.add_argument("--calls-per-thread", type=int, default=250, help="calls per thread (default 250)")
    return parser.parse_args(argv)


def stall_verdict(name: str, result: PhaseResult) -> str:
    p50 = summarize(result.latencies)["p50"]
    slow = sum(1 for latency in result.latencies if latency * 1000 >= DELAYED_ACK_MS)
    if p50 >= DELAYED_ACK_MS:
        return (
            f"  {name}: p50 {p50:.1f} ms — the 40 ms delayed-ACK stall: some writer on this path sends headers "
            "and body in separate writes (or lacks TCP_NODELAY)"
        )
    return f"  {name}: no delayed-ACK stall (p50 {p50:.2f} ms; {slow}/{result.calls} calls >= {DELAYED_ACK_MS:.0f} ms)"


@dataclass
class GatewayUnderTest:
    label: str
    service: Service
    probe: Probe

    @property
    def pid(self) -> int:
        return self.service.process.pid


@dataclass
class Bench:
    """The running stack and the one connection under test."""

    issuer: OidcIssuer
    backend: Service
    azurite: Service
    keyvault: Service
    gateways: list[GatewayUnderTest]
    caller_token: str
    connection_id: str

    def via(self, gateway: GatewayUnderTest, method: str = "GET", body: bytes | None = None) -> Request:
        url = f"{gateway.service.url}/api/connections/{self.connection_id}/invoke/ping"
        return http_request(new_session({"Authorization": f"Bearer {self.caller_token}"}), method, url, body)

    def direct(self) -> Request:
        return http_request(new_session({"X-Api-Key": API_KEY}), "GET", f"{self.backend.url}/v1/ping")

    def table_point_read(self) -> Request:
        """The read the gateway makes per invocation, made directly with the same SDK, for attribution."""
        service = TableServiceClient.from_connection_string(self.azurite.details["connection_string"])
        table = service.get_table_client(f"{TABLES_PREFIX}connections")

        def request() -> int:
            table.get_entity(self.connection_id, "connection")
            return 200

        return request

    def service_names(self) -> dict[str, str]:
        return {
            address_of(self.azurite.url): "Azurite",
            address_of(self.keyvault.url): "KeyVault",
            address_of(self.backend.url): "backend",
            address_of(self.issuer.base_url): "issuer",
        }


def start_bench(stack: ExitStack) -> Bench:
    issuer, backend, state, azurite, keyvault = start_stores(stack, AUDIENCE, "invoke")
    probes = [Probe(state / f"probe-{index}.json") for index in range(len(GATEWAYS))]

    def env_for(index: int, port: int) -> dict[str, str]:
        limit = {"LIMIT_CONNECTION_CALLS_PER_MINUTE": GATEWAYS[index][1]}
        return gateway_environment(
            azurite, keyvault, port, {**gateway_settings(issuer.issuer, **limit), **probes[index].environment()}
        )

    services = start_gateways(stack, [free_port() for _ in GATEWAYS], env_for, state)
    gateways = [
        GatewayUnderTest(label, service, probe)
        for (label, _), service, probe in zip(GATEWAYS, services, probes, strict=True)
    ]
    maker = issuer.mint({"sub": "maker", "roles": [MAKER_ROLE]})
    put_connector(services[0].url, maker, CONNECTOR_ID, api_key_connector(backend.url))
    caller = issuer.mint({"sub": "alice", "roles": []}, lifetime=900)
    connection = create_connection(services[0].url, caller, CONNECTOR_ID, {"api_key": API_KEY})
    return Bench(issuer, backend, azurite, keyvault, gateways, caller, connection["id"])


@dataclass
class Measured:
    result: PhaseResult
    outgoing: dict[str, int] | None = None  # what the gateway asked of others during the phase (gateway phases)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds used during the phase


@dataclass
class Measurements:
    phases: list[Measured] = field(default_factory=list)
    rss: dict[str, dict[str, float]] = field(default_factory=dict)  # gateway label -> moment -> MiB
    vault_requests: dict[str, int] = field(default_factory=dict)


def measure(bench: Bench, options: argparse.Namespace, run_deadline: float) -> Measurements:
    def deadline() -> float:
        return min(time.monotonic() + PHASE_SECONDS, run_deadline)

    def on_gateway(gateway: GatewayUnderTest, phase: Callable[..., PhaseResult], *arguments: Any) -> None:
        before = gateway.probe.counts(gateway.pid)
        processes = {"gateway": gateway.pid, "Azurite": bench.azurite.process.pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        result = phase(*arguments)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        found.phases.append(Measured(result, counter_delta(before, gateway.probe.counts(gateway.pid)), cpu))
        found.rss[gateway.label][f"after {result.name.split(', ', 1)[1]}"] = rss_mib(gateway.pid)

    found = Measurements(rss={g.label: {"after start": rss_mib(g.pid)} for g in bench.gateways})
    direct, table = bench.direct(), bench.table_point_read()
    sequential("warm-up", direct, WARMUP_CALLS, deadline())
    sequential("warm-up", table, WARMUP_CALLS, deadline())
    for gateway in bench.gateways:
        warmup = sequential("warm-up", bench.via(gateway), WARMUP_CALLS, deadline())
        if warmup.failures:
            raise SystemExit(f"warm-up invocations on {gateway.label} failed: {dict(warmup.statuses)}")
        found.rss[gateway.label]["after warm-up"] = rss_mib(gateway.pid)

    calls, threads, each = options.calls, options.threads, options.calls_per_thread
    found.phases.append(Measured(sequential("direct, sequential", direct, calls, deadline())))
    found.phases.append(Measured(threaded(f"direct, {threads} threads", bench.direct, threads, each, deadline())))
    own_cpu = cpu_seconds(os.getpid())
    table_phase = sequential("Table point read (SDK, direct)", table, min(calls, 500), deadline())
    found.phases.append(Measured(table_phase, cpu={"this process": cpu_seconds(os.getpid()) - own_cpu}))

    vault = KeyVaultCounter(bench.keyvault)
    vault.reset()
    for index, gateway in enumerate(bench.gateways):
        label = gateway.label
        on_gateway(gateway, sequential, f"{label}, sequential", bench.via(gateway), calls, deadline())
        per_thread = functools.partial(bench.via, gateway)
        on_gateway(gateway, threaded, f"{label}, {threads} threads", per_thread, threads, each, deadline())
        if index == 0:
            post = bench.via(gateway, "POST", POST_BODY)
            on_gateway(gateway, sequential, f"{label}, POST 1 KiB sequential", post, POST_CALLS, deadline())
    found.vault_requests = vault.counts()
    return found


def report(bench: Bench, found: Measurements) -> None:
    print()
    for phase in found.phases:
        print(phase.result.line())
    print()
    direct = {phase.result.name.split(", ", 1)[1]: phase.result for phase in found.phases[:2]}
    for phase in found.phases[3:]:
        kind = phase.result.name.split(", ", 1)[1]
        if kind in direct:
            through, baseline = summarize(phase.result.latencies), summarize(direct[kind].latencies)
            print(
                f"overhead of {phase.result.name:30s}: p50 +{through['p50'] - baseline['p50']:6.2f} ms, "
                f"p99 +{through['p99'] - baseline['p99']:6.2f} ms; {phase.result.rate:5.0f}/s vs "
                f"{direct[kind].rate:.0f}/s direct"
            )
    table = found.phases[2]
    print(
        f"the Table point read costs the caller {table.cpu['this process'] * 1000 / table.result.calls:.2f} ms CPU "
        "(azure-data-tables in this process; Azurite's side not included)"
    )
    for label, moments in found.rss.items():
        print(f"{label} RSS (VmRSS): " + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in moments.items()))
    invocations = sum(phase.result.all_calls for phase in found.phases[3:])
    total = sum(found.vault_requests.values())
    print(
        f"Key Vault requests during all {invocations} measured invocations (the emulator's count): {total}"
        + (f" {found.vault_requests}" if found.vault_requests else "")
    )
    print("what the gateway asked of others, per phase (counted inside the gateway by the probe):")
    for phase in found.phases[3:]:
        assert phase.outgoing is not None
        count = phase.result.all_calls
        cpu = ", ".join(f"{name} {seconds * 1000 / count:.2f} ms" for name, seconds in phase.cpu.items())
        print(f"  {phase.result.name} ({count} invocations incl. thread warm-ups; CPU per invocation: {cpu}):")
        for line in describe_requests(phase.outgoing, bench.service_names(), per=count):
            print(f"    {line}")
    print("delayed-ACK check:")
    for phase in found.phases:
        if "sequential" in phase.result.name:
            print(stall_verdict(phase.result.name, phase.result))


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on SIGTERM too
    run_started = time.monotonic()
    print("== invoke latency: caller -> gateway (dev host) -> fast backend, apiKey connection ==")
    print(machine_context(), flush=True)
    with ExitStack() as stack:
        bench = start_bench(stack)
        pids = ", ".join(f"{g.label} {g.pid}" for g in bench.gateways)
        print(f"stack up in {time.monotonic() - run_started:.1f} s (pids: {pids}; LOG_LEVEL=INFO to files)", flush=True)
        found = measure(bench, arguments, run_started + RUN_SECONDS)
        report(bench, found)
        print(f"\ntotal {time.monotonic() - run_started:.1f} s, then the stack stops", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
