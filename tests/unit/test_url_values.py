"""Values in URL templates: the position each placeholder fills, and what may go there."""

from __future__ import annotations

import pytest

from shared.proxy import HOST_DECIDING, Position, UnsafeValue, check_value, positions, render_url_template


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("https://{Sub}.example.com/t", Position.LABEL),
        ("https://api.{Sub}.example.com/t", Position.LABEL),
        ("https://{Org}-api.example.com/t", Position.LABEL_PART),
        ("https://accounts.zoho{Region}/t", Position.LABEL_PART),
        ("https://{Host}/t", Position.HOST),
        ("https://{Host}:8443/t", Position.HOST_NO_PORT),
        ("https://idp.example.com:{Port}/t", Position.PORT),
        ("{LoginUri}/common/oauth2/token", Position.ORIGIN),
        ("{TokenUrl}", Position.ORIGIN),
        ("https://idp.example.com/{Tenant}/token", Position.PATH_SEGMENT),
        ("https://idp.example.com/v{Version}/token", Position.PATH_PART),
        ("https://idp.example.com/t?resource={Resource}", Position.QUERY),
        ("https://idp.example.com/t#{Fragment}", Position.QUERY),
    ],
)
def test_each_placeholder_gets_the_position_it_fills(template, expected) -> None:
    [(_, position)] = positions(template)
    assert position is expected


@pytest.mark.parametrize(
    ("position", "good", "bad"),
    [
        (Position.LABEL, ["contoso", "eu-1", "a"], ["a.b", "-a", "a-", "a/b", "a?", "a#", "a@b", "a:1", "x" * 64, "é"]),
        (Position.LABEL_PART, ["eu", "-1"], ["a.b", "a/", "a:1"]),
        (Position.HOST, ["idp.example.com", "idp.example.com:8443", "[::1]:8443", "10.0.0.1"], ["a/b", "a@b", "a:0"]),
        (Position.HOST_NO_PORT, ["idp.example.com"], ["idp.example.com:1", "a?"]),
        (Position.PORT, ["443", "65535"], ["0", "65536", "1/", "a"]),
        (
            Position.ORIGIN,
            ["https://login.example.com", "http://127.0.0.1:9/x/"],
            ["ftp://x", "https://u@x", "https://x?y", "https://x#y", "https://x//y", "https://x/../y", "x"],
        ),
        (Position.PATH_SEGMENT, ["common", "contoso.onmicrosoft.com", "a@b"], ["a/b", "..", ".", "a?b", "a#", "a b"]),
    ],
)
def test_values_fit_their_position_or_are_refused(position, good, bad) -> None:
    for value in good:
        assert check_value(value, position) == value
    for value in bad:
        with pytest.raises(UnsafeValue):
            check_value(value, position, "X")


def test_query_values_are_encoded_and_trusted_values_may_span_labels() -> None:
    assert check_value("a&b=c d", Position.QUERY) == "a%26b%3Dc%20d"
    assert check_value(".com.au", Position.LABEL_PART, trusted=True) == ".com.au"
    with pytest.raises(UnsafeValue):
        check_value(".com/x?", Position.LABEL_PART, trusted=True)


def test_render_reports_which_values_decided_the_host() -> None:
    url, deciding = render_url_template(
        "https://{Host}/{Tenant}/t?x={Q}", {"host": "idp.example.com", "tenant": "t1", "q": "a b"}
    )
    assert url == "https://idp.example.com/t1/t?x=a%20b"
    assert deciding == {"host"}
    assert Position.LABEL not in HOST_DECIDING


def test_a_trusted_value_that_leaves_an_empty_label_is_refused() -> None:
    with pytest.raises(UnsafeValue):
        render_url_template("https://accounts.zoho.{Region}/t", {"region": ".eu"}, {"region"})
