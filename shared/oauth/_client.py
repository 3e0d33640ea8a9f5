"""OAuthClient: sends the prepared OAuth messages over the gateway's session and parses the answers.

Entra ID v2 configs (identityProvider aad, aadcertificate, microsoftaccount) go through msal
(_aad.py); everything else is a PreparedRequest from _messages.py sent as it is. The session is the
caller's (a BackendSession: no redirects followed, the address guard applies); each call has its
connect + read timeout in all and at most MAX_RESPONSE_BYTES of answer. Network failures and timeouts
become OAuthError("temporarily_unavailable", transient=True).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from shared.oauth._aad import AadTokens
from shared.oauth._config_model import OAuthConfig
from shared.oauth._messages import (
    ClientCredential,
    PreparedRequest,
    revocation_requests,
    token_request_for_client_credentials,
    token_request_for_code,
    token_request_for_refresh,
)
from shared.oauth._tokens import (
    OAuthError,
    ProviderAddressRefused,
    TokenSet,
    parse_revocation_response,
    parse_token_response,
)
from shared.proxy._forward import ResponseTooLarge, bounded_request
from shared.proxy._transport import refused_address

# A token response is a few KB; an identity provider answering more is broken or hostile.
MAX_RESPONSE_BYTES = 1 << 20


class OAuthClient:
    """Token endpoint calls. Thread-safe as far as the session is."""

    def __init__(
        self,
        session: requests.Session,
        timeout: Any = (5, 30),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._aad = AadTokens(session, timeout, clock)

    def _send(self, request: PreparedRequest) -> requests.Response:
        try:
            return bounded_request(
                self._session,
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=self._timeout,
                max_bytes=MAX_RESPONSE_BYTES,
                allow_redirects=False,
            )
        except ResponseTooLarge:
            raise OAuthError(
                "invalid_response", f"the identity provider answered with over {MAX_RESPONSE_BYTES} bytes"
            ) from None
        except requests.RequestException as error:
            blocked = refused_address(error)
            if blocked is not None:
                raise ProviderAddressRefused(blocked.reason) from None
            raise OAuthError(
                "temporarily_unavailable",
                f"the identity provider could not be reached ({type(error).__name__})",
                transient=True,
            ) from None

    def _token(self, config: OAuthConfig, request: PreparedRequest) -> TokenSet:
        response = self._send(request)
        return parse_token_response(
            config,
            response.status_code,
            response.headers,
            response.content,
            self._clock(),
            sent_secrets=request.secrets,
        )

    def exchange_code(
        self,
        config: OAuthConfig,
        client_secret: ClientCredential,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
    ) -> TokenSet:
        """The authorization code (and the PKCE verifier) for tokens. `redirect_uri` exactly as in the sign-in."""
        if config.uses_msal:
            return self._aad.exchange_code(config, client_secret, code, redirect_uri, code_verifier)
        return self._token(config, token_request_for_code(config, client_secret, code, redirect_uri, code_verifier))

    def refresh(
        self, config: OAuthConfig, client_secret: ClientCredential, refresh_token: str, redirect_uri: str = ""
    ) -> TokenSet:
        """New tokens for a refresh token. Merge the result over the old set (TokenSet.merged_with)."""
        if config.uses_msal:
            return self._aad.refresh(config, client_secret, refresh_token)
        return self._token(config, token_request_for_refresh(config, client_secret, refresh_token, redirect_uri))

    def client_credentials(self, config: OAuthConfig, client_secret_or_certificate: ClientCredential) -> TokenSet:
        """An app-only token (RFC 6749 4.4); for aadcertificate, the credential is {private_key, thumbprint}."""
        if config.uses_msal:
            return self._aad.client_credentials(config, client_secret_or_certificate)
        return self._token(config, token_request_for_client_credentials(config, client_secret_or_certificate))

    def revoke(self, config: OAuthConfig, client_secret: ClientCredential, token_set: TokenSet) -> bool:
        """Revoke a grant (RFC 7009: refresh token first, then access token). False when the provider offers
        no revocation (or revokes none of these tokens); OAuthError when it refuses or can't be reached."""
        revoked = False
        for request in revocation_requests(config, client_secret, token_set):
            response = self._send(request)
            revoked |= parse_revocation_response(
                config, response.status_code, response.headers, response.content, sent_secrets=request.secrets
            )
        return revoked
