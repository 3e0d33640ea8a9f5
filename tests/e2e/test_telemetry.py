"""Telemetry end to end: correlation ids in headers, problems and JSON log lines; the readiness probe;
OpenTelemetry spans and metrics arriving at a loopback Application Insights ingestion stand-in."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from devtools.stack import azurite_connection_string, free_port
from shared.version import VERSION
from tests.e2e.conftest import GatewayFactory, Stack, api_key_connector, host_of, problem
from tests.support.ingestion_standin import QUIET_EXPORTER_ENV, IngestionStandin, is_dependency, is_metric

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
KEY = "telemetry-key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def connection(stack: Stack) -> tuple[requests.Session, str]:
    stack.register("telemetry-echo", *api_key_connector(host_of(stack.backend.url), "header", "X-Api-Key"))
    client = stack.client("tess")
    return client, stack.connect(client, "telemetry-echo", {"api_key": KEY})["id"]


def _json_lines(log: str) -> list[dict]:
    lines = []
    for line in log.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _await_log(stack: Stack, matches: re.Pattern[str], timeout: float = 10) -> str:
    """The log once a line matching `matches` is in it: the dev host writes its access line after answering."""
    deadline = time.monotonic() + timeout
    while True:
        log = stack.gateway_log()
        if matches.search(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def _await_ready(url: str, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{url}/api/health/ready", timeout=15)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


# -- correlation ids ------------------------------------------------------------------------------


def test_the_traceparent_trace_id_is_the_correlation_id_of_header_problem_and_log_lines(
    stack: Stack, connection: tuple[requests.Session, str]
) -> None:
    client, connection_id = connection
    traceparent = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"}

    invoked = client.get(f"{stack.url}/api/connections/{connection_id}/invoke/items", headers=traceparent)
    refused = requests.get(f"{stack.url}/api/connections/{connection_id}", headers=traceparent, timeout=10)

    assert invoked.status_code == 200
    assert invoked.headers["X-Correlation-Id"] == TRACE_ID
    assert refused.headers["X-Correlation-Id"] == TRACE_ID
    assert problem(refused)["correlationId"] == TRACE_ID
    log = _await_log(stack, re.compile(rf'"correlationId": "{TRACE_ID}".*invoke|invoke.*"correlationId": "{TRACE_ID}"'))
    lines = [line for line in _json_lines(log) if line.get("correlationId") == TRACE_ID]
    # The connection's connector declares GET /{s1} (get_1): the line names the operation the call matched.
    assert any(line["message"].startswith(f"invoke {connection_id} GET (get_1) -> 200") for line in lines), lines
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def test_a_client_request_id_is_taken_and_otherwise_one_is_minted(stack: Stack) -> None:
    request_id = f"req-{uuid.uuid4()}"
    given = requests.get(f"{stack.url}/api/connectors", headers={"x-ms-client-request-id": request_id}, timeout=10)
    unusable = requests.get(f"{stack.url}/api/connectors", headers={"x-ms-client-request-id": "x" * 200}, timeout=10)
    first = requests.get(f"{stack.url}/api/connectors", timeout=10)
    second = requests.get(f"{stack.url}/api/connectors", timeout=10)

    assert given.headers["X-Correlation-Id"] == request_id
    assert problem(given)["correlationId"] == request_id
    for minted in (unusable, first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", minted.headers["X-Correlation-Id"])
        assert problem(minted)["correlationId"] == minted.headers["X-Correlation-Id"]
    assert first.headers["X-Correlation-Id"] != second.headers["X-Correlation-Id"]


def test_the_gateway_logs_json_lines_only(stack: Stack, connection: tuple[requests.Session, str]) -> None:
    client, connection_id = connection
    assert client.get(f"{stack.url}/api/connections/{connection_id}/invoke/json").status_code == 200
    log = stack.gateway_log()
    gateway_lines = [line for line in _json_lines(log) if line["logger"].startswith("shared")]
    assert gateway_lines
    # Lines the dev host wrote before the gateway configured logging are its own; none is the gateway's.
    plain = [line for line in log.splitlines() if line and not line.startswith("{")]
    assert not [line for line in plain if " shared." in line], plain


def test_the_dev_host_access_log_has_paths_but_no_query_strings(stack: Stack) -> None:
    marker = uuid.uuid4().hex
    path = f"/api/no-such-route-{marker[:8]}"
    requests.get(f"{stack.url}{path}?subscription-key={marker}&q={marker}", timeout=10)

    log = _await_log(stack, re.compile(re.escape(path)))

    assert path in log
    assert marker not in log


# -- readiness ------------------------------------------------------------------------------------


def test_liveness_is_cheap_and_readiness_reports_the_version_and_both_stores(stack: Stack) -> None:
    before = stack.keyvault_requests()["total"]
    live = requests.get(f"{stack.url}/api/health", timeout=10)
    assert live.status_code == 200 and live.json() == {"status": "healthy"}
    assert stack.keyvault_requests()["total"] == before  # liveness touches no store

    ready = requests.get(f"{stack.url}/api/health/ready", timeout=10)

    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["version"] == VERSION
    assert {name: check["status"] for name, check in body["checks"].items()} == {"tables": "up", "keyVault": "up"}


def test_readiness_is_a_503_problem_while_key_vault_fails(stack: Stack, start_gateway_process: GatewayFactory) -> None:
    url = start_gateway_process({})  # a fresh instance: no readiness answer cached yet
    stack.keyvault_faults(status=503, count=1, path_regex="gateway-readiness-probe")
    try:
        down = requests.get(f"{url}/api/health/ready", timeout=15)
    finally:
        stack.clear_keyvault_faults()

    body = problem(down)
    assert down.status_code == 503 and down.headers["Retry-After"]
    assert body["type"].endswith(":not-ready")
    assert body["checks"]["keyVault"]["status"] == "down"
    assert body["checks"]["tables"]["status"] == "up"
    assert body["version"] == VERSION and body["correlationId"] == down.headers["X-Correlation-Id"]
    assert "Injected fault" not in down.text  # the SDK's message stays out
    # The answer is reused for a few seconds (the probe is anonymous); then the recovered vault shows.
    assert _await_ready(url).status_code == 200


def test_readiness_is_a_503_problem_when_table_storage_is_stopped(start_gateway_process: GatewayFactory) -> None:
    # Nothing listens on this port: the gateway's table store is down, its liveness is not.
    url = start_gateway_process({"TABLES_CONNECTION_STRING": azurite_connection_string(free_port())})

    assert requests.get(f"{url}/api/health", timeout=10).status_code == 200
    down = requests.get(f"{url}/api/health/ready", timeout=15)

    body = problem(down)
    assert down.status_code == 503 and body["type"].endswith(":not-ready")
    assert body["checks"]["tables"]["status"] == "down"
    assert body["checks"]["keyVault"]["status"] == "up"


# -- OpenTelemetry --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ingestion() -> Iterator[IngestionStandin]:
    with IngestionStandin() as standin:
        yield standin


@pytest.fixture(scope="module")
def traced_gateway(start_gateway_process: GatewayFactory, ingestion: IngestionStandin) -> str:
    return start_gateway_process(
        {"APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string, **QUIET_EXPORTER_ENV}
    )


def test_spans_and_metrics_reach_application_insights_without_secrets_or_query_strings(
    stack: Stack, traced_gateway: str, ingestion: IngestionStandin
) -> None:
    query_key = "query-key-" + uuid.uuid4().hex
    query_marker = "query-marker-" + uuid.uuid4().hex
    stack.register("telemetry-query", *api_key_connector(host_of(stack.backend.url), "query", "api_key"))
    client = stack.client("otto")
    connection_id = stack.connect(client, "telemetry-query", {"api_key": query_key})["id"]
    bearer = client.headers["Authorization"].removeprefix("Bearer ")

    invoked = client.get(
        f"{traced_gateway}/api/connections/{connection_id}/invoke/things?q={query_marker}",
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"},
    )
    denied = requests.get(f"{traced_gateway}/api/connections/{connection_id}", timeout=10)

    assert invoked.status_code == 200 and denied.status_code == 401
    assert stack.backend.requests[-1].query.endswith(f"api_key={query_key}")  # the key did go to the backend
    backend = ingestion.wait_for(lambda e: is_dependency(e, **{"gateway.call": "backend"}))
    assert backend["tags"]["ai.operation.id"] == TRACE_ID  # the caller's trace continues
    ingestion.wait_for(lambda e: is_dependency(e, **{"gateway.store": "keyvault"}))
    ingestion.wait_for(
        lambda e: is_dependency(e, **{"gateway.store": "tables", "gateway.store.collection": "e2econnections"})
    )
    ingestion.wait_for(lambda e: is_metric(e, "gateway.invocations", status="200", connector="telemetry-query"))
    ingestion.wait_for(lambda e: is_metric(e, "gateway.denials", reason="unauthenticated", status="401"))

    everything = "\n".join(ingestion.raw_bodies)
    for secret in (query_key, query_marker, bearer):
        assert secret not in everything
    assert "?" not in json.dumps(backend["data"]["baseData"].get("data", ""))
