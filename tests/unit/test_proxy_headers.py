"""Header filtering: hop-by-hop and gateway credentials stay behind, X-Forwarded-* are set, the rest passes."""

from __future__ import annotations

import pytest
from urllib3 import HTTPHeaderDict

from shared.proxy import forward_request_headers, forward_response_headers

HOP_BY_HOP_NAMES = [
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Trailers",
    "Transfer-Encoding",
    "Upgrade",
]


def _request(incoming: dict[str, str], consumed: tuple[str, ...] = (), client_ip: str | None = None) -> dict[str, str]:
    return forward_request_headers(incoming, consumed, client_ip, "https")


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize("name", HOP_BY_HOP_NAMES)
@pytest.mark.parametrize("spelling", [str, str.lower, str.upper])
def test_request_hop_by_hop_headers_are_stripped(name: str, spelling) -> None:
    out = _request({spelling(name): "x", "X-Keep": "1"})
    assert name.lower() not in _lower(out)
    assert out["X-Keep"] == "1"


def test_request_names_listed_in_connection_are_stripped() -> None:
    out = _request({"Connection": "close, X-Hop , x-other", "X-Hop": "1", "X-Other": "2", "X-Stay": "3"})
    assert set(_lower(out)) >= {"x-stay"}
    assert not {"connection", "x-hop", "x-other"} & set(_lower(out))


@pytest.mark.parametrize("name", ["Host", "host", "Content-Length", "content-length"])
def test_request_host_and_content_length_are_stripped(name: str) -> None:
    assert name.lower() not in _lower(_request({name: "12"}))


def test_request_consumed_credentials_are_stripped_case_insensitively() -> None:
    out = _request(
        {"authorization": "Bearer gateway-jwt", "OCP-APIM-SUBSCRIPTION-KEY": "k", "X-Api-Version": "2"},
        consumed=("Authorization", "Ocp-Apim-Subscription-Key"),
    )
    assert _lower(out) == {"x-api-version": "2", "x-forwarded-proto": "https", "accept-encoding": "identity"}


def test_request_authorization_passes_when_not_consumed() -> None:
    assert _request({"Authorization": "Basic abc"})["Authorization"] == "Basic abc"


@pytest.mark.parametrize(
    ("existing", "client_ip", "expected"),
    [
        (None, None, None),
        (None, "203.0.113.7", "203.0.113.7"),
        ("198.51.100.1", "203.0.113.7", "198.51.100.1, 203.0.113.7"),
        ("198.51.100.1,  10.0.0.2", "203.0.113.7", "198.51.100.1, 10.0.0.2, 203.0.113.7"),
        ("198.51.100.1, 203.0.113.7", "203.0.113.7", "198.51.100.1, 203.0.113.7"),
        ("203.0.113.7, 198.51.100.1", "203.0.113.7", "203.0.113.7, 198.51.100.1, 203.0.113.7"),
        ("198.51.100.1", None, "198.51.100.1"),
    ],
)
def test_request_x_forwarded_for(existing: str | None, client_ip: str | None, expected: str | None) -> None:
    incoming = {"x-forwarded-for": existing} if existing else {}
    out = _lower(_request(incoming, client_ip=client_ip))
    assert out.get("x-forwarded-for") == expected


def test_request_x_forwarded_proto_is_set_and_overrides_the_caller() -> None:
    out = forward_request_headers({"X-Forwarded-Proto": "gopher"}, (), None, "http")
    assert _lower(out)["x-forwarded-proto"] == "http"
    assert list(_lower(out)).count("x-forwarded-proto") == 1


def test_request_accept_encoding_defaults_to_identity() -> None:
    assert _request({})["Accept-Encoding"] == "identity"


def test_request_caller_accept_encoding_is_kept() -> None:
    out = _request({"accept-encoding": "gzip, br"})
    assert _lower(out)["accept-encoding"] == "gzip, br"
    assert len([n for n in out if n.lower() == "accept-encoding"]) == 1


def test_request_everything_else_passes_untouched() -> None:
    incoming = {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "*/*",
        "User-Agent": "PowerApps/1.0",
        "Cookie": "a=1; b=2",
        "X-Custom": "  spaced value ",
        "If-None-Match": '"etag"',
    }
    out = _request(incoming)
    assert {name: out[name] for name in incoming} == incoming


def test_request_works_with_azure_functions_headers() -> None:
    import azure.functions as func

    request = func.HttpRequest(
        "GET", "http://gw/api/x", headers={"Host": "gw", "X-Thing": "1", "Connection": "keep-alive"}, body=b""
    )
    assert _lower(_request(request.headers)) == {
        "x-thing": "1",
        "x-forwarded-proto": "https",
        "accept-encoding": "identity",
    }


def test_response_hop_by_hop_and_content_length_are_stripped() -> None:
    backend = [(name, "x") for name in HOP_BY_HOP_NAMES] + [("Content-Length", "10"), ("X-Ok", "1")]
    assert forward_response_headers(backend) == [("X-Ok", "1")]


