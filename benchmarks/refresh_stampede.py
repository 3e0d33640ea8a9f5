"""The refresh stampede: 100 concurrent invocations, over 4 gateway processes, on a just-expired OAuth token.

    .venv/bin/python -m benchmarks.refresh_stampede [--rounds 3] [--processes 4] [--threads 25]

Starts Azurite, the Key Vault emulator, a test OIDC issuer (callers), a fast backend, the
oidc-provider test server (access tokens live TOKEN_TTL s, refresh tokens rotate and replay is
punished) and 4 gateways in the dev host sharing the same stores. Registers an OAuth connector,
creates a connection and signs in through the provider. Then, each round: waits until the access
token has expired, zeroes the provider's counters, and releases 4 worker processes x 25 threads
together, each process on its own gateway, each thread making one invocation. Prints the
token-endpoint calls (the goal is exactly 1 per round), statuses, latencies, which gateway called
the token endpoint and how many distinct access tokens reached the backend. Asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from azure.data.tables import TableClient, TableServiceClient

from benchmarks._common import (
    AUDIENCE,
    MAKER_ROLE,
    TABLES_PREFIX,
    Probe,
    address_of,
    counter_delta,
    create_connection,
    describe_requests,
    gateway_settings,
    latency_line,
    machine_context,
    put_connector,
    start_gateways,
    start_stores,
    summarize,
)
from benchmarks._stampede_worker import Outcome, run_worker
from devtools.stack import (
    Service,
    StackError,
    free_port,
    gateway_environment,
)
from tests.support import connector_files
from tests.support.gateway_signin import to_provider
from tests.support.oidc_provider import OidcProvider, sign_in

CONNECTOR_ID = "bench-oauth"
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret-" + uuid.uuid4().hex
TOKEN_TTL = 5  # seconds an access token lives at the provider
REFRESH_MARGIN = 1  # the gateways refresh this long before expiry
EXPIRY_SLACK = 1.2  # tokenExpiresAt is stored to the second: wait this much past it
ROUND_TIMEOUT = 60.0  # a round's workers must report within this
RUN_SECONDS = 170.0  # no new round starts once the run is this old


@dataclass
class Bench:
    gateways: list[Service]
    probes: list[Probe]
    provider: OidcProvider
    connections: TableClient  # the connection records
    connection_id: str
    caller_token: str
    names: dict[str, str]


def oauth_connector(backend_url: str, provider: OidcProvider) -> dict[str, Any]:
    definition, properties = connector_files.oauth_connector(
        address_of(backend_url),
        provider.authorization_endpoint,
        provider.token_endpoint,
        provider.revocation_endpoint,
        CLIENT_ID,
    )
    return {"apiDefinition": definition, "apiProperties": properties, "clientSecret": CLIENT_SECRET}


def start_bench(stack: ExitStack, processes: int, limit_per_minute: int) -> Bench:
    issuer, backend, state, azurite, keyvault = start_stores(stack, AUDIENCE, "stampede")
    first_port = free_port()
    public_url = f"http://localhost:{first_port}"  # the registered redirect URL: the same for every gateway
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{public_url}/api/oauth/callback"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    provider = stack.enter_context(OidcProvider().start([client], access_token_ttl=TOKEN_TTL))
    settings = gateway_settings(
        issuer.issuer,
        GATEWAY_PUBLIC_URL=public_url,
        OAUTH_REFRESH_MARGIN_SECONDS=str(REFRESH_MARGIN),
        OAUTH_REFRESH_BACKOFF_SECONDS="2",
        LIMIT_CONNECTION_CALLS_PER_MINUTE=str(limit_per_minute),
    )
    probes = [Probe(state / f"probe-{index}.json") for index in range(processes)]

    def env_for(index: int, port: int) -> dict[str, str]:
        return gateway_environment(azurite, keyvault, port, {**settings, **probes[index].environment()})

    ports = [first_port] + [free_port() for _ in range(processes - 1)]  # gateway 0 answers the callback
    gateways = start_gateways(stack, ports, env_for, state)
    caller = issuer.mint({"sub": "alice", "roles": []}, lifetime=900)
    maker = issuer.mint({"sub": "maker", "roles": [MAKER_ROLE]})
    put_connector(gateways[0].url, maker, CONNECTOR_ID, oauth_connector(backend.url, provider))
    connection = create_connection(gateways[0].url, caller, CONNECTOR_ID, {})
    browser = requests.Session()  # the browser the sign-in is bound to, from start page to callback
    provider_url = to_provider(browser, connection["loginUrl"])
    callback = sign_in(provider_url, username="alice", issuer=provider.issuer, session=browser)
    landing = browser.get(callback, headers={"Accept": "text/html"}, timeout=30)
    if landing.status_code != 200:
        raise StackError(f"the sign-in callback answered HTTP {landing.status_code}")
    tables = TableServiceClient.from_connection_string(azurite.details["connection_string"])
    names = {
        address_of(azurite.url): "Azurite",
        address_of(keyvault.url): "KeyVault",
        address_of(backend.url): "backend",
        address_of(provider.issuer): "provider",
    }
    return Bench(
        gateways,
        probes,
        provider,
        tables.get_table_client(f"{TABLES_PREFIX}connections"),
        connection["id"],
        caller,
        names,
    )


# ---- a round ---------------------------------------------------------------------------------------------


@dataclass
class Round:
    name: str
    expected_token_calls: int  # 1 after an expiry, 0 in the control round
    expired_for: float  # at least this long (s) the access token had been expired at the release; < 0: still valid
    outcomes: list[Outcome]
    planned: int
    provider_stats: dict[str, Any]
    outgoing_by_gateway: list[dict[str, int]]
    status_after: str
    seconds: float


def warm_up(bench: Bench) -> None:
    """One call per gateway that builds its lazily built parts (a plain read: it never refreshes)."""
    for gateway in bench.gateways:
        response = requests.get(
            f"{gateway.url}/api/connections/{bench.connection_id}",
            headers={"Authorization": f"Bearer {bench.caller_token}"},
            timeout=30,
        )
        if response.status_code != 200:
            raise StackError(f"warming {gateway.url} up failed: HTTP {response.status_code}")


def token_expiry(bench: Bench) -> float:
    """When the connection's access token expires (epoch seconds), from its record."""
    stored = bench.connections.get_entity(bench.connection_id, "connection")["tokenExpiresAt"]
    return datetime.fromisoformat(stored.replace("Z", "+00:00")).timestamp() + 1  # stored truncated to the second


