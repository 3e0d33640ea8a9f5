"""Keeping backends off the gateway's origin: the sandbox headers and the gateway's cookies."""

from __future__ import annotations

from shared.proxy import forward_request_headers, sandboxed, strip_gateway_cookies


def test_the_gateways_cookies_are_stripped_by_prefix_and_the_rest_kept() -> None:
    headers = {"Cookie": "__Host-cg-signin=s; a=1;__HOST-cg-x=y ; b=2", "X": "y"}
    assert strip_gateway_cookies(headers) == {"Cookie": "a=1; b=2", "X": "y"}
    assert strip_gateway_cookies({"cookie": "__Host-cg-signin=s"}) == {}
    assert strip_gateway_cookies({"Cookie": "__Host-other=1"}) == {"Cookie": "__Host-other=1"}


def test_forwarded_request_headers_never_carry_the_gateways_cookies() -> None:
    outgoing = forward_request_headers({"Cookie": "__Host-cg-signin=s; a=1"}, (), client_ip=None, proto="https")
    assert outgoing["Cookie"] == "a=1"


def test_sandbox_headers_are_added_and_nosniff_replaces_the_backends() -> None:
    backend = [("Content-Security-Policy", "default-src 'self'"), ("x-content-type-options", "whatever")]
    assert sandboxed(backend) == [
        ("Content-Security-Policy", "default-src 'self'"),
        ("Content-Security-Policy", "sandbox"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    assert sandboxed(backend, sandbox=False) == backend
