"""The invocation pipeline: small stages in a fixed order, each reading and extending one `Invocation`.

    0 load the connection (the one Table point read) and its connector's runtime (cached)
    1 match the operation (404 when undeclared, 501 when it can't be honoured)
    2 guard the path
    3 IP filter and limits
    4 credential (only now: a refused call costs no Key Vault read and no token refresh)
    5 request templates
    6 forward
    7 response templates

Any stage may raise a Problem; nothing after it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.invoke._admit import admit
from shared.invoke._context import IncomingCall, Invocation
from shared.invoke._credential import attach_credential
from shared.invoke._environment import Environment
from shared.invoke._forward import forward
from shared.invoke._guard import guard_path
from shared.invoke._operation import load_connection, match_operation
from shared.invoke._templates import request_templates, response_templates

Stage = Callable[[Invocation, Environment], None]

STAGES: tuple[Stage, ...] = (
    load_connection,
    match_operation,
    guard_path,
    admit,
    attach_credential,
    request_templates,
    forward,
    response_templates,
)


def run(call: IncomingCall, env: Environment, stages: Sequence[Stage] = STAGES) -> Invocation:
    invocation = Invocation(call)
    for stage in stages:
        stage(invocation, env)
    return invocation
