"""The OpenTelemetry side, exporting to Application Insights through azure-monitor-opentelemetry.

Imported only when APPLICATIONINSIGHTS_CONNECTION_STRING is set. The distro's automatic
instrumentations are all off: they would record full URLs (query strings with keys in them) of
backend, token-endpoint and store calls. The gateway makes its own spans instead, with attributes it
chooses: method, host, port, status, ids; never a path, a query or a header.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from shared import problems
from shared.telemetry._correlation import current, current_id
from shared.telemetry._logs import add_filters
from shared.telemetry._recorder import Attributes, AttributeValue, Metric

SERVICE_NAME = "connector-gateway"
LOGGER_NAME = "shared"  # the gateway's own loggers; the SDKs' log request URLs
# Every instrumentation the distro knows, off (see the module docstring).
DISTRO_INSTRUMENTATIONS = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "httpx2",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)
_KINDS = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}


class _OtelSpan:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, name: str, value: AttributeValue) -> None:
        self._span.set_attribute(name, value)


class OpenTelemetryRecorder:
    """Spans and metrics through the given (or the global) OpenTelemetry providers."""

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, meter_provider: metrics.MeterProvider | None = None
    ) -> None:
        self._tracer = trace.get_tracer(SERVICE_NAME, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SERVICE_NAME, meter_provider=meter_provider)
        self._counters = {}
        self._meter = meter

    @contextmanager
    def span(self, name: str, kind: str, attributes: Attributes) -> Iterator[_OtelSpan]:
        # No exception events nor automatic status text: an exception's message may quote a URL with a key.
        with self._tracer.start_as_current_span(
            name,
            context=_request_parent(),
            kind=_KINDS[kind],
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            correlation_id = current_id()
            if correlation_id:
                span.set_attribute("gateway.correlation_id", correlation_id)
            try:
                yield _OtelSpan(span)
            except problems.Problem as problem:
                span.set_status(Status(StatusCode.ERROR, problem.slug))
                raise
            except BaseException as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise

    def count(self, metric: Metric, attributes: Attributes) -> None:
        counter = self._counters.get(metric.name)
        if counter is None:
            counter = self._counters[metric.name] = self._meter.create_counter(
                metric.name, unit=metric.unit, description=metric.description
            )
        counter.add(1, dict(attributes))


def _request_parent() -> context.Context | None:
    """Outside any span, the request's correlation: its trace id becomes the span's, so a caller's
    traceparent continues (and a minted id is the trace id). None: the current context as it is."""
    if trace.get_current_span().get_span_context().is_valid:
        return None
    correlation = current()
    trace_id = correlation.trace_id if correlation else None
    if correlation is None or trace_id is None:  # a caller's own request id stays an attribute only
        return None
    # Without the caller's span, one fixed parent id per request, derived from the trace id.
    parent_span_id = correlation.parent_span_id or trace_id[16:]
    parent = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(parent_span_id, 16) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if correlation.sampled else TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def start_azure_monitor(connection_string: str, credential: Any = None) -> OpenTelemetryRecorder:
    """Configure the Azure Monitor distro once for this process and return the recorder that uses it."""
    # The distro's default detectors include azure_vm, which asks the instance metadata service at
    # startup; a Function App is described by the App Service detector alone.
    os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_app_service")
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry.sdk.resources import Resource

    configure_azure_monitor(
        connection_string=connection_string,
        credential=credential,
        logger_name=LOGGER_NAME,
        resource=Resource.create({"service.name": SERVICE_NAME}),
        instrumentation_options={name: {"enabled": False} for name in DISTRO_INSTRUMENTATIONS},
        enable_live_metrics=False,
    )
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        add_filters(handler)
    return OpenTelemetryRecorder()
