"""Keeping backends off the gateway's origin: the sandbox headers and the gateway's cookies."""

from __future__ import annotations

import pytest

from shared.proxy import (
    forward_request_headers,
    gateway_link,
    gateway_location,
    sandboxed,
    scoped_cookies,
    strip_gateway_cookies,
)


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


INVOKE = "/api/connections/c1/invoke"


@pytest.mark.parametrize(
    ("cookie", "base_path", "scoped"),
    [
        ("a=1; Path=/v1/x; HttpOnly", "/v1", f"a=1; Path={INVOKE}/x; HttpOnly"),
        ("a=1; Path=/v1", "/v1/", f"a=1; Path={INVOKE}"),
        ("a=1; Path=/v1evil", "/v1", f"a=1; Path={INVOKE}"),
        ("a=1; Path=/", "/v1", f"a=1; Path={INVOKE}"),
        ("a=1", "/v1", f"a=1; Path={INVOKE}"),
        ("a=1; path=/x/", "", f"a=1; Path={INVOKE}/x"),
        ("a=1; Domain=.example.com; Secure; path=relative", "/v1", f"a=1; Path={INVOKE}; Secure"),
        ("__Host-cg-signin=x; Path=/; Secure", "/v1", None),
        ("__host-CG-anything=x", "/v1", None),
        ("__Host-session=x; Path=/; Secure", "/v1", None),
    ],
)
def test_backend_cookies_are_kept_to_the_connection(cookie: str, base_path: str, scoped: str | None) -> None:
    headers = [("Set-Cookie", cookie), ("X-Other", "Path=/; Domain=x")]
    expected = ([("Set-Cookie", scoped)] if scoped else []) + [("X-Other", "Path=/; Domain=x")]
    assert scoped_cookies(headers, INVOKE, base_path) == expected


CALLED = "https://api.example.com/v1/items?api_key=SECRET"
GATEWAY = ("https://gw.example.com/api/connections/c1/invoke/items", "https://gateway.contoso.com")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/v1/items/2?x=1#f", f"{INVOKE}/items/2?x=1#f"),
        ("2", f"{INVOKE}/2"),
        ("#top", f"{INVOKE}/items#top"),  # never the called URL's query: it holds the key
        ("?page=2", f"{INVOKE}/items?page=2"),
        ("HTTPS://API.example.com:443/v1", INVOKE),
        ("/v2/other", "https://api.example.com/v2/other"),
        ("http://api.example.com/v1/x", "http://api.example.com/v1/x"),  # another origin: http, not https
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),
        ("https://gw.example.com/api/connections", None),
        ("//GATEWAY.contoso.com/api/subscriptions", None),
        ("https://api.example.com:99999/", None),
    ],
)
def test_a_backend_location_is_resolved_the_way_the_backend_meant_it(location: str, expected: str | None) -> None:
    headers = [("Location", location), ("X-Other", "/v1/x")]
    result = gateway_location(headers, CALLED, "/v1", INVOKE, GATEWAY)
    assert result == ([("Location", expected)] if expected else []) + [("X-Other", "/v1/x")]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/v1/subscriptions/7", f"https://gw.example.com{INVOKE}/subscriptions/7"),
        ("https://api.example.com/v1/poll?state=3", f"https://gw.example.com{INVOKE}/poll?state=3"),
        ("/v2/outside-the-base-path", None),  # the backend, but not a path the connection can call
        ("https://elsewhere.example/hooks/7", None),  # another host: the flow would hand it its gateway credential
        ("http://api.example.com/v1/x", None),  # another origin (http)
        # The flow's client resolves `..` (and `\\`) before calling: another connection's invoke path.
        ("https://api.example.com/v1/../../c2/invoke/x", None),
        ("https://api.example.com/v1/x\\..\\..\\c2", None),
    ],
)
def test_a_trigger_location_becomes_the_gateway_url_or_goes(location: str, expected: str | None) -> None:
    headers = [("Location", location), ("Retry-After", "30")]
    result = gateway_location(headers, CALLED, "/v1", INVOKE, GATEWAY, trigger_origin="https://gw.example.com")
    assert result == ([("Location", expected)] if expected else []) + [("Retry-After", "30")]


def test_a_location_loses_the_query_parameters_that_carry_a_credential() -> None:
    """A trailing-slash redirect repeats the query it was called with, the connection's API key included."""
    hidden = {"api_key", "subscription-key"}
    for location, expected in [
        ("/v1/items/?page=2&API_KEY=secret&subscription-key=planted", f"{INVOKE}/items/?page=2"),
        ("https://elsewhere.example/x?api_key=secret&a=%C3%A9", "https://elsewhere.example/x?a=%C3%A9"),
    ]:
        assert gateway_location([("Location", location)], CALLED, "/v1", INVOKE, GATEWAY, drop_query=hidden) == [
            ("Location", expected)
        ]
    trigger = gateway_location(
        [("Location", "/v1/hooks/7?api_key=secret")], CALLED, "/v1", INVOKE, GATEWAY, "https://gw", hidden
    )
    assert trigger == [("Location", f"https://gw{INVOKE}/hooks/7")]
    # A control character in the query of a Location elsewhere: no header carries it.
    assert gateway_location([("Location", "https://elsewhere.example/x?a=\x7f")], CALLED, "/v1", INVOKE, GATEWAY) == []


def test_a_paging_link_becomes_the_gateway_url_only_inside_the_backend() -> None:
    gw = "https://gw.example.com"
    assert gateway_link("/v1/rooms?page=2", CALLED, "/v1", INVOKE, gw) == f"{gw}{INVOKE}/rooms?page=2"
    assert gateway_link("https://api.example.com/v1", CALLED, "/v1", INVOKE, gw) == f"{gw}{INVOKE}"
    for outside in ("/v2/rooms", "https://elsewhere.example/v1/rooms", "http://api.example.com/v1/x", "//[::1"):
        assert gateway_link(outside, CALLED, "/v1", INVOKE, gw) is None
    for escaping in ("https://api.example.com/v1/../../c2/invoke/x", "https://api.example.com/v1/%2e%2e/x"):
        assert gateway_link(escaping, CALLED, "/v1", INVOKE, gw) is None


def test_a_paging_link_loses_the_query_parameters_named_and_is_encoded() -> None:
    """A backend echoing the connection's API key in its next link must not show it to the caller."""
    link = "/v1/rooms/é x?page=2&API_KEY=SECRET&subscription-key=ATTACKER&q=a b"
    assert gateway_link(link, CALLED, "/v1", INVOKE, "https://gw", {"api_key", "subscription-key"}) == (
        f"https://gw{INVOKE}/rooms/%C3%A9%20x?page=2&q=a%20b"
    )
