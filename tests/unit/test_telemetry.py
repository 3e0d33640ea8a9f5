"""shared/telemetry: correlation ids, JSON log lines without exception texts, spans and metrics through
an in-memory OpenTelemetry pipeline, and no OpenTelemetry import at all when nothing is exported."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import azure.functions as func
import pytest
import requests
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.http_server import NoDelayHTTPServer
from devtools.stack import azurite_connection_string
from shared import problems, telemetry, web
from shared.proxy import forward
from shared.settings import Settings
from shared.stores.readiness import CACHE_SECONDS, Check, ReadinessProbe
from shared.telemetry import correlation
from shared.telemetry._logs import CorrelationFilter, JsonFormatter, RedactExceptionText
from shared.telemetry._otel import OpenTelemetryRecorder
from shared.telemetry._store_spans import StoreSpanTransport

REPO = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


# -- correlation ids ------------------------------------------------------------------------------


def test_traceparent_wins_and_keeps_the_callers_span_and_sampling() -> None:
    found = correlation.from_headers(
        {"TraceParent": f"00-{TRACE_ID}-00f067aa0ba902b7-00", "x-ms-client-request-id": "other"}
    )
    assert (found.id, found.parent_span_id, found.sampled, found.trace_id) == (
        TRACE_ID,
        "00f067aa0ba902b7",
        False,
        TRACE_ID,
    )


@pytest.mark.parametrize(
    "traceparent",
    [
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-0000000000000000-01",  # all-zero parent
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",  # upper case is invalid
        "garbage",
    ],
)
def test_an_invalid_traceparent_falls_back_to_the_client_request_id(traceparent: str) -> None:
    found = correlation.from_headers({"traceparent": traceparent, "X-MS-Client-Request-Id": "req-42"})
    assert found.id == "req-42" and found.trace_id is None


@pytest.mark.parametrize("request_id", ["", "x" * 129, "has space", "line\nbreak", 'quote"s', "ключ"])
def test_an_unusable_client_request_id_gets_a_minted_id(request_id: str) -> None:
    found = correlation.from_headers({"x-ms-client-request-id": request_id})
    assert found.trace_id == found.id and len(found.id) == 32
    assert found.id != correlation.from_headers({}).id


def test_the_bound_correlation_is_current_only_inside() -> None:
    assert correlation.current_id() is None
    with correlation.bound(correlation.Correlation("abc")):
        assert correlation.current_id() == "abc"
    assert correlation.current_id() is None


# -- JSON log lines -------------------------------------------------------------------------------


def _record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("shared.test", logging.ERROR, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_a_log_line_is_one_json_object_with_the_correlation_id() -> None:
    record = _record("invoke %s\nsecond line", "c1")
    with correlation.bound(correlation.Correlation("corr-1")):
        CorrelationFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "invoke c1\nsecond line"
    assert parsed["correlationId"] == "corr-1" and parsed["level"] == "ERROR" and parsed["logger"] == "shared.test"


def test_exceptions_are_logged_as_type_and_frames_never_their_text() -> None:
    leaked = "https://backend.example/items?api_key=sk-never-log-me"
    try:
        raise ValueError(f"could not reach {leaked}")
    except ValueError:
        record = _record("failed", exc_info=sys.exc_info())
    RedactExceptionText().filter(record)
    line = JsonFormatter().format(record)
    plain = logging.Formatter().format(record)  # a handler without the JSON formatter is covered too

    assert json.loads(line)["exception"]["type"] == "ValueError"
    assert "test_exceptions_are_logged_as_type_and_frames_never_their_text" in line  # frames are kept
    assert "sk-never-log-me" not in line and "sk-never-log-me" not in plain


# -- OpenTelemetry, in memory ---------------------------------------------------------------------


class _Pipeline:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.recorder = OpenTelemetryRecorder(tracer_provider, MeterProvider(metric_readers=[self.metrics]))

    def counters(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = [
                        {**dict(point.attributes or {}), "value": point.value} for point in metric.data.data_points
                    ]
        return found


@pytest.fixture
def pipeline() -> Iterator[_Pipeline]:
    installed = _Pipeline()
    telemetry.use(installed.recorder)
    try:
        yield installed
    finally:
        telemetry.use(telemetry.NoTelemetry())


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = NoDelayHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_backend_call_is_a_client_span_in_the_callers_trace_without_path_or_query(
    pipeline: _Pipeline, echo: str
) -> None:
    with correlation.bound(correlation.from_headers({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})):
        answer = forward(requests.Session(), "GET", f"{echo}/secret-path?api_key=sk-query", {}, None, None, (5, 5))

    assert answer.status == 204
    (span,) = pipeline.spans.get_finished_spans()
    assert span.kind.name == "CLIENT" and format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    attributes = dict(span.attributes or {})
    assert attributes["http.response.status_code"] == 204 and attributes["gateway.call"] == "backend"
    assert attributes["gateway.correlation_id"] == TRACE_ID
    assert not [v for v in attributes.values() if "sk-query" in str(v) or "secret-path" in str(v) or "?" in str(v)]


def test_a_failed_backend_call_records_no_exception_text(pipeline: _Pipeline) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the Problem for an unreachable backend
        forward(requests.Session(), "GET", "http://127.0.0.1:9/x?api_key=sk-query", {}, None, None, (1, 1))
    (span,) = pipeline.spans.get_finished_spans()
    assert span.status.description == "backend-unreachable"
    assert not span.events  # no exception event, which would carry the message


def test_store_requests_are_spans_naming_store_and_table_but_no_keys(pipeline: _Pipeline, echo: str) -> None:
    from azure.core.pipeline.transport import HttpRequest

    transport = StoreSpanTransport.requests(telemetry.TABLES, connection_timeout=5, read_timeout=5)
    request = HttpRequest("GET", f"{echo}/devstoreaccount1/gwconnections(PartitionKey='c-1',RowKey='x')?$select=a")
    with transport:
        assert transport.send(request).status_code == 204

    (span,) = pipeline.spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gateway.store"] == "tables" and attributes["gateway.store.collection"] == "gwconnections"
    assert not [v for v in attributes.values() if "c-1" in str(v) or "select" in str(v)]


def test_counters_by_attribute(pipeline: _Pipeline) -> None:
    telemetry.count(telemetry.INVOCATIONS, status=200, connector="a")
    telemetry.count(telemetry.INVOCATIONS, status=200, connector="a")
    telemetry.count(telemetry.DENIALS, reason="ip-forbidden", status=403)
    telemetry.count(telemetry.REFRESHES, outcome="refreshed")

    counters = pipeline.counters()
    assert counters["gateway.invocations"] == [{"status": 200, "connector": "a", "value": 2}]
    assert counters["gateway.denials"] == [{"reason": "ip-forbidden", "status": 403, "value": 1}]
    assert counters["gateway.token_refreshes"] == [{"outcome": "refreshed", "value": 1}]


# -- no connection string, no OpenTelemetry -------------------------------------------------------


def test_without_a_connection_string_opentelemetry_is_never_imported() -> None:
    program = """
