"""/connections/{connectionId}/invoke/{*path}: the HTTP adapter of the invoke pipeline (shared/invoke/).

Reads what the pipeline needs from the request (the raw path after /invoke, relative to the connector's
basePath; the query; which gateway credentials this caller used) and turns the pipeline's answer into
the caller's response: the backend's cookies kept to this connection, a Location inside the backend mapped
into the invoke path (a polling trigger's next poll made one), the CSP sandbox and the gateway's limit headers.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import azure.functions as func

from shared import invoke as pipeline
from shared import problems, proxy
from shared.web import Call, endpoint

# The raw path after /invoke, taken from the URL as received: route values may already be decoded.
_INVOKE_SEGMENT = re.compile(r"/connections/[^/]+/invoke(?=/|$)", re.IGNORECASE)


def _raw_path_and_query(url: str) -> tuple[str, str, str]:
    """The caller's path after /invoke, its query, and the invoke path itself (where this connection's cookies live)."""
    parts = urlsplit(url)
    match = _INVOKE_SEGMENT.search(parts.path)
    if match is None:  # can't happen behind the route template; refuse rather than guess
        raise problems.bad_request("The invoke path could not be read.", slug="path-rejected")
    return parts.path[match.end() :], parts.query, parts.path[: match.end()]


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


def _hidden_query(call: Call, done: pipeline.Invocation) -> set[str]:
    """Query parameters a URL the caller is told to call next (a Location, a paging link, a polling trigger's next
    poll) never carries: the gateway's credentials (a key the backend chose would win over the caller's token) and
    those the gateway gave the backend (a backend may echo the connection's API key; the gateway adds it again on
    the next call)."""
    return {*_gateway_credential_query(call), *done.backend_query_names()}


def environment(call: Call) -> pipeline.Environment:
    gw, settings = call.gateway, call.gateway.settings
    return pipeline.Environment(
        connections=gw.connection_use,
        runtimes=gw.runtimes,
        rate_limiter=gw.rate_limiter,
        quotas=gw.quotas,
        backend=gw.backend,
        limits=pipeline.ForwardLimits(
            max_body_bytes=settings.proxy_max_body_bytes,
            connect_timeout=settings.proxy_connect_timeout,
            read_timeout=settings.proxy_read_timeout,
            total_timeout=settings.proxy_total_timeout,
            max_response_bytes=settings.proxy_max_response_bytes,
        ),
        connection_calls_per_minute=settings.limit_connection_calls_per_minute,
    )


def _public_origin(call: Call) -> str:
    """The origin of the URLs a caller is told to call next: GATEWAY_PUBLIC_URL's, or the one this call came in on."""
    parts = urlsplit(call.gateway.settings.public_url or call.request.url)
    return f"{parts.scheme}://{parts.netloc}"


def _trigger_origin(done: pipeline.Invocation, call: Call) -> str | None:
    """The gateway origin a trigger operation's Location gets (webhook `x-ms-notification-url` subscriptions and
    `x-ms-trigger` polls). None: not a trigger."""
    operation = done.matched.operation if done.matched else None
    if operation is None or (operation.trigger is None and not operation.notification_url):
        return None
    return _public_origin(call)


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
    raw_path, raw_query, invoke_prefix = _raw_path_and_query(call.request.url)
    incoming = dict(call.request.headers)
    subscription = call.auth.subscription
    done = pipeline.run(
        pipeline.IncomingCall(
            principal=call.principal,
            connection_id=call.route("connectionId"),
            method=call.request.method.upper(),
            raw_path=raw_path,
            raw_query=raw_query,
            headers=incoming,
            body=body,
            client_ip=call.client_ip,
            proto=incoming.get("x-forwarded-proto") or urlsplit(call.request.url).scheme or "https",
            subscription_id=subscription.id if subscription else None,
            credential_query=_gateway_credential_query(call),
            credential_headers=_gateway_credential_headers(call),
        ),
        environment(call),
    )
    response, request = done.response, done.request
    assert response is not None and request is not None
    # Cookies kept to this connection, a Location inside the backend mapped into its invoke path (against the
    # base URL this call used, which a dynamichosturl template may have built).
    base_path = urlsplit(request.base_url).path
    backend_headers = proxy.scoped_cookies(response.headers, invoke_prefix, base_path)
    next_link_names = done.next_link_names()
    if next_link_names:
        hidden_query, public = _hidden_query(call, done), _public_origin(call)
        for name in next_link_names:
            pipeline.rewrite_next_link(
                response,
                name,
                lambda link: proxy.gateway_link(link, done.backend_url, base_path, invoke_prefix, public, hidden_query),
            )
    if any(name.lower() == "location" for name, _ in backend_headers):
        backend_headers = proxy.gateway_location(
            backend_headers,
            done.backend_url,
            base_path,
            invoke_prefix,
            gateway_origins=(call.request.url, settings.public_url),
            trigger_origin=_trigger_origin(done, call),
            drop_query=_hidden_query(call, done),
        )
    if response.next_poll is not None:  # a pollingtrigger's answer: its Location is the gateway's next poll
        location = pipeline.next_poll_location(
            response.next_poll,
            public_origin=_public_origin(call),
            invoke_prefix=invoke_prefix,
            raw_path=raw_path,
            raw_query=raw_query,
            hidden_query=_hidden_query(call, done),
            backend_request_url=done.backend_url,
            base_path=base_path,
        )
        backend_headers = [(n, v) for n, v in backend_headers if n.lower() != "location"] + [("Location", location)]
    # Repeated backend headers are joined, except Set-Cookie: one header per cookie reaches the caller.
    sandbox = done.policy is None or done.policy.sandbox_responses
    headers = proxy.caller_response_headers(proxy.sandboxed(backend_headers, sandbox), pipeline.limit_headers(done))
    return func.HttpResponse(response.body, status_code=response.status, headers=headers)
