"""Stages 0 and 1: the connection's one point read, then the operation the call is for.

Only declared operations are callable. A connector whose policy opts into pass-through (or one stored
before operations were kept, whose operations nobody knows) forwards an undeclared path too, with only
the templates that name no operations. An upload that declares no operations has nothing callable.
An operation the gateway can't honour (custom code, a template it can't apply) answers 501 naming why,
before anything else is spent.
"""

from __future__ import annotations

from shared import problems
from shared.invoke._context import Invocation
from shared.invoke._environment import Environment
from shared.policies import policy_from_document
from shared.proxy import guard_path


def load_connection(invocation: Invocation, env: Environment) -> None:
    call = invocation.call
    connection = env.connections.target(call.principal, call.connection_id)
    invocation.connection = connection
    invocation.policy = policy_from_document(connection.policy)
    invocation.runtime = env.runtimes.get(connection.connector_id, connection.runtime_version)


def _not_declared(invocation: Invocation) -> problems.Problem:
    call = invocation.call
    return problems.Problem(
        404,
        "operation-not-found",
        "Operation not found",
        f"Connector {invocation.connection.connector_id!r} declares no {call.method} operation for this path "  # type: ignore[union-attr]
        "(relative to its basePath). Only declared operations are callable.",
    )


def match_operation(invocation: Invocation, env: Environment) -> None:
    runtime, call = invocation.runtime, invocation.call
    assert runtime is not None and invocation.connection is not None
    path = guard_path(call.raw_path)  # a path that could leave the backend is refused before anything else
    invocation.matched = runtime.table.match(call.method, path, call.raw_query)
    if invocation.matched is None:
        pass_through = runtime.passes_undeclared or (invocation.policy is not None and invocation.policy.pass_through)
        if not pass_through:
            raise _not_declared(invocation)
    invocation.plan = runtime.plan(invocation.operation_id)
    if invocation.plan.unsupported:
        what = invocation.operation_id or "this call"
        raise problems.Problem(
            501,
            "operation-not-supported",
            "Operation not supported",
            f"Operation {what!r} of connector {invocation.connection.connector_id!r} can't run here: "
            + "; ".join(invocation.plan.unsupported)
            + ".",
            operationId=invocation.operation_id,
            reasons=list(invocation.plan.unsupported),
        )