import sys
import function_app
from shared import telemetry
from azure.core.exceptions import AzureError
from shared.stores.clients import StorePolicy, secret_client, table_service
from shared.settings import Settings
settings = Settings.from_env({"KEY_VAULT_URL": "https://127.0.0.1:9/", "KEY_VAULT_EMULATOR": "true",
    "TABLES_CONNECTION_STRING":
    "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/a;"})
telemetry.configure(settings.applicationinsights_connection_string)
once = StorePolicy(retries=0, attempt_timeout=1, deadline=1)
for call in (lambda: secret_client(settings, once).get_secret("x"),
             lambda: list(table_service(settings, once).list_tables())):
    try:
        call()  # a request through the whole SDK pipeline (nothing listens on port 9)
    except AzureError:
        pass
with telemetry.span("x", "client", a=1) as span:
    span.set("b", 2)
telemetry.count(telemetry.INVOCATIONS, status=200)
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor"))))
"""
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


# -- the HTTP edge ---------------------------------------------------------------------------------


def _request(**headers: str) -> func.HttpRequest:
    return func.HttpRequest("GET", "http://127.0.0.1/api/x", headers=headers, body=b"")


def test_an_unexpected_error_is_a_500_problem_with_the_correlation_id_and_frames_only_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "sk-in-" + "exception-text"  # frames quote source lines, never values

    def broken(request: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError(f"GET https://backend.example/?api_key={key} failed")

    caplog.handler.addFilter(CorrelationFilter())  # as install_json_logs does for the root handlers
    with caplog.at_level(logging.ERROR, logger="shared.web"):
        response = web.public_endpoint(broken)(_request(traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01"))

    body = json.loads(response.get_body())
    assert response.status_code == 500 and response.headers["X-Correlation-Id"] == TRACE_ID
    assert body["correlationId"] == TRACE_ID and body["type"].endswith(":internal-error")
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "RuntimeError" in logged and "broken" in logged  # the type and the frames
    assert "sk-in-exception-text" not in logged and "sk-in-exception-text" not in response.get_body().decode()
    assert [json.loads(line)["correlationId"] for line in logged.splitlines()] == [TRACE_ID]


def test_refusals_are_counted_by_reason_and_other_problems_are_not(pipeline: _Pipeline) -> None:
    def refuse(request: func.HttpRequest) -> func.HttpResponse:
        raise problems.forbidden("no")

    def missing(request: func.HttpRequest) -> func.HttpResponse:
        raise problems.not_found("connection", "c1")

    assert web.public_endpoint(refuse)(_request()).status_code == 403
    assert web.public_endpoint(missing)(_request()).status_code == 404
    assert pipeline.counters()["gateway.denials"] == [{"reason": "forbidden", "status": 403, "value": 1}]


# -- readiness ------------------------------------------------------------------------------------


def test_readiness_answers_are_reused_for_a_few_seconds_and_callers_share_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    settings = Settings.from_env(
        {"KEY_VAULT_URL": "https://vault.example/", "TABLES_CONNECTION_STRING": azurite_connection_string(9)}
    )
    probe = ReadinessProbe(settings, clock=lambda: now[0])
    rounds = []
    monkeypatch.setattr(probe, "_run", lambda: rounds.append(now[0]) or [Check("tables", True, 1)])

    first = probe.check()
    now[0] += CACHE_SECONDS - 0.1
    assert probe.check() is first and rounds == [100.0]
    now[0] += 0.2
    probe.check()
    assert len(rounds) == 2
