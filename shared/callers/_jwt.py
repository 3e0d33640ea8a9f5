"""Bearer JWT validation, modelled on Azure API Management's validate-jwt policy.

Signing keys come from each trusted issuer's OpenID discovery document (`jwks_uri`) and are
cached for an hour. A token signed with an unknown `kid` triggers one JWKS refetch, at most
once per five minutes per issuer, so random `kid`s can't make the gateway hammer an issuer.
All cryptography is PyJWT's; this module only decides which key and which rules apply.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from shared.callers._principal import Principal, principal_from_claims
from shared.settings import Settings, SettingsError

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "RS512", "PS256", "ES256")
_KEY_TYPE_FOR_ALGORITHM = {"RS256": "RSA", "RS512": "RSA", "PS256": "RSA", "ES256": "EC"}
_CURVE_FOR_ALGORITHM = {"ES256": "P-256"}
REQUIRED_CLAIMS: tuple[str, ...] = ("exp", "iss", "aud")

JWKS_CACHE_SECONDS = 3600.0
UNKNOWN_KID_REFETCH_SECONDS = 300.0
FETCH_FAILURE_BACKOFF_SECONDS = 30.0  # an issuer outage must not turn every request into a slow fetch
FETCH_TIMEOUT_SECONDS = (5.0, 10.0)  # (connect, read)
MAX_DOCUMENT_BYTES = 1 << 20
MAX_TOKEN_CHARS = 16 * 1024

Clock = Callable[[], float]


class TokenRejected(Exception):
    """The token isn't acceptable. The message is safe to show the caller: it never quotes the token."""


class SigningKeysUnavailable(Exception):
    """An issuer's signing keys couldn't be fetched and none are cached."""


