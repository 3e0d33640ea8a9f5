"""backend_url: the caller's raw path/query never leaves the connector's backend, and legit paths pass raw."""

from __future__ import annotations

import pytest

from shared.problems import Problem
from shared.proxy import backend_url

BASE = "https://api.example.com:8443/base"

ESCAPES = [
    # host / scheme switches
    "//evil.com/x",
    "//evil.com",
    "/%2f%2fevil.com/x",
    "/%2F/evil.com",
    "%2f%2fevil.com",
    "/a//b",
    "\\\\evil.com",
    "\\evil.com",
    "/%5cevil.com",
    "/%5Cevil.com",
    "/a%5c..%5cb",
    "@evil.com",
    "/@evil.com",
    "user:pw@evil.com/x",
    "http://evil.com",
    "https://evil.com/x",
    "/http://evil.com",
    "/v1/HTTPS:%2f%2fevil.com",
    "/v1/redirect/http:evil.com",
    "javascript:alert(1)",
    "evil.com:443/x",
    # dot segments, every encoding
    "/..",
    "/../x",
    "/v1/../../x",
    "..",
    "../x",
    "/v1/%2e%2e/x",
    "/v1/%2E%2e/x",
    "/v1/.%2E/x",
    "/v1/%2e./x",
    "/v1/%252e%252e/x",
    "/v1/%25252e%25252e/x",
    "/v1/..%2fx",
    "/v1/%2e%2e%2fx",
    "/v1/..;/x",
    "/v1/..;jsessionid=1/x",
    "/v1/./x",
    "/v1/%2e/x",
    "/v1/.",
    "/v1/...",
    "/v1/\uff0e\uff0e/x",  # full-width dots NFKC-normalise to ".."
    # control characters, raw and encoded
    "/v1/%00",
    "/v1/a%00b",
    "/v1/%0d%0aX-Injected:%201",
    "/v1/%0D%0A",
    "/v1/a%09b",
    "/v1/a\tb",
    "/v1/a\r\nb",
    "/v1/a\x00b",
    "/v1/a%7fb",
    "/v1/%250d%250a",
    # fragment, query marker, broken escapes, too many layers
    "/v1/a#b",
    "/v1/a?b=1",
    "/v1/%zz",
    "/v1/100%",
    "/v1/%2",
    "/v1/%2525252525252e",
]

LEGIT_PATHS = [
    ("", "https://api.example.com:8443/base"),
    ("/", "https://api.example.com:8443/base/"),
    ("/v1/items", "https://api.example.com:8443/base/v1/items"),
    ("v1/items", "https://api.example.com:8443/base/v1/items"),
    ("/v1/items/a%20b", "https://api.example.com:8443/base/v1/items/a%20b"),
    ("/v1/items/a+b", "https://api.example.com:8443/base/v1/items/a+b"),
    ("/v1/items/%7Euser", "https://api.example.com:8443/base/v1/items/%7Euser"),
    ("/v1/items/caf%C3%A9", "https://api.example.com:8443/base/v1/items/caf%C3%A9"),
    ("/v1/items/café", "https://api.example.com:8443/base/v1/items/caf%C3%A9"),
    ("/v1/items/a b", "https://api.example.com:8443/base/v1/items/a%20b"),
    ("/v1/projects/group%2Fproject", "https://api.example.com:8443/base/v1/projects/group%2Fproject"),
    ("/v1/tags/c%23", "https://api.example.com:8443/base/v1/tags/c%23"),
    ("/v1/users/jane@contoso.com", "https://api.example.com:8443/base/v1/users/jane@contoso.com"),
    ("/v1/images:annotate", "https://api.example.com:8443/base/v1/images:annotate"),
    ("/images:annotate", "https://api.example.com:8443/base/images:annotate"),
    ("/v1/files/.profile", "https://api.example.com:8443/base/v1/files/.profile"),
    ("/v1/files/a..b", "https://api.example.com:8443/base/v1/files/a..b"),
    ("/v1/files/50%25off", "https://api.example.com:8443/base/v1/files/50%25off"),
    ("/v1/items;v=2", "https://api.example.com:8443/base/v1/items;v=2"),
]


@pytest.mark.parametrize("raw_path", ESCAPES)
def test_escape_attempts_are_rejected(raw_path: str) -> None:
    with pytest.raises(Problem) as caught:
        backend_url(BASE, raw_path, "")
    assert caught.value.status == 400
    assert caught.value.slug == "path-rejected"
    assert "evil" not in caught.value.detail  # the detail says what is wrong, it doesn't echo the path


@pytest.mark.parametrize(("raw_path", "expected"), LEGIT_PATHS)
def test_legit_paths_are_kept_raw(raw_path: str, expected: str) -> None:
    assert backend_url(BASE, raw_path, "") == expected