def run_round(bench: Bench, name: str, threads: int, after_expiry: bool = True) -> Round:
    """One release of every worker thread; after the access token expired, or at once (the control round)."""
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(bench.gateways) + 1)  # one party per worker process, plus this one
    results = context.Queue()
    workers = [
        context.Process(
            target=run_worker,
            args=(
                index,
                gateway.url,
                f"{gateway.url}/api/connections/{bench.connection_id}/invoke/stampede",
                bench.caller_token,
                threads,
                barrier,
                results,
            ),
            daemon=True,
        )
        for index, gateway in enumerate(bench.gateways)
    ]
    for worker in workers:
        worker.start()  # they warm up while the token runs out
    try:
        expires = token_expiry(bench)
        if after_expiry:
            time.sleep(max(0.0, min(expires + EXPIRY_SLACK - time.time(), TOKEN_TTL + 3)))
        bench.provider.reset()
        before = [
            probe.counts(gateway.process.pid) for probe, gateway in zip(bench.probes, bench.gateways, strict=True)
        ]
        barrier.wait(timeout=ROUND_TIMEOUT)
        expired_for = time.time() - expires
        outcomes: list[Outcome] = []
        for _ in workers:
            outcomes += [Outcome(**fields) for fields in results.get(timeout=ROUND_TIMEOUT)]
    except BaseException:  # interrupted or timed out: don't wait for the workers' own timeouts
        for worker in workers:
            worker.terminate()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)
    after = [probe.counts(gateway.process.pid) for probe, gateway in zip(bench.probes, bench.gateways, strict=True)]
    status = bench.connections.get_entity(bench.connection_id, "connection")["status"]
    return Round(
        name,
        1 if after_expiry else 0,
        expired_for,
        outcomes,
        len(workers) * threads,
        bench.provider.stats(),
        [counter_delta(b, a) for b, a in zip(before, after, strict=True)],
        status,
        time.monotonic() - started,
    )


def token_endpoint_calls(outgoing: dict[str, int], provider: OidcProvider) -> int:
    """Requests a gateway's probe saw to the provider's token endpoint."""
    address, path = address_of(provider.token_endpoint), "/" + provider.token_endpoint.split("/", 3)[3]
    return sum(count for key, count in outgoing.items() if key.split(" ")[1:] == [address, path])


