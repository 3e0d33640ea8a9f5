"""Connections stored before reserved apiKey header names and unfit credential values were refused: their key
never frames the request, and a value the transport can't write is a 400 problem, not a 500."""

from __future__ import annotations

import pytest

from shared.auth_schemes import ApiKeyHeader, auth_for
from shared.connectors import AuthScheme, is_credential_header
from shared.problems import Problem


def _scheme(name: str) -> AuthScheme:
    return AuthScheme(kind="apiKey", supported=True, location="header", key_name=name, value_parameter="api_key")


@pytest.mark.parametrize("name", ["Transfer-Encoding", "HOST", "x-forwarded-for", "Connection", "a b", "X\r\nY"])
def test_a_reserved_header_name_is_a_409_at_call_time(name: str) -> None:
    assert not is_credential_header(name)
    with pytest.raises(Problem) as caught:
        auth_for(_scheme(name), {"api_key": "chunked"})
    assert caught.value.status == 409
    assert "chunked" not in str(caught.value.detail)


@pytest.mark.parametrize("name", ["Authorization", "X-Api-Key", "apikey", "api_key", "Ocp-Apim-Subscription-Key"])
def test_ordinary_names_carry_the_key(name: str) -> None:
    assert is_credential_header(name)
    assert isinstance(auth_for(_scheme(name), {"api_key": "k"}), ApiKeyHeader)


@pytest.mark.parametrize(
    ("scheme", "values"),
    [
        (_scheme("X-Api-Key"), {"api_key": "k\r\nX-Injected: 1"}),
        (_scheme("X-Api-Key"), {"api_key": "k\x00"}),
        (_scheme("X-Api-Key"), {"api_key": "ключ"}),
        (
            AuthScheme(kind="basic", supported=True, username_parameter="u", password_parameter="p"),
            {"u": "ann:admin", "p": "pw"},
        ),
        (
            AuthScheme(kind="basic", supported=True, username_parameter="u", password_parameter="p"),
            {"u": "ann", "p": "пароль"},
        ),
    ],
)
def test_a_stored_credential_a_header_cant_carry_is_a_400_not_a_500(scheme: AuthScheme, values: dict) -> None:
    with pytest.raises(Problem) as caught:
        auth_for(scheme, values)
    assert caught.value.status == 400
    assert all(str(value) not in str(caught.value.detail) for value in values.values())
