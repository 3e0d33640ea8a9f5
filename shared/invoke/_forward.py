"""Stage 6, forward: the shaped request to the backend (the URL guarded again: templates may have moved the
path or built the host), the credential added last by `requests`, one refresh-and-retry on a 401."""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

from requests import PreparedRequest
from requests.auth import AuthBase

from shared import proxy, telemetry
from shared.invoke._admit import count_response_bytes
from shared.invoke._context import Invocation
from shared.invoke._environment import Environment
from shared.templates import NEXT_POLL_MARKER, BackendCall, CallerResponse

log = logging.getLogger(__name__)


def backend_url(invocation: Invocation) -> str:
    request = invocation.request
    assert request is not None
    url = proxy.backend_url(
        request.base_url,
        request.path,
        request.raw_query,
        # The polling marker is the gateway's own: dropped on every call, whichever operation a next page lands on.
        drop_query=(*invocation.call.credential_query, NEXT_POLL_MARKER),
        add_query=request.query_set,
    )
    if request.query_added:
        added = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in request.query_added)
        url += ("&" if "?" in url else "?") + added
    return url


class _TemplatesAfterCredential(AuthBase):
    """The credential, then the headers templates override: Power Platform runs policies after authentication."""

    def __init__(self, credential: AuthBase | None, headers: dict[str, str]) -> None:
        self.credential = credential
        self.headers = headers

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.credential is not None:
            request = self.credential(request)
        for name, value in self.headers.items():
            request.headers[name] = value
        return request


def _auth(auth: AuthBase | None, template_headers: dict[str, str]) -> AuthBase | None:
    return _TemplatesAfterCredential(auth, template_headers) if template_headers else auth


def forward(invocation: Invocation, env: Environment) -> None:
    request, credential, connection = invocation.request, invocation.credential, invocation.connection
    assert request is not None and credential is not None and connection is not None
    url = backend_url(invocation)
    invocation.backend_url = url
    limits = env.limits
    timeout = (limits.connect_timeout, limits.read_timeout)
    options = {"total_timeout": limits.total_timeout, "max_response_bytes": limits.max_response_bytes}
    body = request.body or None
    started = time.perf_counter()
    auth = _auth(credential.auth, request.template_headers)
    response = proxy.forward(env.backend, request.method, url, request.headers, body, auth, timeout, **options)
    if response.status == 401 and credential.reauthenticate is not None:
        # The token may have been revoked or rotated early: refresh once, retry once.
        auth = _auth(credential.reauthenticate(), request.template_headers)
        response = proxy.forward(env.backend, request.method, url, request.headers, body, auth, timeout, **options)
    log.info(
        "invoke %s %s%s -> %s in %.0f ms",
        connection.id,
        invocation.call.method,
        f" ({invocation.operation_id})" if invocation.operation_id else "",
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    telemetry.count(telemetry.INVOCATIONS, status=response.status, connector=connection.connector_id)
    count_response_bytes(invocation, env, len(response.body))
    invocation.response = CallerResponse(response.status, list(response.headers), response.body)


def template_backend_call(invocation: Invocation, env: Environment) -> BackendCall:
    """A request template's own call (setvaluefromurl) to the backend the operation goes to: the request's base URL
    as the templates so far left it, a path guarded like a caller's and kept inside basePath, the connection's
    credential and the headers templates set so far, through the same guarded session and limits."""
    request, credential = invocation.request, invocation.credential
    assert request is not None and credential is not None
    limits = env.limits
    timeout = (limits.connect_timeout, limits.read_timeout)

    def call(method: str, path: str, raw_query: str) -> CallerResponse:
        url = proxy.backend_url(request.base_url, path, raw_query)
        # The request's headers as the templates so far left them (Cradl AI's token call carries its Basic auth
        # and form Content-Type from the setheader instances before it), read unencoded.
        headers = {name: value for name, value in request.headers.items() if name.lower() != "accept-encoding"}
        headers["Accept-Encoding"] = "identity"
        auth = _auth(credential.auth, dict(request.template_headers))
        response = proxy.forward(
            env.backend,
            method,
            url,
            headers,
            None,
            auth,
            timeout,
            total_timeout=limits.total_timeout,
            max_response_bytes=limits.max_response_bytes,
        )
        count_response_bytes(invocation, env, len(response.body))
        return CallerResponse(response.status, list(response.headers), response.body)

    return call
