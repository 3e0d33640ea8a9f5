"""Bearer JWT validation, modelled on Azure API Management's validate-jwt policy.

Trusted issuers come in two kinds: discovered (AUTH_OIDC_ISSUERS; keys from the issuer's
OpenID discovery, see _jwt_keys) and static (AUTH_OIDC_STATIC_ISSUERS; keys from
AUTH_OIDC_SIGNING_KEYS). Either may be an Entra multi-tenant template containing `{tenantid}`:
it stands for one issuer per tenant of AUTH_ENTRA_TENANTS, each discovered at its own
per-tenant metadata (never `common`, whose issuer is the unfilled template), and a token from
it must carry that tenant's `tid`. All cryptography is PyJWT's; this module only decides which
key and which rules apply.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import requests

from shared.callers._jwt_keys import (
    ALLOWED_ALGORITHMS,
    Clock,
    IssuerSigningKeys,
    SigningKeysUnavailable,
    StaticSigningKeys,
    require_trusted_issuer_url,
)
from shared.callers._jwt_policy import (
    TENANT_PLACEHOLDER,
    RequiredClaim,
    TokenRejected,
    check_issuer_template,
    issuer_for_tenant,
    tenant_in_issuer,
)
from shared.callers._principal import Principal, principal_from_claims
from shared.settings import Settings, SettingsError

__all__ = ["ALLOWED_ALGORITHMS", "Clock", "JwtValidator", "SigningKeysUnavailable", "TokenRejected"]

MAX_TOKEN_CHARS = 16 * 1024
_ALGORITHM_NOT_ALLOWED = f"The token's signing algorithm is not allowed; use one of {', '.join(ALLOWED_ALGORITHMS)}."


def rejection_reason(error: jwt.PyJWTError) -> str:
    """A fixed sentence per failure. PyJWT's own messages can quote token parts, so they aren't shown."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return "The token has expired."
    if isinstance(error, jwt.ImmatureSignatureError):
        return "The token is not valid yet (its nbf or iat is in the future)."
    if isinstance(error, jwt.InvalidAudienceError):
        return "The token's audience is not accepted."
    if isinstance(error, jwt.InvalidIssuerError):
        return "The token's issuer is not trusted."
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The token lacks the required '{error.claim}' claim."
    if isinstance(error, jwt.InvalidAlgorithmError):
        return _ALGORITHM_NOT_ALLOWED
    if isinstance(error, jwt.InvalidSignatureError):
        return "The token's signature is invalid."
    if isinstance(error, jwt.InvalidKeyError):
        return "The issuer's signing key is unusable (malformed or too short)."
    if isinstance(error, jwt.DecodeError):
        return "The token is malformed."
    return "The token is invalid."


# --- trusted issuers --------------------------------------------------------------------------


class KeySource(Protocol):
    def candidates(self, kid: str | None, algorithm: str, issuer: str, tenant: str | None) -> list[jwt.PyJWK]: ...


@dataclass(frozen=True)
class TrustedIssuer:
    keys: KeySource
    tenant: str | None = None  # set for an issuer filled in from a template: its tokens' `tid`


class TrustedIssuers:
    """Every accepted `iss` value with its keys. Templates are expanded per allowed tenant up front,
    so an attacker's `tid` can never make the gateway contact a new URL."""

    def __init__(
        self,
        discovered: Iterable[str],
        static: Iterable[str],
        static_keys: Iterable[str],
        tenants: Iterable[str],
        session: requests.Session,
        clock: Clock,
    ) -> None:
        # Repeats within one list are harmless; the same issuer in both lists is a mistake (below).
        discovered, static = tuple(dict.fromkeys(discovered)), tuple(dict.fromkeys(static))
        tenants = tuple(tenants)
        for issuer in discovered:
            check_issuer_template("AUTH_OIDC_ISSUERS", issuer)
            require_trusted_issuer_url(issuer)
        for issuer in static:
            check_issuer_template("AUTH_OIDC_STATIC_ISSUERS", issuer)
        static_keys = tuple(static_keys)
        if bool(static) != bool(static_keys):
            raise SettingsError("AUTH_OIDC_STATIC_ISSUERS and AUTH_OIDC_SIGNING_KEYS must be set together")
        self._templates = tuple(issuer for issuer in (*discovered, *static) if TENANT_PLACEHOLDER in issuer)
        if self._templates and not tenants:
            raise SettingsError(
                f"AUTH_ENTRA_TENANTS must list the accepted tenants of issuers with {TENANT_PLACEHOLDER}"
            )
        shared_static_keys = StaticSigningKeys(static_keys)
        self._issuers: dict[str, TrustedIssuer] = {}
        for template in (*discovered, *static):
            is_template = TENANT_PLACEHOLDER in template
            for tenant in tenants if is_template else (None,):
                issuer = issuer_for_tenant(template, tenant) if tenant else template
                if issuer in self._issuers:
                    raise SettingsError(
                        f"Issuer {issuer!r} is trusted twice (AUTH_OIDC_ISSUERS, AUTH_OIDC_STATIC_ISSUERS)"
                    )
                keys = shared_static_keys if template in static else IssuerSigningKeys(issuer, session, clock)
                self._issuers[issuer] = TrustedIssuer(keys, tenant)

    def __bool__(self) -> bool:
        return bool(self._issuers)

    def resolve(self, issuer: Any, tenant: Any) -> TrustedIssuer:
        """The trusted issuer a token names, checked against its (not yet verified) `tid`."""
        trusted = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            if isinstance(issuer, str) and any(tenant_in_issuer(t, issuer) for t in self._templates):
                raise TokenRejected("The token's tenant is not allowed here; ask for it to be added to the allowlist.")
            raise TokenRejected("The token's issuer is not trusted.")
        if trusted.tenant is not None and tenant != trusted.tenant:
            raise TokenRejected("The token's 'tid' claim doesn't match its issuer.")
        return trusted


