"""Signing keys: which key may verify which token, discovered JWKS and static keys.

Discovered keys (APIM's openid-config): each issuer's OpenID discovery document names its
`jwks_uri`; the JWKS is cached for an hour. A token signed with an unknown `kid` triggers one
JWKS refetch, at most once per five minutes per issuer, so random `kid`s can't make the gateway
hammer an issuer. Static keys (APIM's issuer-signing-keys): AUTH_OIDC_SIGNING_KEYS, a JWKS or
PEM public keys / certificates, for issuers without discovery. Keys without a `kid` are tried
for every token, keys with one only for tokens naming it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from shared.callers._jwt_policy import TENANT_PLACEHOLDER
from shared.jwt_settings import (  # noqa: F401  (re-exported: the callers package's names for them)
    ALLOWED_ALGORITHMS,
    MIN_RSA_BITS,
    SIGNING_KEYS_SETTING,
    jwk_fits_algorithm,
    parse_signing_keys,
)
from shared.settings import SettingsError

log = logging.getLogger(__name__)

JWKS_CACHE_SECONDS = 3600.0
UNKNOWN_KID_REFETCH_SECONDS = 300.0
FETCH_FAILURE_BACKOFF_SECONDS = 30.0  # an issuer outage must not turn every request into a slow fetch
FETCH_TIMEOUT_SECONDS = (5.0, 10.0)  # (connect, read)
MAX_DOCUMENT_BYTES = 1 << 20

Clock = Callable[[], float]


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
    # A template's placeholder is filled with a sample tenant: the URL's shape is what counts.
    if not is_secure_url(issuer.replace(TENANT_PLACEHOLDER, "00000000-0000-0000-0000-000000000000")):
        raise SettingsError(
            f"AUTH_OIDC_ISSUERS: issuer {issuer!r} must be an absolute https URL (http only on loopback)"
        )


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def jwk_fits_issuer(key_issuer: Any, issuer: str, tenant: str | None) -> bool:
    """Entra's signing key issuer check: a key that names an issuer (maybe with `{tenantid}`, to be
    filled with the token's `tid`) signs only for that issuer. Keys naming none sign for their issuer."""
    if not isinstance(key_issuer, str) or not key_issuer:
        return True
    if TENANT_PLACEHOLDER in key_issuer:
        return tenant is not None and key_issuer.replace(TENANT_PLACEHOLDER, tenant) == issuer
    return key_issuer == issuer


def signing_keys_from_jwks(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS document has no 'keys' list")
    return [key for key in document["keys"] if isinstance(key, dict)]


class KeyRing:
    """An immutable set of verification keys, each bound to every allowed algorithm it fits.

    The algorithm is bound explicitly: JWKS entries often omit `alg`, and PyJWK would otherwise
    assume RS256 for every RSA key."""

    def __init__(self, jwks: Iterable[Mapping[str, Any]] = (), owner: str = "") -> None:
        self._entries: list[tuple[Any, Any, str, jwt.PyJWK]] = []  # (kid, key issuer, algorithm, verifier)
        for jwk in jwks:
            for algorithm in ALLOWED_ALGORITHMS:
                if not jwk_fits_algorithm(jwk, algorithm):
                    continue
                try:
                    verifier = jwt.PyJWK(dict(jwk), algorithm=algorithm)
                except jwt.PyJWTError:
                    log.warning("Skipping an unusable key (kid %r) of %s", jwk.get("kid"), owner)
                    continue
                self._entries.append((jwk.get("kid"), jwk.get("issuer"), algorithm, verifier))
        self.kids = frozenset(kid for kid, _, _, _ in self._entries if kid is not None)

    def candidates(self, kid: str | None, algorithm: str, issuer: str, tenant: str | None) -> list[jwt.PyJWK]:
        """Keys that may have signed a token with this `kid` (every fitting key when the token has none)."""
        return [
            verifier
            for key_id, key_issuer, key_algorithm, verifier in self._entries
            if key_algorithm == algorithm
            and (kid is None or key_id is None or key_id == kid)
            and jwk_fits_issuer(key_issuer, issuer, tenant)
        ]


# --- static keys (AUTH_OIDC_SIGNING_KEYS) -------------------------------------------------------


class StaticSigningKeys:
    """The keys of AUTH_OIDC_SIGNING_KEYS, shared by the static issuers. Never fetches anything."""

    def __init__(self, jwk_texts: Iterable[str]) -> None:
        self._ring = KeyRing((json.loads(text) for text in jwk_texts), owner=SIGNING_KEYS_SETTING)

    def candidates(self, kid: str | None, algorithm: str, issuer: str, tenant: str | None) -> list[jwt.PyJWK]:
        return self._ring.candidates(kid, algorithm, issuer, tenant)


# --- discovered keys, per issuer (I/O) ----------------------------------------------------------


class IssuerSigningKeys:
    """One issuer's JWKS: discovered, cached, refetched on unknown `kid` within the rate limit."""

    def __init__(self, issuer: str, session: requests.Session, clock: Clock) -> None:
        self.issuer = issuer
        self._session = session
        self._clock = clock
        self._lock = threading.Lock()  # one fetch at a time per issuer; others wait for its result
        self._jwks_uri: str | None = None
        self._ring = KeyRing()
        self._fetched_at = float("-inf")
        self._unknown_kid_refetch_at = float("-inf")
        self._failed_at = float("-inf")

    def candidates(self, kid: str | None, algorithm: str, issuer: str, tenant: str | None) -> list[jwt.PyJWK]:
        with self._lock:
            now = self._clock()
            if now - self._fetched_at >= JWKS_CACHE_SECONDS:
                self._refresh(now, rediscover=True)
            kid_known = kid is None or kid in self._ring.kids
            if not kid_known and now - self._unknown_kid_refetch_at >= UNKNOWN_KID_REFETCH_SECONDS:
                self._unknown_kid_refetch_at = now
                self._refresh(now, rediscover=False)
            ring = self._ring
        return ring.candidates(kid, algorithm, issuer, tenant)

    def _refresh(self, now: float, *, rediscover: bool) -> None:
        have_keys = self._fetched_at > float("-inf")
        if not have_keys and now - self._failed_at < FETCH_FAILURE_BACKOFF_SECONDS:
            raise SigningKeysUnavailable(self.issuer)
        try:
            if rediscover or self._jwks_uri is None:
                self._jwks_uri = self._discover_jwks_uri()
            keys = signing_keys_from_jwks(self._fetch_json(self._jwks_uri))
        except (requests.RequestException, ValueError) as error:
            self._failed_at = now
            log.warning("Fetching the signing keys of %s failed: %s", self.issuer, error)
            if not have_keys:
                raise SigningKeysUnavailable(self.issuer) from None
            if rediscover:  # keep serving the stale keys; try again after the backoff
                self._fetched_at = now - JWKS_CACHE_SECONDS + FETCH_FAILURE_BACKOFF_SECONDS
            return
        self._ring = KeyRing(keys, owner=self.issuer)
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
