"""Token responses: TokenSet, OAuthError, and the parsing of what token endpoints answer. Pure.

Providers differ in how they answer (JSON or form-encoded; errors with HTTP 200; errors as an
object; tokens nested in a sub-object; expires_in as a string, missing, or the legacy `expires`).
The parser takes the provider's quirks from the OAuthConfig. No error text ever carries a token,
a code or a client secret: descriptions come from the provider, are cut short, and have every
value the gateway sent (`sent_secrets`) blanked out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from shared.json_limits import nested_deeper_than
from shared.oauth._config_model import OAuthConfig

TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})
_CONSUMED_FIELDS = TOKEN_FIELDS | {"expires_in", "expires", "token_type", "scope"}
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
ALREADY_REVOKED_ERRORS = frozenset({"invalid_token"})  # RFC 7009 2.2: revoking an invalid token succeeds
_HTTP_TOKEN_TYPES = {"bearer": "Bearer", "dpop": "DPoP", "mac": "MAC", "pop": "PoP"}
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_DESCRIPTION = 300
_STATUS_ERRORS = {400: "invalid_request", 401: "invalid_client", 403: "access_denied", 429: "temporarily_unavailable"}


class OAuthError(Exception):
    """An OAuth failure. `error` is an RFC 6749 code ("invalid_grant", "invalid_client", "access_denied",
    "temporarily_unavailable", "invalid_response", ...); `transient` says a later retry may succeed."""

    def __init__(
        self,
        error: str,
        description: str = "",
        status: int | None = None,
        *,
        transient: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.status = status
        if transient is None:
            transient = (status is not None and (status >= 500 or status == 429)) or error in TRANSIENT_ERRORS
        self.transient = transient
        self.retry_after = retry_after
        super().__init__(f"{error}: {description}" if description else error)


class ProviderAddressRefused(OAuthError):
    """The identity provider's host resolves to an address the gateway's address guard refuses: nothing was sent,
    and no retry or credential changes that (the connector's endpoints do)."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid_request", "the identity provider's address is not allowed", transient=False)
        self.reason = reason  # e.g. "a loopback address": the guard's words, never the address itself


def safe_text(text: Any, sent_secrets: Iterable[str | None] = ()) -> str:
    """Provider text fit for an error message: one line, short, with every value we sent blanked out."""
    result = _CONTROL.sub(" ", str(text or ""))
    for secret in sent_secrets:
        if secret and len(secret) >= 4:
            result = result.replace(secret, "[redacted]")
    return result[:_MAX_DESCRIPTION].strip()


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint granted. `extra` holds the response's other fields (never a token)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # epoch seconds; None when the provider didn't say
    token_type: str = "Bearer"  # noqa: S105
    scope: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_secret(self) -> dict[str, Any]:
        """The JSON object to keep in Key Vault."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
            "scope": self.scope,
            "extra": self.extra,
        }

    @classmethod
    def from_secret(cls, stored: Mapping[str, Any]) -> TokenSet:
        """The inverse of to_secret. A malformed value is a server fault: ValueError."""
        access_token = stored.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("stored tokens have no access_token")
        expires_at = stored.get("expires_at")
        return cls(
            access_token=access_token,
            refresh_token=stored.get("refresh_token") or None,
            expires_at=float(expires_at) if expires_at is not None else None,
            token_type=stored.get("token_type") or "Bearer",
            scope=stored.get("scope"),
            extra=dict(stored.get("extra") or {}),
        )

    def merged_with(self, previous: TokenSet) -> TokenSet:
        """This (newer) grant over `previous`: a refresh response without a refresh token keeps the old one
        (RFC 6749 6: the server MAY issue a new one; a new one replaces it: rotation), one without scope keeps
        the old scope, and fields the refresh response left out (e.g. instance_url) are kept."""
        return replace(
            self,
            refresh_token=self.refresh_token or previous.refresh_token,
            scope=self.scope if self.scope is not None else previous.scope,
            extra={**previous.extra, **self.extra},
        )


# -- decoding ------------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((str(v) for k, v in headers.items() if k.lower() == name), "")


def decode_payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    """A response body as a dict: JSON, or form-encoded (GitHub without Accept: application/json)."""
    content_type = _header(headers, "content-type").lower()
    text = body.decode("utf-8", errors="replace").strip()
    if "json" in content_type or text.startswith("{"):
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # a hostile provider's nesting is an unreadable answer, not a crash
            return None
        return payload if isinstance(payload, dict) and not nested_deeper_than(payload) else None
    if ("form-urlencoded" in content_type or "text/plain" in content_type) and "=" in text and "<" not in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = _header(headers, "retry-after").strip()
    return float(value) if value.isdigit() else None


def _error_in(config: OAuthConfig, payload: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(provider error code, description) if the payload reports an error."""
    error = payload.get("error")
    if isinstance(error, Mapping):  # Facebook: {"error": {"message", "type", "code"}}
        return str(error.get("type") or "invalid_request"), error.get("message")
    if isinstance(error, str) and error:
        return error, payload.get("error_description")
    if config.success_field and str(payload.get(config.success_field, "")).lower() == "false":
        return "invalid_response", f"{config.success_field} is false"
    return None


def provider_error(
    config: OAuthConfig,
    code: str,
    description: Any,
    status: int,
    headers: Mapping[str, str],
    sent_secrets: Iterable[str | None],
) -> OAuthError:
    """An OAuthError from a provider's error code and text: code checked and aliased, text made safe."""
    code = code if _ERROR_CODE.fullmatch(code) else "invalid_response"
    text = safe_text(description, sent_secrets)
    mapped = config.error_aliases.get(code, code)
    if mapped != code:  # keep the provider's own code for people reading the reason
        text = f"{code}: {text}" if text else code
    return OAuthError(mapped, text, status, retry_after=_retry_after(headers))


def _status_error(status: int) -> str:
    if status >= 500:
        return "temporarily_unavailable"
    if 300 <= status < 400:
        return "invalid_response"  # token endpoints don't redirect; redirects aren't followed
    return _STATUS_ERRORS.get(status, "invalid_request" if status >= 400 else "invalid_response")


# -- token responses -----------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _expires_at(source: Mapping[str, Any], now: float) -> float | None:
    for key in ("expires_in", "expires"):  # "expires": Facebook's legacy name
        seconds = _number(source.get(key))
        if seconds is not None:
            return now + seconds
    return None


def _without_tokens(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_tokens(v) for k, v in value.items() if k not in TOKEN_FIELDS}
    if isinstance(value, list):
        return [_without_tokens(v) for v in value]
    return value


def token_set_from_payload(
    config: OAuthConfig, payload: Mapping[str, Any], now: float, status: int | None = None
) -> TokenSet:
    """A TokenSet from a successful token response's fields (`status` only goes into an OAuthError)."""
    source: Mapping[str, Any] = payload
    nested = payload.get(config.nested_token_field) if config.nested_token_field else None
    if not payload.get("access_token") and isinstance(nested, Mapping):
        source = nested  # Slack: a user-only grant has its token in authed_user
    access_token = source.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("invalid_response", "the token response has no access_token", status)
    refresh_token = source.get("refresh_token")
    scope = source.get("scope")
    if isinstance(scope, list):
        scope = config.scope_delimiter.join(str(s) for s in scope)
    extra = _without_tokens({k: v for k, v in payload.items() if k not in _CONSUMED_FIELDS})
    raw_type = str(source.get("token_type") or "bearer")
    token_type = _HTTP_TOKEN_TYPES.get(raw_type.lower())
    if token_type is None:  # Slack's "bot"/"user" name the kind of token; it is sent as a Bearer token
        token_type = "Bearer"  # noqa: S105
        extra["provider_token_type"] = raw_type
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        expires_at=_expires_at(source, now),
        token_type=token_type,
        scope=str(scope) if scope is not None else None,
        extra=extra,
    )