@pytest.mark.parametrize(
    ("base", "raw_path", "expected"),
    [
        ("https://h.example.com", "", "https://h.example.com/"),
        ("https://h.example.com/", "/x", "https://h.example.com/x"),
        ("https://h.example.com/api/", "/x", "https://h.example.com/api/x"),
        ("http://10.0.0.5:8080/api", "/x", "http://10.0.0.5:8080/api/x"),
        ("http://[::1]:8080/api", "/x", "http://[::1]:8080/api/x"),
        ("https://H.Example.com/Api", "/X", "https://H.Example.com/Api/X"),
    ],
)
def test_base_url_forms(base: str, raw_path: str, expected: str) -> None:
    assert backend_url(base, raw_path, "") == expected


@pytest.mark.parametrize(
    "base", ["ftp://h/x", "h.example.com/x", "https://u:p@h/x", "https://h/x?a=1", "https:///x", "https://h:99999/x"]
)
def test_unusable_base_url_is_a_configuration_error(base: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        backend_url(base, "/x", "")


@pytest.mark.parametrize(
    ("raw_query", "expected_query"),
    [
        ("", ""),
        ("y=1&y=2", "?y=1&y=2"),
        ("a=%2F%20b&c=x+y", "?a=%2F%20b&c=x+y"),
        ("flag&empty=&=v", "?flag&empty=&=v"),
        ("a=1&&b=2&", "?a=1&b=2"),
        ("q=caf\u00e9", "?q=caf%C3%A9"),
        ("q=a%0d%0ab", "?q=a%0d%0ab"),  # encoded CR/LF in a value is data, not a header break
        ("?a=1", "?a=1"),
    ],
)
def test_query_is_kept_byte_for_byte(raw_query: str, expected_query: str) -> None:
    assert backend_url(BASE, "/v1/x", raw_query) == BASE + "/v1/x" + expected_query


@pytest.mark.parametrize(
    "raw_query",
    [
        "subscription-key=SECRET&a=1",
        "a=1&subscription-key=SECRET",
        "a=1&Subscription-Key=SECRET",
        "a=1&subscription%2Dkey=SECRET",
        "a=1&subscription-key",
        "a=1&subscription-key=SECRET&subscription-key=OTHER",
    ],
)
def test_subscription_key_param_is_dropped(raw_query: str) -> None:
    url = backend_url(BASE, "/v1/x", raw_query, drop_query=["subscription-key"])
    assert url == BASE + "/v1/x?a=1"


def test_dropped_name_is_matched_on_its_decoded_form_only() -> None:
    url = backend_url(BASE, "/v1/x", "subscription-keys=1&my-subscription-key=2", drop_query=["subscription-key"])
    assert url == BASE + "/v1/x?subscription-keys=1&my-subscription-key=2"


def test_credential_param_is_appended_encoded() -> None:
    url = backend_url(BASE, "/v1/x", "a=1", add_query={"api key": "s3cr&t=/+"})
    assert url == BASE + "/v1/x?a=1&api%20key=s3cr%26t%3D%2F%2B"


def test_credential_param_overrides_a_caller_one() -> None:
    url = backend_url(BASE, "/v1/x", "code=CALLER&a=1&CODE=ALSO", add_query={"code": "REAL"})
    assert url == BASE + "/v1/x?a=1&code=REAL"
    assert "CALLER" not in url
    assert "ALSO" not in url


def test_empty_path_with_credential_only_query() -> None:
    assert backend_url(BASE, "", "", add_query={"key": "k"}) == BASE + "?key=k"


@pytest.mark.parametrize("raw_query", ["a=1\r\nHost: evil", "a=1\x00", "a=1#frag", "a=\t1"])
def test_query_with_raw_control_characters_or_fragment_is_rejected(raw_query: str) -> None:
    with pytest.raises(Problem) as caught:
        backend_url(BASE, "/v1/x", raw_query)
    assert caught.value.slug == "path-rejected"


@pytest.mark.parametrize(
    "joined",
    [
        "https://evil.com:8443/base/x",
        "http://api.example.com:8443/base/x",
        "https://api.example.com/base/x",
        "https://api.example.com:8444/base/x",
        "https://api.example.com:8443/other/x",
        "https://api.example.com:8443/basement",
        "https://u@api.example.com:8443/base/x",
        "https://api.example.com:8443/base/x#f",
        "https://api.example.com:99999/base/x",
    ],
)
def test_defence_in_depth_reparse_refuses_anything_outside_the_base(joined: str) -> None:
    from shared.proxy._urls import _assert_inside, _split_base

    base, base_path = _split_base(BASE)
    _assert_inside(BASE + "/x", base, base_path)  # the control case passes
    with pytest.raises(Problem, match="leave the connector"):
        _assert_inside(joined, base, base_path)
