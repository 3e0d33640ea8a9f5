"""A connection whose snapshot names a reserved apiKey header (stored before such connectors were refused)
never lets its key frame the request."""

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
