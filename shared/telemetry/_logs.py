"""Structured logs: one JSON object per line, each with the request's correlation id.

Exceptions are written as their type and stack frames only: an exception's message may quote a
URL with a key in it, so it never reaches a log line.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime

from shared.telemetry._correlation import current_id

CORRELATION_ATTRIBUTE = "correlation_id"


class CorrelationFilter(logging.Filter):
    """Stamps each record with the correlation id of the request that logged it (also seen by exporters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, CORRELATION_ATTRIBUTE, None) is None:
            setattr(record, CORRELATION_ATTRIBUTE, current_id())
        return True


class _ExceptionTextRedacted(Exception):  # stands in for the exception whose text it hides
    pass


class RedactExceptionText(logging.Filter):
    """Replaces a record's exception by one whose text is only the type name, keeping type and frames,
    so no handler (the JSON lines, an exporter) can write what the exception said."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            error_type, error, frames = record.exc_info
            if not isinstance(error, _ExceptionTextRedacted):
                record.exc_info = (error_type, _ExceptionTextRedacted(error_type.__name__), frames)
                record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, CORRELATION_ATTRIBUTE, None) or current_id()
        if correlation_id:
            line["correlationId"] = correlation_id
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = {
                "type": record.exc_info[0].__name__,
                "frames": traceback.format_tb(record.exc_info[2]),
            }
        return json.dumps(line, ensure_ascii=False)


def add_filters(handler: logging.Handler) -> None:
    """Correlation ids on, exception texts off. Idempotent."""
    for kind in (RedactExceptionText, CorrelationFilter):
        if not any(isinstance(f, kind) for f in handler.filters):
            handler.addFilter(kind())


def install_json_logs() -> None:
    """Every handler of the root logger writes JSON lines with correlation ids. Idempotent."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())
        add_filters(handler)
