"""A loopback stand-in for Application Insights ingestion (`POST {IngestionEndpoint}/v2.1/track`).

The Azure Monitor exporter posts JSON arrays of envelopes (optionally gzip-compressed); this keeps
them all and lets a test await the envelope it expects instead of sleeping.

    with IngestionStandin() as ingestion:
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = ingestion.connection_string
        ingestion.wait_for(lambda e: e["name"].endswith("RemoteDependency"))
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from typing import Any

from tests.support.standin_server import Received, Reply, StandinServer, json_reply

Envelope = dict[str, Any]

# Env for a gateway exporting here: no other address is ever contacted (statsbeat, remote configuration,
# the VM metadata detector), and batches leave quickly.
QUIET_EXPORTER_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
    "OTEL_TRACES_SAMPLER": "always_on",  # the distro's default rate limit would drop spans a test awaits
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_BLRP_SCHEDULE_DELAY": "100",
    "OTEL_METRIC_EXPORT_INTERVAL": "300",
}


class IngestionStandin:
    def __init__(self) -> None:
        self._server = StandinServer()
        self._server.route("POST", "/v2.1/track", self._track)
        self._arrived = threading.Condition()
        self.envelopes: list[Envelope] = []
        self.raw_bodies: list[str] = []

    @property
    def connection_string(self) -> str:
        return f"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint={self._server.url}/"

    def _track(self, received: Received) -> Reply:
        body = received.body
        if received.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        text = body.decode()
        batch = json.loads(text)
        with self._arrived:
            self.raw_bodies.append(text)
            self.envelopes.extend(batch)
            self._arrived.notify_all()
        return json_reply({"itemsReceived": len(batch), "itemsAccepted": len(batch), "errors": []})

    def wait_for(self, matches: Callable[[Envelope], bool], timeout: float = 30) -> Envelope:
        """The first envelope that matches, waiting for it to arrive."""
        with self._arrived:
            found: list[Envelope] = []

            def arrived() -> bool:
                found[:] = [e for e in self.envelopes if matches(e)]
                return bool(found)

            if not self._arrived.wait_for(arrived, timeout):
                names = sorted({_describe(e) for e in self.envelopes})
                raise AssertionError(f"no matching envelope within {timeout} s; received: {names}")
            return found[0]

    def __enter__(self) -> IngestionStandin:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)


def base_data(envelope: Envelope) -> dict[str, Any]:
    return envelope.get("data", {}).get("baseData", {})


def is_dependency(envelope: Envelope, **properties: str) -> bool:
    """A dependency (a span of a call out) with these custom properties (the gateway's span attributes)."""
    if not envelope.get("name", "").endswith("RemoteDependency"):
        return False
    found = base_data(envelope).get("properties") or {}
    return all(str(found.get(k)) == v for k, v in properties.items())


def is_metric(envelope: Envelope, metric: str, **dimensions: str) -> bool:
    if not envelope.get("name", "").endswith("Metric"):
        return False
    data = base_data(envelope)
    properties = data.get("properties") or {}
    return any(m.get("name") == metric for m in data.get("metrics", [])) and all(
        str(properties.get(k)) == v for k, v in dimensions.items()
    )


def _describe(envelope: Envelope) -> str:
    data = base_data(envelope)
    metrics = [m.get("name") for m in data.get("metrics", [])]
    return f"{envelope.get('name', '?').rsplit('.', 1)[-1]}:{data.get('name') or metrics}"
