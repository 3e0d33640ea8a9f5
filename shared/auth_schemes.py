"""How a connection's credential is put on the outgoing request: one small AuthBase per scheme.

The proxy hands the request to `requests` with one of these as `auth=`, so the
credential is added last, after the caller's headers and query were filtered,
and always wins over anything the caller sent under the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from requests import PreparedRequest
from requests.auth import AuthBase, HTTPBasicAuth

from shared import problems
from shared.connectors import AuthScheme, credential_value_errors, is_credential_header
from shared.oauth import TokenSet


class ApiKeyHeader(AuthBase):
    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self.value = value

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers[self.header] = self.value
        return request


class ApiKeyQuery(AuthBase):
    def __init__(self, parameter: str, value: str) -> None:
        self.parameter = parameter
        self.value = value

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        scheme, netloc, path, query, fragment = urlsplit(request.url or "")
        # Any case variant goes: a backend reading names case-sensitively must never see the caller's Code=x
        # next to the gateway's code=KEY. (Headers need nothing: requests replaces them case-insensitively.)
        name = self.parameter.casefold()
        kept = [p for p in query.split("&") if p and unquote_plus(p.split("=", 1)[0]).casefold() != name]
        kept.append(f"{quote(self.parameter, safe='')}={quote(self.value, safe='')}")
        request.url = urlunsplit((scheme, netloc, path, "&".join(kept), fragment))
        return request


class BearerToken(AuthBase):
    """An OAuth access token, as RFC 6750 sends it."""

    def __init__(self, tokens: TokenSet) -> None:
        self.access_token = tokens.access_token
        self.token_type = "Bearer" if (tokens.token_type or "bearer").lower() == "bearer" else tokens.token_type

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"{self.token_type} {self.access_token}"
        return request


def _text(values: Mapping[str, Any], name: str | None) -> str:
    value = values.get(name or "")
    return "" if value is None else str(value)


def auth_for(scheme: AuthScheme, values: Mapping[str, Any]) -> AuthBase | None:
    """The AuthBase for a connection, given its parameter values (secret and plain together)."""
    if scheme.kind == "none":
        return None
    if credential_value_errors(scheme, dict(values)):
        # Stored before such values were refused: the transport would fail on it (or split the header at a CR/LF).
        raise problems.Problem(
            400,
            "header-rejected",
            "Bad request",
            "This connection's credential has characters its header can't carry; its owner must update it.",
        )
    if scheme.kind == "basic":
        return HTTPBasicAuth(_text(values, scheme.username_parameter), _text(values, scheme.password_parameter))
    if scheme.kind == "apiKey":
        value = _text(values, scheme.value_parameter)
        if scheme.location == "query":
            return ApiKeyQuery(scheme.key_name or "", value)
        if not is_credential_header(scheme.key_name or ""):
            # A snapshot stored before connectors with such a name were refused: never let a key frame the request.
            raise problems.Problem(
                409,
                "connector-misconfigured",
                "Connector misconfigured",
                "This connection's connector sends its key in a header the gateway reserves; its maker must fix it.",
            )
        return ApiKeyHeader(scheme.key_name or "", value)
    raise problems.not_implemented(f"Connections with {scheme.kind} authentication are not supported yet.")