# --- pure rules -------------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_secure_url(url: str) -> bool:
    """https anywhere; plain http only to this machine (the local test issuer)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))


def require_trusted_issuer_url(issuer: str) -> None:
    if not is_secure_url(issuer):
        raise SettingsError(
            f"AUTH_OIDC_ISSUERS: issuer {issuer!r} must be an absolute https URL (http only on loopback)"
        )


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def jwk_fits_algorithm(jwk: Mapping[str, Any], algorithm: str) -> bool:
    """Whether a JWKS entry may verify a token signed with `algorithm` (already on the allowlist)."""
    if jwk.get("kty") != _KEY_TYPE_FOR_ALGORITHM[algorithm]:
        return False
    if algorithm in _CURVE_FOR_ALGORITHM and jwk.get("crv") != _CURVE_FOR_ALGORITHM[algorithm]:
        return False
    if jwk.get("alg") not in (None, algorithm):
        return False
    return jwk.get("use") in (None, "sig")


def signing_keys_from_jwks(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS document has no 'keys' list")
    return [key for key in document["keys"] if isinstance(key, dict)]


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


_ALGORITHM_NOT_ALLOWED = f"The token's signing algorithm is not allowed; use one of {', '.join(ALLOWED_ALGORITHMS)}."


# --- per-issuer key cache (I/O) ---------------------------------------------------------------


class IssuerSigningKeys:
    """One issuer's JWKS: discovered, cached, refetched on unknown `kid` within the rate limit."""

    def __init__(self, issuer: str, session: requests.Session, clock: Clock) -> None:
        self.issuer = issuer
        self._session = session
        self._clock = clock
        self._lock = threading.Lock()  # one fetch at a time per issuer; others wait for its result
        self._jwks_uri: str | None = None
        self._keys: list[dict[str, Any]] = []
        self._verifiers: dict[tuple[int, str], jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._unknown_kid_refetch_at = float("-inf")
        self._failed_at = float("-inf")

    def candidates(self, kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
        """Keys that may have signed a token with this `kid` (any fitting key when the token has none)."""
        with self._lock:
            now = self._clock()
            if now - self._fetched_at >= JWKS_CACHE_SECONDS:
                self._refresh(now, rediscover=True)
            kid_known = kid is None or any(key.get("kid") == kid for key in self._keys)
            if not kid_known and now - self._unknown_kid_refetch_at >= UNKNOWN_KID_REFETCH_SECONDS:
                self._unknown_kid_refetch_at = now
                self._refresh(now, rediscover=False)
            return self._verifiers_for(kid, algorithm)

    def _verifiers_for(self, kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
        found = []
        for position, key in enumerate(self._keys):
            if (kid is not None and key.get("kid") != kid) or not jwk_fits_algorithm(key, algorithm):
                continue
            verifier = self._verifiers.get((position, algorithm))
            if verifier is None:
                try:
                    # Bind the algorithm explicitly: JWKS entries often omit `alg`, and PyJWK
                    # would otherwise assume RS256 for every RSA key.
                    verifier = jwt.PyJWK(key, algorithm=algorithm)
                except jwt.PyJWTError:
                    log.warning("Skipping an unusable key (kid %r) in the JWKS of %s", key.get("kid"), self.issuer)
                    continue
                self._verifiers[(position, algorithm)] = verifier
            found.append(verifier)
        return found

    def _refresh(self, now: float, *, rediscover: bool) -> None:
        if not self._keys and now - self._failed_at < FETCH_FAILURE_BACKOFF_SECONDS:
            raise SigningKeysUnavailable(self.issuer)
        try:
            if rediscover or self._jwks_uri is None:
                self._jwks_uri = self._discover_jwks_uri()
            keys = signing_keys_from_jwks(self._fetch_json(self._jwks_uri))
        except (requests.RequestException, ValueError) as error:
            self._failed_at = now
            log.warning("Fetching the signing keys of %s failed: %s", self.issuer, error)
            if not self._keys:
                raise SigningKeysUnavailable(self.issuer) from None
            if rediscover:  # keep serving the stale keys; try again after the backoff
                self._fetched_at = now - JWKS_CACHE_SECONDS + FETCH_FAILURE_BACKOFF_SECONDS
            return
        self._keys = keys
        self._verifiers.clear()
        self._fetched_at = now
        log.info("Fetched %d signing keys of %s", len(keys), self.issuer)

    def _discover_jwks_uri(self) -> str:
        document = self._fetch_json(discovery_url(self.issuer))
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise ValueError("the discovery document names a different issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not is_secure_url(jwks_uri):
            raise ValueError("the discovery document has no https jwks_uri")
        return jwks_uri

    def _fetch_json(self, url: str) -> Any:
        with self._session.get(
            url,
            timeout=FETCH_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        return json.loads(body)


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
    ) -> None:
        issuers = tuple(issuers)
        self._audiences = tuple(audiences)
        for issuer in issuers:
            require_trusted_issuer_url(issuer)
        if issuers and not self._audiences:
            raise SettingsError("AUTH_OIDC_AUDIENCES must name at least one audience when AUTH_OIDC_ISSUERS is set")
        session = session or requests.Session()
        self._issuers = {issuer: IssuerSigningKeys(issuer, session, clock) for issuer in issuers}
        self._leeway = leeway_seconds
        self._decoder = jwt.PyJWT(options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True})

    @classmethod
    def from_settings(
        cls, settings: Settings, session: requests.Session | None = None, clock: Clock = time.monotonic
    ) -> JwtValidator:
        return cls(settings.oidc_issuers, settings.oidc_audiences, settings.clock_skew_seconds, session, clock)

    def validate(self, token: str) -> dict[str, Any]:
        """The token's verified claims, or TokenRejected / SigningKeysUnavailable."""
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("The token is too large.")
        try:
            header = jwt.get_unverified_header(token)
            # Unverified read of `iss` only to pick the issuer's keys; everything is verified below.
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
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise TokenRejected("The token's issuer is not trusted.")

        keys = self._issuers[issuer].candidates(kid, algorithm)
        if not keys:
            raise TokenRejected("The token is signed with a key its issuer doesn't publish.")
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
