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
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.callers._jwt_policy import TENANT_PLACEHOLDER
from shared.settings import SettingsError

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "RS512", "PS256", "ES256")
_KEY_TYPE_FOR_ALGORITHM = {"RS256": "RSA", "RS512": "RSA", "PS256": "RSA", "ES256": "EC"}
_CURVE_FOR_ALGORITHM = {"ES256": "P-256"}
MIN_RSA_BITS = 2048

JWKS_CACHE_SECONDS = 3600.0
UNKNOWN_KID_REFETCH_SECONDS = 300.0
FETCH_FAILURE_BACKOFF_SECONDS = 30.0  # an issuer outage must not turn every request into a slow fetch
FETCH_TIMEOUT_SECONDS = (5.0, 10.0)  # (connect, read)
MAX_DOCUMENT_BYTES = 1 << 20

SIGNING_KEYS_SETTING = "AUTH_OIDC_SIGNING_KEYS"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
# Only what verification needs; everything else (x5c, key_ops, ...) is dropped from static keys.
_JWK_MEMBERS = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "issuer")

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


def jwk_fits_algorithm(jwk: Mapping[str, Any], algorithm: str) -> bool:
    """Whether a JWKS entry may verify a token signed with `algorithm` (already on the allowlist)."""
    if jwk.get("kty") != _KEY_TYPE_FOR_ALGORITHM[algorithm]:
        return False
    if algorithm in _CURVE_FOR_ALGORITHM and jwk.get("crv") != _CURVE_FOR_ALGORITHM[algorithm]:
        return False
    if jwk.get("alg") not in (None, algorithm):
        return False
    return jwk.get("use") in (None, "sig")


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


def _settings_error(detail: str) -> SettingsError:
    return SettingsError(f"{SIGNING_KEYS_SETTING}: {detail}")


def _public_jwk(key: Mapping[str, Any], where: str) -> dict[str, str]:
    """A public RSA (2048+ bits) or EC P-256 JWK, reduced to the members verification needs."""
    kty = key.get("kty")
    if kty == "oct":
        raise _settings_error(f"{where} is a symmetric key; HS* algorithms are refused, give public keys")
    if kty not in ("RSA", "EC"):
        raise _settings_error(f"{where} has kty {kty!r}; only RSA and EC (P-256) keys are accepted")
    if "d" in key:
        raise _settings_error(f"{where} is a private key; give only the public key")
    jwk = {member: key[member] for member in _JWK_MEMBERS if member in key}
    if any(not isinstance(value, str) for value in jwk.values()):
        raise _settings_error(f"{where} has a member that is not a string")
    algorithms = [algorithm for algorithm in ALLOWED_ALGORITHMS if jwk_fits_algorithm(jwk, algorithm)]
    if not algorithms:
        raise _settings_error(f"{where} fits none of {', '.join(ALLOWED_ALGORITHMS)} (check crv, alg and use)")
    try:
        public_key = jwt.PyJWK(dict(jwk), algorithm=algorithms[0]).key
    except jwt.PyJWTError:
        raise _settings_error(f"{where} is not a valid {kty} public key") from None
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise _settings_error(f"{where} is a {public_key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits")
    return jwk


def _jwk_from_public_key(public_key: Any, where: str) -> dict[str, str]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return _public_jwk(RSAAlgorithm.to_jwk(public_key, as_dict=True), where)
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return _public_jwk(ECAlgorithm.to_jwk(public_key, as_dict=True), where)
    raise _settings_error(f"{where} is neither an RSA nor an EC P-256 key")


def _jwks_from_pem(text: str) -> list[dict[str, str]]:
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks:
        raise _settings_error("no PEM block found (expected -----BEGIN PUBLIC KEY----- or CERTIFICATE)")
    jwks = []
    for position, block in enumerate(blocks):
        label, where = block.group(1), f"PEM block {position + 1} ({block.group(1)})"
        pem = block.group(0).encode("ascii", "replace")
        if "PRIVATE" in label:
            raise _settings_error(f"{where} is a private key; give only public keys or certificates")
        if label not in ("CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY"):
            raise _settings_error(f"{where} is not a PUBLIC KEY or CERTIFICATE")
        try:
            if label == "CERTIFICATE":
                public_key = x509.load_pem_x509_certificate(pem).public_key()
            else:
                public_key = load_pem_public_key(pem)
        except ValueError as error:
            raise _settings_error(f"{where} can't be read: {error}") from None
        jwks.append(_jwk_from_public_key(public_key, where))
    return jwks


def parse_signing_keys(raw: str) -> tuple[str, ...]:
    """AUTH_OIDC_SIGNING_KEYS: a JWKS document, one JWK, or PEM public keys / certificates
    (newlines may be written as `\\n`). Returns the public JWKs as JSON texts, so Settings stays
    hashable and immutable; SettingsError names what's wrong."""
    text = raw.strip()
    if not text:
        return ()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise _settings_error(f"not valid JSON: {error.msg} at column {error.colno}") from None
        entries = document.get("keys") if isinstance(document, dict) and "keys" in document else [document]
        if not isinstance(entries, list) or not entries:
            raise _settings_error("the JWKS 'keys' must be a non-empty list")
        jwks = []
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise _settings_error(f"key {position} is not a JSON object")
            jwks.append(_public_jwk(entry, f"key {position}"))
    else:
        jwks = _jwks_from_pem(text.replace("\\n", "\n"))
    return tuple(json.dumps(jwk, sort_keys=True) for jwk in jwks)


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
