"""/connections/{connectionId}/invoke/{*path}: call the backend with the connection's credential."""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

import azure.functions as func

from shared import problems, proxy
from shared.web import Call, endpoint

log = logging.getLogger(__name__)

# The raw path after /invoke, taken from the URL as received: route values may already be decoded.
_INVOKE_SEGMENT = re.compile(r"/connections/[^/]+/invoke(?=/|$)", re.IGNORECASE)


def _raw_path_and_query(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    match = _INVOKE_SEGMENT.search(parts.path)
    if match is None:  # can't happen behind the route template; refuse rather than guess
        raise problems.bad_request("The invoke path could not be read.", slug="path-rejected")
    return parts.path[match.end() :], parts.query


def _response_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    # Functions' HTTP output carries one value per name; repeated headers are joined as RFC 9110 allows.
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


@endpoint
def invoke(call: Call) -> func.HttpResponse:
    settings = call.gateway.settings
    body = call.request.get_body() or b""
    if len(body) > settings.proxy_max_body_bytes:
        raise problems.Problem(
            413,
            "body-too-large",
            "Body too large",
            f"The request body is {len(body)} bytes; this gateway forwards at most {settings.proxy_max_body_bytes}.",
        )
    connection = call.gateway.connections.resolve(call.principal, call.route("connectionId"))
    raw_path, raw_query = _raw_path_and_query(call.request.url)
    url = proxy.backend_url(connection.backend_url, raw_path, raw_query, drop_query=call.auth.consumed_query)
    incoming = dict(call.request.headers)
    proto = incoming.get("x-forwarded-proto") or urlsplit(call.request.url).scheme or "https"
    headers = proxy.forward_request_headers(incoming, call.auth.consumed_headers, client_ip=None, proto=proto)
    started = time.perf_counter()
    timeout = (settings.proxy_connect_timeout, settings.proxy_read_timeout)
    response = proxy.forward(
        call.gateway.backend, call.request.method, url, headers, body or None, connection.auth, timeout
    )
    if response.status == 401 and connection.reauthenticate is not None:
        # The token may have been revoked or rotated early: refresh once, retry once.
        auth = connection.reauthenticate()
        response = proxy.forward(call.gateway.backend, call.request.method, url, headers, body or None, auth, timeout)
    log.info(
        "invoke %s %s -> %s in %.0f ms",
        connection.id,
        call.request.method,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return func.HttpResponse(response.body, status_code=response.status, headers=_response_headers(response.headers))
