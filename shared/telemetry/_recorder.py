"""Spans and metrics behind one small interface, so the gateway's code never imports OpenTelemetry.

Until `use(recorder)` installs the OpenTelemetry recorder (only when Application Insights is
configured), every call goes to `NoTelemetry`, which does nothing and costs no import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str


INVOCATIONS = Metric("gateway.invocations", "{call}", "Backend invocations through connections, by status")
REFRESHES = Metric("gateway.token_refreshes", "{refresh}", "OAuth token refreshes, by outcome")
DENIALS = Metric("gateway.denials", "{call}", "Refused calls (401, 403, 429), by reason")
METRICS = (INVOCATIONS, REFRESHES, DENIALS)


class Span(Protocol):
    def set(self, name: str, value: AttributeValue) -> None: ...


class Recorder(Protocol):
    def span(self, name: str, kind: str, attributes: Attributes) -> AbstractContextManager[Span]:
        """A span of kind `client` (a call out) or `internal`, in the trace of the request's correlation id.
        Attributes must carry no secret nor query."""
        ...

    def count(self, metric: Metric, attributes: Attributes) -> None: ...


class _NoSpan:
    def set(self, name: str, value: AttributeValue) -> None:
        pass


class NoTelemetry:
    @contextmanager
    def span(self, name: str, kind: str, attributes: Attributes) -> Iterator[Span]:
        yield _NoSpan()

    def count(self, metric: Metric, attributes: Attributes) -> None:
        pass


_recorder: Recorder = NoTelemetry()


def use(recorder: Recorder) -> None:
    global _recorder
    _recorder = recorder


def recorder() -> Recorder:
    return _recorder


def span(name: str, kind: str = "internal", **attributes: AttributeValue) -> AbstractContextManager[Span]:
    return _recorder.span(name, kind, attributes)


def count(metric: Metric, **attributes: AttributeValue) -> None:
    _recorder.count(metric, attributes)