# --- validator --------------------------------------------------------------------------------


class JwtValidator:
    """Validates bearer tokens from the trusted issuers. Thread-safe; build one per process."""

    def __init__(
        self,
        issuers: Iterable[str],
        audiences: Iterable[str],
        leeway_seconds: float,
        session: requests.Session | None = None,
        clock: Clock = time.monotonic,
        *,
        static_issuers: Iterable[str] = (),
        static_keys: Iterable[str] = (),
        tenants: Iterable[str] = (),
        require_expiration: bool = True,
        required_claims: Iterable[RequiredClaim] = (),
    ) -> None:
        self._audiences = tuple(audiences)
        session = session or requests.Session()
        self._issuers = TrustedIssuers(issuers, static_issuers, static_keys, tenants, session, clock)
        if self._issuers and not self._audiences:
            raise SettingsError("AUTH_OIDC_AUDIENCES must name at least one audience when issuers are trusted")
        self._leeway = leeway_seconds
        self._required_claims = tuple(required_claims)
        # APIM's require-expiration-time: off, a token without `exp` passes; an `exp` present is still checked.
        required = ["iss", "aud", *(["exp"] if require_expiration else [])]
        self._decoder = jwt.PyJWT(options={"require": required, "enforce_minimum_key_length": True})

    @classmethod
    def from_settings(
        cls, settings: Settings, session: requests.Session | None = None, clock: Clock = time.monotonic
    ) -> JwtValidator:
        return cls(
            settings.oidc_issuers,
            settings.oidc_audiences,
            settings.clock_skew_seconds,
            session,
            clock,
            static_issuers=settings.oidc_static_issuers,
            static_keys=settings.oidc_signing_keys,
            tenants=settings.entra_tenants,
            require_expiration=settings.require_expiration,
            required_claims=settings.required_claims,
        )

    def validate(self, token: str) -> dict[str, Any]:
        """The token's verified claims, or TokenRejected / SigningKeysUnavailable."""
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("The token is too large.")
        try:
            header = jwt.get_unverified_header(token)
            # Unverified read of `iss` and `tid` only to pick the issuer's keys; everything is verified below.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRejected("The token is malformed.") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise TokenRejected(_ALGORITHM_NOT_ALLOWED)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("The token's kid header is not a string.")
        issuer = unverified.get("iss")
        if issuer is None:
            raise TokenRejected("The token lacks the required 'iss' claim.")
        tenant = unverified.get("tid")
        trusted = self._issuers.resolve(issuer, tenant)

        keys = trusted.keys.candidates(kid, algorithm, issuer, tenant if isinstance(tenant, str) else None)
        if not keys:
            raise TokenRejected("The token is signed with a key its issuer doesn't publish.")
        claims = self._verified_claims(token, keys, issuer)
        for requirement in self._required_claims:
            unmet = requirement.unmet(claims)
            if unmet:
                raise TokenRejected(unmet, insufficient=True)
        return claims

    def _verified_claims(self, token: str, keys: list[jwt.PyJWK], issuer: str) -> dict[str, Any]:
        for key in keys:
            try:
                return self._decoder.decode(
                    token,
                    key=key,
                    algorithms=list(ALLOWED_ALGORITHMS),
                    audience=self._audiences,
                    issuer=issuer,
                    leeway=self._leeway,
                )
            except jwt.InvalidSignatureError:
                continue  # without a kid several keys may fit; another one may have signed it
            except jwt.PyJWTError as error:
                raise TokenRejected(rejection_reason(error)) from None
        raise TokenRejected("The token's signature is invalid.")

    def principal_for(self, token: str) -> Principal:
        principal = principal_from_claims(self.validate(token))
        if principal is None:
            raise TokenRejected("The token lacks the required 'sub' claim.")
        return principal
