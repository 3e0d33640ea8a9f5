"""/connections/{connectionId}/invoke/{*path}: call the backend with the connection's credential.

In order: one point read of the connection (who may use it, where it goes, its policy), the path
guard, the connector's IP filter (after the deployment's, at the front door), the limits, and only
then the credential - so a refused call costs no Key Vault read and no token refresh.

The limits, each counted across instances in the limits table: the deployment's per-connection rate
limit (LIMIT_CONNECTION_CALLS_PER_MINUTE), the connector's rate limit, the connector's quota. The
policy comes from the connection's snapshot, so no limit means no Table round trip beyond the
connection read; each limit that applies costs one counter round trip.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

import azure.functions as func

from shared import problems, proxy, telemetry
from shared.connections import ConnectionTarget
from shared.limits import Admission, LimitPolicy, decision_headers
from shared.policies import ConnectorPolicy, LimitKey, check_connector_ip, counter_key, policy_from_document
from shared.web import Call, endpoint

log = logging.getLogger(__name__)

# The raw path after /invoke, taken from the URL as received: route values may already be decoded.
_INVOKE_SEGMENT = re.compile(r"/connections/[^/]+/invoke(?=/|$)", re.IGNORECASE)


def _raw_path_and_query(url: str) -> tuple[str, str, str]:
    """The caller's path after /invoke, its query, and the invoke path itself (where this connection's cookies live)."""
    parts = urlsplit(url)
    match = _INVOKE_SEGMENT.search(parts.path)
    if match is None:  # can't happen behind the route template; refuse rather than guess
        raise problems.bad_request("The invoke path could not be read.", slug="path-rejected")
    return parts.path[match.end() :], parts.query, parts.path[: match.end()]


def _counter_key(call: Call, connection: ConnectionTarget, key: LimitKey) -> str:
    subscription = call.auth.subscription
    return counter_key(
        connection.connector_id, key, connection.id, call.principal.id, subscription.id if subscription else None
    )


def _admit(call: Call, connection: ConnectionTarget, policy: ConnectorPolicy | None, body_bytes: int) -> Admission:
    """Counts the call against each limit in turn; one refusing gives back what the others counted."""
    gw = call.gateway
    admission = Admission(gw.rate_limiter, gw.quotas)
    per_minute = gw.settings.limit_connection_calls_per_minute
    if per_minute:
        admission.rate(f"connection:{connection.id}", LimitPolicy(per_minute, 60, "connection"), "connection")
    if policy is None:
        return admission
    connector = f"connector {connection.connector_id!r}"
    if policy.rate_limit is not None:
        rule = policy.rate_limit
        key = _counter_key(call, connection, rule.key)
        admission.rate(key, rule.limit, f"{connector} per-{rule.key}")
    if policy.quota is not None:
        quota = policy.quota
        key = _counter_key(call, connection, quota.key)
        admission.quota(key, quota.quota, f"{connector} per-{quota.key}", bytes=body_bytes)
    return admission


def _count_response_bytes(call: Call, connection: ConnectionTarget, policy: ConnectorPolicy | None, size: int) -> None:
    if policy is None or policy.quota is None or policy.quota.quota.bandwidth_bytes is None:
        return
    try:
        key = _counter_key(call, connection, policy.quota.key)
        call.gateway.quotas.add_bytes(key, policy.quota.quota, size)
    except problems.Problem as problem:
        # The backend has answered; the caller gets its answer and this call's response bytes go uncounted.
        log.warning("invoke %s: response bytes not counted (%s)", connection.id, problem.detail)


def _limit_headers(admission: Admission) -> dict[str, str]:
    """The gateway's limit headers; they replace any of the backend's of the same name (APIM's remaining-calls)."""
    return decision_headers(*admission.decisions) if admission.decisions else {}


def _gateway_credential_query(call: Call) -> set[str]:
    """Query parameters that carry gateway credentials, whichever one this caller used (and however the
    backend_url filter cases them): a second key or token alongside never reaches a backend."""
    settings = call.gateway.settings
    return {*call.auth.consumed_query, settings.subscription_key_query, settings.token_query} - {""}


def _gateway_credential_headers(call: Call) -> set[str]:
    """Headers that carry gateway credentials. Authorization is the backend's when it wasn't the caller's token."""
    settings = call.gateway.settings
    named = {settings.subscription_key_header, settings.token_header}
    return {*call.auth.consumed_headers, *(name for name in named if name.lower() != "authorization")}


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
    connection = call.gateway.connections.target(call.principal, call.route("connectionId"))
    raw_path, raw_query, invoke_prefix = _raw_path_and_query(call.request.url)
    url = proxy.backend_url(connection.backend_url, raw_path, raw_query, drop_query=_gateway_credential_query(call))
    policy = policy_from_document(connection.policy)
    check_connector_ip(policy, connection.connector_id, call.client_ip)
    admission = _admit(call, connection, policy, len(body))
    credential = call.gateway.connections.credential(call.principal, connection)  # only for admitted calls
    incoming = dict(call.request.headers)
    proto = incoming.get("x-forwarded-proto") or urlsplit(call.request.url).scheme or "https"
    headers = proxy.forward_request_headers(incoming, _gateway_credential_headers(call), client_ip=None, proto=proto)
    started = time.perf_counter()
    timeout = (settings.proxy_connect_timeout, settings.proxy_read_timeout)
    limits = {"total_timeout": settings.proxy_total_timeout, "max_response_bytes": settings.proxy_max_response_bytes}
    response = proxy.forward(
        call.gateway.backend, call.request.method, url, headers, body or None, credential.auth, timeout, **limits
    )
    if response.status == 401 and credential.reauthenticate is not None:
        # The token may have been revoked or rotated early: refresh once, retry once.
        auth = credential.reauthenticate()
        response = proxy.forward(
            call.gateway.backend, call.request.method, url, headers, body or None, auth, timeout, **limits
        )
    log.info(
        "invoke %s %s -> %s in %.0f ms",
        connection.id,
        call.request.method,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    telemetry.count(telemetry.INVOCATIONS, status=response.status, connector=connection.connector_id)
    _count_response_bytes(call, connection, policy, len(response.body))
    # Repeated backend headers are joined, except Set-Cookie: one header per cookie reaches the caller.
    sandbox = policy is None or policy.sandbox_responses
    base_path = urlsplit(connection.backend_url).path
    backend_headers = proxy.scoped_cookies(response.headers, invoke_prefix, base_path)
    gateway = (call.request.url, settings.public_url)
    backend_headers = proxy.gateway_location(backend_headers, url, base_path, invoke_prefix, gateway)
    response_headers = proxy.caller_response_headers(
        proxy.sandboxed(backend_headers, sandbox), _limit_headers(admission)
    )
    return func.HttpResponse(response.body, status_code=response.status, headers=response_headers)
