"""OAuth 2.0 requests, prepared but not sent. Pure: the same inputs give the same request.

Standard messages follow RFC 6749 (authorization code, refresh, client credentials), RFC 7636
(PKCE, S256 only) and RFC 7009 (revocation); Authlib builds the authorization URL and the PKCE
challenge. oauth2generic connectors' own query and body templates replace the standard ones where
the connector gives them. Parsing the answers is _tokens.py's job.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

import shared.oauth._generic as _generic
from shared.oauth._config import AAD_RESERVED_SCOPES
from shared.oauth._config_model import OAuthConfig, OAuthConfigError
from shared.oauth._tokens import OAuthError, TokenSet

FORM = "application/x-www-form-urlencoded"
GITHUB_API_VERSION = "2022-11-28"

ClientCredential = str | Mapping[str, Any] | None  # a client secret, an aadcertificate dict, or None (public)


@dataclass(frozen=True)
class PreparedRequest:
    """An HTTP request to an identity provider. Its repr shows neither headers, body nor query: they hold secrets."""

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: dict[str, str] | bytes | None = field(repr=False)

    def __repr__(self) -> str:
        return f"PreparedRequest({self.method} {self.url.split('?', 1)[0]})"

    @property
    def secrets(self) -> list[str]:
        """Values in this request an error text must never show."""
        values = list(self.body.values()) if isinstance(self.body, dict) else []
        authorization = self.headers.get("Authorization", "")
        return [*values, authorization.partition(" ")[2]]


def new_pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge). The verifier is 64 URL-safe characters (RFC 7636: 43-128)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def scope_text(config: OAuthConfig, *, sign_in: bool = False) -> str:
    """The scopes joined with the provider's delimiter. Entra ID sign-ins also ask for the OIDC/refresh scopes."""
    scopes = list(config.scopes)
    if sign_in and config.protocol == "aad" and config.aad_version != "v1":
        scopes += [scope for scope in AAD_RESERVED_SCOPES if scope not in scopes]
    return config.scope_delimiter.join(scopes)


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 2.3.1: both parts form-encoded before Base64.
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _token_headers(config: OAuthConfig) -> dict[str, str]:
    headers = {"Content-Type": FORM}
    if config.accept_json:
        headers["Accept"] = "application/json"
    return headers


def _with_client_auth(
    config: OAuthConfig, credential: ClientCredential, headers: dict[str, str], body: dict[str, str]
) -> None:
    if isinstance(credential, Mapping) or config.token_auth == "private_key_jwt":  # noqa: S105
        raise OAuthError(
            "invalid_client", "certificate credentials work only with Entra ID v2 connectors", transient=False
        )
    if not credential:  # a public client: PKCE is its proof
        body["client_id"] = config.client_id
    elif config.token_auth == "client_secret_basic":  # noqa: S105
        headers["Authorization"] = _basic(config.client_id, credential)
    else:
        body.update(client_id=config.client_id, client_secret=credential)


def _generic_request(
    config: OAuthConfig, kind: str, credential: ClientCredential, **message: str
) -> PreparedRequest | None:
    """oauth2generic: the token or refresh request from the connector's body template, if it has one."""
    template = config.templates.get(f"{kind}Body")
    if config.protocol != "oauth2generic" or template is None:
        return None
    if isinstance(credential, Mapping):
        raise OAuthError("invalid_client", "certificate credentials work only with Entra ID v2 connectors")
    values = _generic.message_values(
        client_id=config.client_id,
        client_secret=credential,
        scopes=scope_text(config),
        template_values=config.template_values,
        **message,
    )
    url = config.refresh_url if kind == "refresh" else config.token_url
    query = config.templates.get(f"{kind}Query")
    if query is not None:
        url = _generic.with_query(url, _generic.render_encoded(query, values))
    body = _generic.render_encoded(template, values).encode("utf-8")
    return PreparedRequest("POST", url, {"Content-Type": FORM, "Accept": "application/json"}, body)


def _standard_request(
    config: OAuthConfig, kind: str, credential: ClientCredential, body: dict[str, str]
) -> PreparedRequest:
    url = config.refresh_url if kind == "refresh" else config.token_url
    query = config.templates.get(f"{kind}Query") if config.protocol == "oauth2generic" else None
    if query is not None:
        values = _generic.message_values(
            client_id=config.client_id, client_secret=None, template_values=config.template_values
        )
        url = _generic.with_query(url, _generic.render_encoded(query, values))
    headers = _token_headers(config)
    body = {**body, **config.token_params}
    _with_client_auth(config, credential, headers, body)
    return PreparedRequest("POST", url, headers, body)