def test_response_names_listed_in_connection_are_stripped() -> None:
    backend = [("Connection", "X-Hop"), ("X-Hop", "1"), ("Content-Type", "text/plain")]
    assert forward_response_headers(backend) == [("Content-Type", "text/plain")]


def test_response_keeps_content_encoding_and_repeated_headers_separately() -> None:
    raw = HTTPHeaderDict()
    raw.add("Content-Encoding", "gzip")
    raw.add("Set-Cookie", "a=1; Path=/")
    raw.add("Set-Cookie", "b=2, with comma; Expires=Wed, 21 Oct 2026 07:28:00 GMT")
    raw.add("Content-Length", "42")
    assert forward_response_headers(raw) == [
        ("Content-Encoding", "gzip"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2, with comma; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
    ]


def test_response_accepts_a_plain_mapping() -> None:
    assert forward_response_headers({"ETag": '"1"', "transfer-encoding": "chunked"}) == [("ETag", '"1"')]


# The request headers App Service's front end, Easy Auth and Front Door add, in the forms they send them.
PLATFORM_HEADERS = {
    "X-Original-URL": "/api/connections/c1/invoke/x?subscription-key=secret",
    "X-WAWS-Unencoded-URL": "/api/connections/c1/invoke/x?subscription-key=secret",
    "X-ARR-LOG-ID": "0b6e8f8e-1f0b-4c7a-9c1d-2a5b7e0d9f11",
    "X-ARR-SSL": "2048|256|CN=Microsoft Azure RSA TLS Issuing CA 03, O=Microsoft Corporation, C=US"
    "|CN=*.azurewebsites.net",
    "X-ARR-ClientCert": "MIIB...",
    "X-Site-Deployment-Id": "gateway",
    "Disguised-Host": "gateway.azurewebsites.net",
    "WAS-DEFAULT-HOSTNAME": "gateway.azurewebsites.net",
    "Client-IP": "203.0.113.7:50123",
    "X-Client-IP": "203.0.113.7",
    "X-Client-Port": "50123",
    "X-AppService-Proto": "https",
    "X-Forwarded-TlsVersion": "1.3",
    "X-Forwarded-Host": "gateway.example.com",
    "Max-Forwards": "10",
    "X-MS-CLIENT-PRINCIPAL": "eyJ...",
    "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-000000000001",
    "X-MS-TOKEN-AAD-ACCESS-TOKEN": "eyJ...",
    "X-Azure-FDID": "f00",
    "Forwarded": "for=203.0.113.7",
}


@pytest.mark.parametrize("name", sorted(PLATFORM_HEADERS))
@pytest.mark.parametrize("spelling", [str, str.lower])
def test_request_platform_headers_never_reach_the_backend(name: str, spelling) -> None:
    out = _lower(_request({spelling(name): PLATFORM_HEADERS[name], "X-Keep": "1", "x-ms-version": "2024-11-04"}))
    assert name.lower() not in out
    assert out["x-keep"] == "1" and out["x-ms-version"] == "2024-11-04"  # x-ms-* of the backend's own API stays


def test_request_with_every_platform_header_keeps_only_the_rebuilt_forwarding_pair() -> None:
    out = _lower(_request({**PLATFORM_HEADERS, "X-Forwarded-For": "203.0.113.7:50123"}, client_ip="203.0.113.7"))
    assert out == {
        "x-forwarded-for": "203.0.113.7:50123, 203.0.113.7",
        "x-forwarded-proto": "https",
        "accept-encoding": "identity",
    }
    assert "secret" not in repr(out)


def test_caller_response_headers_join_repeats_but_keep_each_cookie() -> None:
    from shared.proxy import caller_response_headers

    backend = [
        ("Set-Cookie", "a=1; Path=/"),
        ("Vary", "Accept"),
        ("Set-Cookie", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
        ("vary", "Origin"),
        ("RateLimit-Remaining", "99"),
    ]
    out = caller_response_headers(backend, {"RateLimit-Remaining": "4"})
    assert list(out.items()) == [
        ("Vary", "Accept, Origin"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
        ("RateLimit-Remaining", "4"),
    ]


@pytest.mark.parametrize(
    "header",
    [
        ("Set-Cookie", "a=1; Expires=never"),  # the worker's dateutil parse raises
        ("Set-Cookie", "a=1; Max-Age=-1"),  # ASP.NET writes Max-Age as a non-negative integer
        ("Set-Cookie", "a=1; Max-Age=soon"),
        ("Set-Cookie", "a=1; Max-Age=nan"),
        ("X-Name", "caf\xe9"),  # a latin-1 byte from the backend: Kestrel refuses non-ASCII values
        ("X-Bell", "a\x07b"),
    ],
)
def test_caller_response_headers_drop_what_the_functions_host_would_fail_on(header: tuple[str, str]) -> None:
    from shared.proxy import caller_response_headers

    kept = ("Set-Cookie", "ok=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=60")
    assert list(caller_response_headers([header, kept]).items()) == [kept]
