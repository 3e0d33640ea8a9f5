"""Stage 4, credential: only for admitted calls. Key Vault only when the secret version isn't cached yet; an
OAuth token refreshed only when due. Also the connection's values, which template expressions read."""

from __future__ import annotations

from shared.invoke._context import Invocation
from shared.invoke._environment import Environment


def attach_credential(invocation: Invocation, env: Environment) -> None:
    assert invocation.connection is not None
    invocation.credential = env.connections.credential(invocation.call.principal, invocation.connection)