def parse_token_response(
    config: OAuthConfig,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    *,
    sent_secrets: Iterable[str | None] = (),
) -> TokenSet:
    """A token endpoint's answer as a TokenSet, or OAuthError. `sent_secrets` are blanked out of error texts."""
    payload = decode_payload(headers, body)
    error = _error_in(config, payload) if payload is not None else None
    if error is not None:
        raise provider_error(config, error[0], error[1], status, headers, sent_secrets)
    if not 200 <= status < 300:
        raise provider_error(config, _status_error(status), f"HTTP {status}", status, headers, ())
    if payload is None:
        raise OAuthError("invalid_response", "the token response is neither JSON nor form-encoded", status)
    return token_set_from_payload(config, payload, now, status)


def parse_revocation_response(
    config: OAuthConfig,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    sent_secrets: Iterable[str | None] = (),
) -> bool:
    """True: revoked (or already invalid). False: the provider doesn't revoke this kind of token. Else OAuthError."""
    payload = decode_payload(headers, body)
    error = _error_in(config, payload) if payload is not None else None
    if error is None and 200 <= status < 300:
        return True
    if error is None and status == 404 and config.revocation_style == "github":
        return True  # the grant is already gone
    code, description = error or (_status_error(status), f"HTTP {status}")
    failure = provider_error(config, code, description, status, headers, sent_secrets)
    if failure.error in ALREADY_REVOKED_ERRORS:
        return True
    if failure.error == "unsupported_token_type":
        return False
    raise failure