def authorization_url(config: OAuthConfig, redirect_uri: str, state: str, code_challenge: str | None = None) -> str:
    """Where to send the person to sign in. The challenge is sent only when the config uses PKCE."""
    if config.grant_type != "authorization_code":
        raise OAuthConfigError("a client_credentials connector has no sign-in")
    template = config.templates.get("authorizationQuery") if config.protocol == "oauth2generic" else None
    if template is not None:
        values = _generic.message_values(
            client_id=config.client_id,
            client_secret=None,  # never into a browser URL, whatever the template says
            redirect_url=redirect_uri,
            scopes=scope_text(config, sign_in=True),
            state=state,
            template_values=config.template_values,
        )
        return _generic.with_query(config.authorization_url, _generic.render_encoded(template, values))
    extra: dict[str, str] = dict(config.authorize_params)
    if code_challenge and config.pkce:
        extra.update(code_challenge=code_challenge, code_challenge_method="S256")
    scope = scope_text(config, sign_in=True) or None
    return prepare_grant_uri(config.authorization_url, config.client_id, "code", redirect_uri, scope, state, **extra)


def token_request_for_code(
    config: OAuthConfig, client_secret: ClientCredential, code: str, redirect_uri: str, verifier: str | None
) -> PreparedRequest:
    """RFC 6749 4.1.3 (with RFC 7636's code_verifier when the config uses PKCE)."""
    generic = _generic_request(config, "token", client_secret, code=code, redirect_url=redirect_uri)
    if generic is not None:
        return generic
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier and config.pkce:
        body["code_verifier"] = verifier
    if config.protocol == "aad" and config.aad_version != "v1":
        body["scope"] = scope_text(config, sign_in=True)
    return _standard_request(config, "token", client_secret, body)


def token_request_for_refresh(
    config: OAuthConfig, client_secret: ClientCredential, refresh_token: str, redirect_uri: str = ""
) -> PreparedRequest:
    """RFC 6749 6. `redirect_uri` only matters to oauth2generic refresh templates naming {RedirectUrl}."""
    generic = _generic_request(config, "refresh", client_secret, refresh_token=refresh_token, redirect_url=redirect_uri)
    if generic is not None:
        return generic
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if config.protocol == "aad" and config.aad_version != "v1":
        body["scope"] = scope_text(config, sign_in=True)
    return _standard_request(config, "refresh", client_secret, body)


def token_request_for_client_credentials(config: OAuthConfig, client_secret: ClientCredential) -> PreparedRequest:
    """RFC 6749 4.4."""
    generic = _generic_request(config, "token", client_secret)
    if generic is not None:
        return generic
    body = {"grant_type": "client_credentials"}
    if config.scopes:
        body["scope"] = scope_text(config)
    return _standard_request(config, "token", client_secret, body)


def revocation_requests(
    config: OAuthConfig, client_secret: ClientCredential, tokens: TokenSet
) -> list[PreparedRequest]:
    """The requests that revoke a grant, in order; [] when the provider has no revocation endpoint.

    rfc7009: the refresh token first (that ends the grant at most providers), then the access token.
    github: DELETE /applications/{client_id}/grant with Basic client auth. bearer: the access token
    authenticates its own revocation (Dropbox, Slack).
    """
    url = config.revocation_url
    if not url:
        return []
    if config.revocation_style == "github":
        if not isinstance(client_secret, str) or not client_secret:
            return []  # GitHub authenticates the app; without its secret nothing can be revoked
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
            "Content-Type": "application/json",
            "Authorization": _basic(config.client_id, client_secret),
        }
        return [PreparedRequest("DELETE", url, headers, json.dumps({"access_token": tokens.access_token}).encode())]
    if config.revocation_style == "bearer":
        return [PreparedRequest("POST", url, {"Authorization": f"Bearer {tokens.access_token}"}, None)]
    requests: list[PreparedRequest] = []
    for token, hint in ((tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")):
        if token:
            headers = _token_headers(config)
            body = {"token": token, "token_type_hint": hint}
            _with_client_auth(config, client_secret, headers, body)
            requests.append(PreparedRequest("POST", url, headers, body))
    return requests