def report(bench: Bench, result: Round) -> None:
    stats = result.provider_stats
    releases = [outcome.released_at for outcome in result.outcomes]
    spread = (max(releases) - min(releases)) * 1000 if releases else float("nan")
    statuses = Counter(outcome.status for outcome in result.outcomes)
    problems = Counter(outcome.problem for outcome in result.outcomes if outcome.problem)
    tokens = {outcome.credential for outcome in result.outcomes if outcome.credential}
    by_gateway = [token_endpoint_calls(outgoing, bench.provider) for outgoing in result.outgoing_by_gateway]
    expected = result.expected_token_calls
    verdict = "as intended" if stats["token_calls"] == expected else f"NOT {expected}"
    when = (
        f"at least {result.expired_for:.1f} s after the access token expired"
        if result.expired_for >= 0
        else f"the access token still valid for {-result.expired_for - 1:.1f} s or more"
    )
    print(
        f"\n{result.name}: released {len(result.outcomes)}/{result.planned} invocations within {spread:.1f} ms, {when}"
    )
    print(
        f"  token-endpoint calls: {stats['token_calls']} ({verdict}); grants {stats['grants']}, "
        f"errors {stats['token_errors']}"
    )
    print(f"  token-endpoint calls by gateway (probe): {by_gateway}")
    print(f"  statuses: {dict(sorted(statuses.items()))}" + (f"  problems: {dict(problems)}" if problems else ""))
    print(f"  latency, all:     {latency_line(summarize(o.latency for o in result.outcomes))}")
    for index in range(len(bench.gateways)):
        mine = [o.latency for o in result.outcomes if o.process == index]
        print(f"  latency, gateway {index}: {latency_line(summarize(mine))}")
    print(
        f"  distinct access tokens the backend received: {len(tokens)}; connection status after: "
        f"{result.status_after}; round took {result.seconds:.1f} s"
    )
    summed: Counter[str] = Counter()
    for outgoing in result.outgoing_by_gateway:
        summed.update(outgoing)
    print("  the gateways' outgoing requests during the round, all four summed (probe):")
    for line in describe_requests(summed, bench.names):
        print(f"    {line}")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.refresh_stampede", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each after a fresh expiry (default 3)")
    parser.add_argument("--processes", type=int, default=4, help="gateways = worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=25, help="threads (= invocations) per process (default 25)")
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        metavar="N",
        help="LIMIT_CONNECTION_CALLS_PER_MINUTE for the gateways (default 0: off, so the figures are the refresh's; "
        "a limit counts every call on one shared Table entity, and 100 concurrent calls contend for it)",
    )
    parser.add_argument(
        "--cold", action="store_true", help="don't warm the gateways up first: round 1 meets their cold start"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on SIGTERM too
    run_started = time.monotonic()
    total = arguments.processes * arguments.threads
    print(
        f"== refresh stampede: {total} invocations over {arguments.processes} gateway processes, "
        f"access tokens live {TOKEN_TTL} s, refresh margin {REFRESH_MARGIN} s, "
        f"per-connection limit {arguments.limit or 'off'} =="
    )
    print(machine_context(), flush=True)
    with ExitStack() as stack:
        bench = start_bench(stack, arguments.processes, arguments.limit)
        if not arguments.cold:
            warm_up(bench)
        print(
            f"stack up and signed in after {time.monotonic() - run_started:.1f} s "
            f"(gateway pids {[g.process.pid for g in bench.gateways]}; "
            f"{'cold: not warmed up' if arguments.cold else 'each warmed up with one read'})",
            flush=True,
        )
        if not arguments.cold:  # cold gateways take seconds to build: the token would expire during it
            # The same release on a valid token: what 100 concurrent invocations cost here without a refresh.
            report(bench, run_round(bench, "control round (no expiry)", arguments.threads, after_expiry=False))
        for number in range(1, arguments.rounds + 1):
            if time.monotonic() - run_started > RUN_SECONDS:
                print(f"\nstopping before round {number}: the run is over its {RUN_SECONDS:.0f} s bound")
                break
            report(bench, run_round(bench, f"round {number}", arguments.threads))
            sys.stdout.flush()
        print(f"\ntotal {time.monotonic() - run_started:.1f} s, then the stack stops", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
