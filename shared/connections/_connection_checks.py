"""Test connection: before a connection is kept, the connector's x-ms-capabilities.testConnection operation
is called with the new credential, through the same guarded transport as every backend call.

A 2xx answer passes. Anything else fails the creation with a problem carrying the backend's status (never
its body: it may echo the credential), and the caller stores nothing. The operation's path values come from
testConnection.parameters; it is sent without a body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from requests.auth import AuthBase

from shared import problems, proxy
from shared.connectors import ConnectionCheck

_PATH_HOLE = re.compile(r"\{([^{}]+)\}")


def _value(raw: object) -> object:
    return raw.get("value") if isinstance(raw, dict) else raw


def check_path(check: ConnectionCheck) -> str:
    """The operation's path with its parameters filled in, each one path segment."""
    return _PATH_HOLE.sub(lambda hole: quote(str(_value(check.parameters.get(hole.group(1)))), safe=""), check.path)


def check_failed(check: ConnectionCheck, status: int) -> problems.Problem:
    return problems.Problem(
        400 if 400 <= status < 500 else 502,
        "test-connection-failed",
        "Test connection failed",
        f"The connector's test connection ({check.operation_id}) answered HTTP {status} with these credentials: "
        "nothing was stored. Check the values and try again.",
        backendStatus=status,
        operationId=check.operation_id,
    )


@dataclass(frozen=True)
class ConnectionTester:
    backend: proxy.BackendSession
    timeout: tuple[float, float]
    total_timeout: float | None = None
    max_response_bytes: int | None = None

    def check(self, check: ConnectionCheck | None, backend_url: str, auth: AuthBase | None) -> None:
        """Raise the test-connection-failed problem unless the backend accepts the credential (or there is no test)."""
        if check is None:
            return
        url = proxy.backend_url(backend_url, check_path(check), "")
        response = proxy.forward(
            self.backend,
            check.method,
            url,
            {"Accept": "application/json"},
            None,
            auth,
            self.timeout,
            total_timeout=self.total_timeout,
            max_response_bytes=self.max_response_bytes,
        )
        if not 200 <= response.status < 300:
            raise check_failed(check, response.status)


def sign_in_refusal(
    tester: ConnectionTester | None, check: dict[str, Any] | None, backend_url: str, auth: AuthBase
) -> str | None:
    """At an OAuth callback (the credential exists only then): why the snapshot's test connection (a
    ConnectionCheck as a dict) refused the new token, or None when it passed or there is nothing to test."""
    if tester is None or not check:
        return None
    try:
        tester.check(ConnectionCheck(**check), backend_url, auth)
    except problems.Problem as problem:  # the backend's refusal, or its transport problem (unreachable, ...)
        status = problem.extensions.get("backendStatus")
        if status is not None:
            return f"the test connection ({check['operation_id']}) answered HTTP {status} with the new sign-in"
        return f"the test connection failed: {problem.detail}"
    return None
