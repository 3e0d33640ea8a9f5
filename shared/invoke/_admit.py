"""Stage 3, IP filter and limits: the connector's IP filter (after the deployment's, at the front door), then
the deployment's per-connection rate limit (LIMIT_CONNECTION_CALLS_PER_MINUTE), the connector's rate limit
and its quota, each counted across instances in the limits table. One refusing gives back what the others
counted. All before the credential, so a refused call costs no Key Vault read and no token refresh."""

from __future__ import annotations

import logging

from shared import problems
from shared.invoke._context import Invocation
from shared.invoke._environment import Environment
from shared.limits import Admission, LimitPolicy, decision_headers
from shared.policies import LimitKey, check_connector_ip, counter_key

log = logging.getLogger(__name__)


def _counter_key(invocation: Invocation, key: LimitKey) -> str:
    connection, call = invocation.connection, invocation.call
    assert connection is not None
    return counter_key(connection.connector_id, key, connection.id, call.principal.id, call.subscription_id)


def admit(invocation: Invocation, env: Environment) -> None:
    connection, policy = invocation.connection, invocation.policy
    assert connection is not None
    check_connector_ip(policy, connection.connector_id, invocation.call.client_ip)
    admission = Admission(env.rate_limiter, env.quotas)
    invocation.admission = admission
    if env.connection_calls_per_minute:
        limit = LimitPolicy(env.connection_calls_per_minute, 60, "connection")
        admission.rate(f"connection:{connection.id}", limit, "connection")
    if policy is None:
        return
    connector = f"connector {connection.connector_id!r}"
    if policy.rate_limit is not None:
        rule = policy.rate_limit
        admission.rate(_counter_key(invocation, rule.key), rule.limit, f"{connector} per-{rule.key}")
    if policy.quota is not None:
        quota = policy.quota
        admission.quota(
            _counter_key(invocation, quota.key),
            quota.quota,
            f"{connector} per-{quota.key}",
            bytes=len(invocation.call.body),
        )


def count_response_bytes(invocation: Invocation, env: Environment, size: int) -> None:
    policy = invocation.policy
    if policy is None or policy.quota is None or policy.quota.quota.bandwidth_bytes is None:
        return
    try:
        env.quotas.add_bytes(_counter_key(invocation, policy.quota.key), policy.quota.quota, size)
    except problems.Problem as problem:
        # The backend has answered; the caller gets its answer and this call's response bytes go uncounted.
        log.warning("invoke %s: response bytes not counted (%s)", invocation.call.connection_id, problem.detail)


def limit_headers(invocation: Invocation) -> dict[str, str]:
    """The gateway's limit headers; they replace any of the backend's of the same name (APIM's remaining-calls)."""
    admission = invocation.admission
    return decision_headers(*admission.decisions) if admission and admission.decisions else {}
