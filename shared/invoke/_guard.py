"""Stage 2, guard the path: the caller's path and query joined onto the connection's backend without leaving
it (shared/proxy/_urls.py), and the outgoing request the later stages shape, with the caller's headers
filtered (hop-by-hop, platform, the gateway's credentials and cookies gone)."""

from __future__ import annotations

from shared import proxy
from shared.invoke._context import Invocation
from shared.invoke._environment import Environment
from shared.templates import OutgoingRequest


def guard_path(invocation: Invocation, env: Environment) -> None:
    call, connection = invocation.call, invocation.connection
    assert connection is not None
    # Refuses a path or query that would leave the backend, before any limit is counted.
    proxy.backend_url(connection.backend_url, call.raw_path, call.raw_query, drop_query=call.credential_query)
    headers = proxy.forward_request_headers(
        dict(call.headers), set(call.credential_headers), client_ip=None, proto=call.proto
    )
    invocation.forwarded_headers = dict(headers)
    invocation.request = OutgoingRequest(
        method=call.method,
        base_url=connection.backend_url.rstrip("/"),
        path=proxy.guard_path(call.raw_path),
        raw_query=call.raw_query,
        headers=dict(headers),
        body=call.body,
        path_values=invocation.matched.path_values if invocation.matched else {},
    )
