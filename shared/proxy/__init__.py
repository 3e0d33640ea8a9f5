"""Proxy core: guarded backend URLs, header filtering both ways, and a pooled address-checked transport."""

from shared.proxy._forward import ProxiedResponse, forward
from shared.proxy._headers import HOP_BY_HOP, forward_request_headers, forward_response_headers
from shared.proxy._transport import (
    BLOCKED_NETWORKS,
    BackendSession,
    BlockedAddressError,
    check_address,
    quiet_transport_logging,
)
from shared.proxy._urls import backend_url

__all__ = [
    "BLOCKED_NETWORKS",
    "HOP_BY_HOP",
    "BackendSession",
    "BlockedAddressError",
    "ProxiedResponse",
    "backend_url",
    "check_address",
    "forward",
    "forward_request_headers",
    "forward_response_headers",
    "quiet_transport_logging",
]
