"""What the stages use of the gateway: small, so each stage can be tested with fakes and no network."""

from __future__ import annotations

from dataclasses import dataclass

from shared.connections import ConnectionUse
from shared.invoke._runtime import ConnectorRuntimes
from shared.limits import QuotaCounter, RateLimiter
from shared.proxy import BackendSession


@dataclass(frozen=True)
class ForwardLimits:
    max_body_bytes: int
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_response_bytes: int


@dataclass(frozen=True)
class Environment:
    connections: ConnectionUse
    runtimes: ConnectorRuntimes
    rate_limiter: RateLimiter
    quotas: QuotaCounter
    backend: BackendSession
    limits: ForwardLimits
    connection_calls_per_minute: int  # LIMIT_CONNECTION_CALLS_PER_MINUTE; 0: off
