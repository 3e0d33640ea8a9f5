"""A span per HTTP request to Table Storage or Key Vault, as a wrapper of the SDK clients' transport
(both SDKs take a `transport`; the Tables SDK ignores extra pipeline policies).

Retries are separate requests, so separate spans. Attributes name the store, method, host, table or
collection and status; never an entity key, a secret's name or a query.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport, RequestsTransport

from shared.telemetry._recorder import span

KEY_VAULT = "keyvault"
TABLES = "tables"


def _collection(store: str, path: str) -> str:
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return ""
    if store == KEY_VAULT:
        return segments[0]  # "secrets" or "deletedsecrets"; the secret's name is left out
    return segments[-1].split("(", 1)[0]  # the table ("Tables" for table management), without entity keys


class StoreSpanTransport(HttpTransport):
    def __init__(self, store: str, inner: HttpTransport) -> None:
        self._store = store
        self._inner = inner

    @classmethod
    def requests(cls, store: str, **connection_options: Any) -> StoreSpanTransport:
        """Over the SDKs' default transport, configured with the client's connection options (timeouts, verify)."""
        return cls(store, RequestsTransport(**connection_options))

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        url = urlsplit(request.url)
        attributes = {
            "gateway.store": self._store,
            "gateway.store.collection": _collection(self._store, url.path),
            "http.request.method": request.method,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        with span(f"{self._store} {request.method}", "client", **attributes) as store_span:
            response = self._inner.send(request, **kwargs)
            store_span.set("http.response.status_code", response.status_code)
            return response

    def open(self) -> None:
        self._inner.open()

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> StoreSpanTransport:
        self._inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self._inner.__exit__(*args)
