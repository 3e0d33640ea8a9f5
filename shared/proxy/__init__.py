"""Proxy core: guarded backend URLs, header filtering both ways, and a pooled address-checked transport."""

from shared.proxy._addresses import AddressClass, AddressPolicy, check_private_networks, classify
from shared.proxy._forward import ProxiedResponse, forward
from shared.proxy._headers import HOP_BY_HOP, forward_request_headers, forward_response_headers
from shared.proxy._transport import BackendSession, BlockedAddressError, quiet_transport_logging
from shared.proxy._urls import backend_url

__all__ = [
    "HOP_BY_HOP",
    "AddressClass",
    "AddressPolicy",
    "BackendSession",
    "BlockedAddressError",
    "ProxiedResponse",
    "backend_url",
    "check_private_networks",
    "classify",
    "forward",
    "forward_request_headers",
    "forward_response_headers",
    "quiet_transport_logging",
]
