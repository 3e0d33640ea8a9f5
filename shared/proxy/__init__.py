"""Proxy core: guarded backend URLs, header filtering both ways, and a pooled address-checked transport."""

from shared.proxy._addresses import AddressClass, AddressPolicy, check_private_networks, classify
from shared.proxy._forward import ProxiedResponse, ResponseTooLarge, bounded_request, forward
from shared.proxy._headers import (
    HOP_BY_HOP,
    PLATFORM_REQUEST_HEADERS,
    PLATFORM_REQUEST_PREFIXES,
    caller_response_headers,
    forward_request_headers,
    forward_response_headers,
    is_platform_header,
)
from shared.proxy._origin import (
    GATEWAY_COOKIE_PREFIX,
    gateway_link,
    gateway_location,
    sandboxed,
    scoped_cookies,
    strip_gateway_cookies,
)
from shared.proxy._transport import BackendSession, BlockedAddressError, quiet_transport_logging
from shared.proxy._url_values import HOST_DECIDING, Position, UnsafeValue, check_value, positions
from shared.proxy._url_values import render as render_url_template
from shared.proxy._urls import backend_url, filter_query, guard_path

__all__ = [
    "GATEWAY_COOKIE_PREFIX",
    "HOP_BY_HOP",
    "HOST_DECIDING",
    "PLATFORM_REQUEST_HEADERS",
    "PLATFORM_REQUEST_PREFIXES",
    "AddressClass",
    "AddressPolicy",
    "BackendSession",
    "BlockedAddressError",
    "Position",
    "ProxiedResponse",
    "ResponseTooLarge",
    "UnsafeValue",
    "backend_url",
    "bounded_request",
    "caller_response_headers",
    "check_private_networks",
    "check_value",
    "classify",
    "filter_query",
    "forward",
    "forward_request_headers",
    "forward_response_headers",
    "gateway_link",
    "gateway_location",
    "guard_path",
    "is_platform_header",
    "positions",
    "quiet_transport_logging",
    "render_url_template",
    "sandboxed",
    "scoped_cookies",
    "strip_gateway_cookies",
]
