"""Telemetry: structured JSON logs with correlation ids, and OpenTelemetry spans and metrics.

The rest of the gateway calls `span(...)`, `count(...)` and `correlation.*`; whether anything is
exported is decided once per process by `configure`: with an Application Insights connection string,
through azure-monitor-opentelemetry; without one, nothing is exported and OpenTelemetry isn't imported.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.telemetry import _correlation as correlation
from shared.telemetry._logs import JsonFormatter, install_json_logs
from shared.telemetry._recorder import (
    DENIALS,
    INVOCATIONS,
    METRICS,
    REFRESHES,
    Metric,
    NoTelemetry,
    count,
    recorder,
    span,
    use,
)
from shared.telemetry._store_spans import KEY_VAULT, TABLES, StoreSpanTransport

__all__ = [
    "DENIALS",
    "INVOCATIONS",
    "KEY_VAULT",
    "METRICS",
    "REFRESHES",
    "TABLES",
    "JsonFormatter",
    "Metric",
    "NoTelemetry",
    "StoreSpanTransport",
    "configure",
    "correlation",
    "count",
    "install_json_logs",
    "recorder",
    "span",
    "use",
]

_configured = False
_lock = threading.Lock()


def configure(connection_string: str, credential: Any = None) -> None:
    """JSON logs always; export to Application Insights when `connection_string` is set. Once per process.
    `credential`: for Entra-authenticated ingestion (components with local auth off)."""
    global _configured
    install_json_logs()
    if not connection_string:
        return
    with _lock:
        if _configured:
            return
        from shared.telemetry._otel import start_azure_monitor  # only now: the import is heavy

        use(start_azure_monitor(connection_string, credential))
        _configured = True
