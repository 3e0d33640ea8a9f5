"""Microsoft Entra ID token calls through msal (ConfidentialClientApplication / PublicClientApplication).

One msal application per call, over the gateway's own requests session: msal's token cache would
otherwise gather every user's tokens in memory. What is shared between calls is only msal's HTTP
cache of discovery documents (GETs); msal's throttling of error responses (POSTs) is left out, so a
retry after the refresh backoff really reaches Entra ID.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import msal
import requests

from shared.oauth._config import AAD_RESERVED_SCOPES
from shared.oauth._config_model import OAuthConfig
from shared.oauth._messages import ClientCredential
from shared.oauth._tokens import (
    OAuthError,
    ProviderAddressRefused,
    TokenSet,
    provider_error,
    safe_text,
    token_set_from_payload,
)
from shared.proxy._forward import ResponseTooLarge, bounded_request
from shared.proxy._transport import refused_address

MAX_RESPONSE_BYTES = 1 << 20  # discovery documents and token responses are a few KB

# oauth2cli logs a non-JSON token response's body at ERROR level.
logging.getLogger("msal.oauth2cli").setLevel(logging.CRITICAL)
# acquire_token_by_auth_code_flow, which msal would rather have us use, needs msal's own state and nonce;
# the gateway keeps its own state and sends no nonce.
warnings.filterwarnings(
    "ignore", message="Change your acquire_token_by_authorization_code", category=DeprecationWarning
)

_MSAL_INTERNAL_FIELDS = ("id_token_claims", "client_info", "token_source", "refresh_on")


class _DiscoveryCache(MutableMapping[str, Any]):
    """msal's http_cache, keeping discovery GETs only (never POST results: those are throttled errors).

    Shared by the per-call msal applications, each with its own lock: so each gets its own copy of msal's
    expiry index (a heap it mutates in place), and writes it back whole.
    """

    _INDEX = "_index_"  # msal's _ExpiringMapping._INDEX

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if key == self._INDEX:
            sequence, timestamps = value
            return list(sequence), dict(timestamps)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if not key.startswith("POST "):
            with self._lock:
                self._data[key] = value

    def __delitem__(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class _TimedHttp:
    """The session as msal's http_client: every call gets the timeout, no redirects, and its status is kept."""

    def __init__(self, session: requests.Session, timeout: Any) -> None:
        self._session = session
        self._timeout = timeout
        self.last_status: int | None = None
        self.last_headers: Mapping[str, str] = {}

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        response = bounded_request(
            self._session, method, url, max_bytes=MAX_RESPONSE_BYTES, allow_redirects=False, **kwargs
        )
        self.last_status, self.last_headers = response.status_code, response.headers
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._send("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self._send("POST", url, **kwargs)

    def close(self) -> None:  # the session belongs to the caller
        pass


def msal_scopes(config: OAuthConfig) -> list[str]:
    """The config's scopes less the ones msal adds itself (and refuses as input)."""
    return [scope for scope in config.scopes if scope.lower() not in AAD_RESERVED_SCOPES]


def msal_credential(credential: ClientCredential) -> str | dict[str, Any] | None:
    """A client secret as is; a certificate as msal wants it: {private_key (PEM), thumbprint[, passphrase]}."""
    if credential is None or isinstance(credential, str):
        return credential or None
    private_key = credential.get("private_key") or credential.get("privateKey")
    thumbprint = credential.get("thumbprint")
    if not private_key or not (thumbprint or credential.get("public_certificate")):
        raise OAuthError("invalid_client", "the certificate credential needs private_key and thumbprint")
    allowed = ("thumbprint", "passphrase", "public_certificate")
    return {"private_key": private_key, **{k: credential[k] for k in allowed if credential.get(k)}}


class AadTokens:
    """exchange_code / refresh / client_credentials for Entra ID v2 configs, via msal."""

    def __init__(self, session: requests.Session, timeout: Any, clock: Callable[[], float] = time.time) -> None:
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._discovery = _DiscoveryCache()

    def _app(self, config: OAuthConfig, credential: ClientCredential, http: _TimedHttp) -> msal.ClientApplication:
        where: dict[str, Any] = (
            {"oidc_authority": config.oidc_authority} if config.oidc_authority else {"authority": config.authority}
        )
        common = {"http_client": http, "http_cache": self._discovery, "instance_discovery": False, **where}
        secret = msal_credential(credential)
        if secret is None:
            return msal.PublicClientApplication(config.client_id, **common)
        return msal.ConfidentialClientApplication(config.client_id, client_credential=secret, **common)

    def _call(
        self,
        config: OAuthConfig,
        credential: ClientCredential,
        acquire: Callable[[msal.ClientApplication], Mapping[str, Any]],
        sent: list[str | None],
    ) -> TokenSet:
        http = _TimedHttp(self._session, self._timeout)
        secret = credential if isinstance(credential, str) else None
        try:
            app = self._app(config, credential, http)
            result = acquire(app)
        except ResponseTooLarge:
            raise OAuthError("invalid_response", f"Entra ID answered with over {MAX_RESPONSE_BYTES} bytes") from None
        except requests.RequestException as error:
            blocked = refused_address(error)
            if blocked is not None:  # the address guard: retrying won't change that
                raise ProviderAddressRefused(blocked.reason) from None
            raise OAuthError(
                "temporarily_unavailable", f"Entra ID could not be reached ({type(error).__name__})", transient=True
            ) from None
        except msal.exceptions.MsalServiceError:  # discovery or token endpoint answered 5xx
            raise OAuthError(
                "temporarily_unavailable", "Entra ID answered with a server error", http.last_status, transient=True
            ) from None
        except ValueError as error:  # discovery refused, a non-JSON answer, or an unusable certificate
            status = http.last_status
            if status is not None and (status >= 500 or status == 429):
                raise OAuthError("temporarily_unavailable", f"HTTP {status}", status) from None
            raise OAuthError(
                "invalid_request", safe_text(f"msal: {error}", [*sent, secret])[:200], status, transient=False
            ) from None
        if "error" in result:
            status = http.last_status or 400
            description = result.get("error_description")
            raise provider_error(config, str(result["error"]), description, status, http.last_headers, [*sent, secret])
        payload = {k: v for k, v in result.items() if k not in _MSAL_INTERNAL_FIELDS}
        return token_set_from_payload(config, payload, self._clock())

    def exchange_code(
        self, config: OAuthConfig, credential: ClientCredential, code: str, redirect_uri: str, verifier: str | None
    ) -> TokenSet:
        data = {"code_verifier": verifier} if verifier and config.pkce else {}
        return self._call(
            config,
            credential,
            lambda app: app.acquire_token_by_authorization_code(
                code, msal_scopes(config), redirect_uri=redirect_uri, data=data
            ),
            [code, verifier],
        )

    def refresh(self, config: OAuthConfig, credential: ClientCredential, refresh_token: str) -> TokenSet:
        return self._call(
            config,
            credential,
            lambda app: app.acquire_token_by_refresh_token(refresh_token, msal_scopes(config)),
            [refresh_token],
        )

    def client_credentials(self, config: OAuthConfig, credential: ClientCredential) -> TokenSet:
        if msal_credential(credential) is None:
            raise OAuthError("invalid_client", "client credentials need a client secret or certificate")
        return self._call(
            config,
            credential,
            lambda app: app.acquire_token_for_client(msal_scopes(config)),  # type: ignore[attr-defined]
            [],
        )
