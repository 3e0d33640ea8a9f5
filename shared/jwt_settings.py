"""Reading the caller-authentication settings (AUTH_REQUIRED_CLAIMS, AUTH_ENTRA_TENANTS, the token's location,
AUTH_FAILED_VALIDATION_STATUS, AUTH_OIDC_SIGNING_KEYS). Pure, and outside the callers package: settings.py
imports these at module level and shared/callers imports settings, so neither depends back on the other.
Errors are SettingsError naming the setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.setting_errors import SettingsError

TENANT_PLACEHOLDER = "{tenantid}"
_TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name characters
_URL_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986: needs no percent-encoding
FAILED_STATUSES = (401, 403)
ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "RS512", "PS256", "ES256")
_KEY_TYPE_FOR_ALGORITHM = {"RS256": "RSA", "RS512": "RSA", "PS256": "RSA", "ES256": "EC"}
_CURVE_FOR_ALGORITHM = {"ES256": "P-256"}
MIN_RSA_BITS = 2048

SIGNING_KEYS_SETTING = "AUTH_OIDC_SIGNING_KEYS"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
# Only what verification needs; everything else (x5c, key_ops, ...) is dropped from static keys.
_JWK_MEMBERS = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "issuer")


def _load_json(setting: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{setting} is not valid JSON: {error.msg} at column {error.colno}") from None


def _string_list(value: Any) -> tuple[str, ...] | None:
    """The value as a tuple of non-empty strings; None when it is anything else."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        return None
    return tuple(item.strip() for item in value)


# --- required claims (APIM <required-claims>) ---------------------------------------------------

REQUIRED_CLAIMS_SETTING = "AUTH_REQUIRED_CLAIMS"
_REQUIRED_CLAIM_EXAMPLE = '[{"name": "scp", "match": "any", "separator": " ", "values": ["Invoke"]}]'


def claim_values(value: Any, separator: str | None) -> frozenset[str]:
    """The values of a claim: an array's items, or a string split at `separator`; numbers and
    booleans as their JSON text. Parts are trimmed; empty parts don't count."""
    values: set[str] = set()
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            text = item
        elif isinstance(item, bool | int | float):
            text = json.dumps(item)
        else:
            continue
        parts = text.split(separator) if separator else [text]
        values.update(part.strip() for part in parts if part.strip())
    return frozenset(values)


@dataclass(frozen=True)
class RequiredClaim:
    """The claim must be present; with values, `all` of them or `any` one must be among its values."""

    name: str
    values: tuple[str, ...] = ()
    match: Literal["all", "any"] = "all"
    separator: str | None = None

    def unmet(self, claims: Mapping[str, Any]) -> str | None:
        """Why the token fails this requirement (a sentence for the caller), or None when it passes."""
        if claims.get(self.name) is None:
            return f"The token lacks the required '{self.name}' claim."
        if not self.values:
            return None
        present = claim_values(claims[self.name], self.separator)
        if self.match == "all":
            missing = [value for value in self.values if value not in present]
            if missing:
                return f"The token's '{self.name}' claim must include all of: {', '.join(missing)}."
        elif present.isdisjoint(self.values):
            return f"The token's '{self.name}' claim must include one of: {', '.join(self.values)}."
        return None


def _required_claim(entry: Any, where: str) -> RequiredClaim:
    if not isinstance(entry, dict):
        raise SettingsError(f"{where} must be an object like {_REQUIRED_CLAIM_EXAMPLE[1:-1]}")
    unknown = sorted(set(entry) - {"name", "match", "separator", "values"})
    if unknown:
        raise SettingsError(f"{where} has unknown members {unknown}; allowed: name, match, separator, values")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(f"{where}.name must be a non-empty string (the claim's name)")
    match = entry.get("match", "all")
    if match not in ("all", "any"):
        raise SettingsError(f"{where}.match must be 'all' or 'any', got {match!r}")
    separator = entry.get("separator")
    if separator is not None and (not isinstance(separator, str) or not separator):
        raise SettingsError(f"{where}.separator must be a non-empty string such as ' ' or ','")
    values = _string_list(entry.get("values", []))
    if values is None:
        raise SettingsError(f"{where}.values must be a list of non-empty strings")
    return RequiredClaim(name.strip(), values, match, separator)


def parse_required_claims(raw: str) -> tuple[RequiredClaim, ...]:
    """AUTH_REQUIRED_CLAIMS: a JSON list like `[{"name": "scp", "match": "any", "separator": " ",
    "values": ["Invoke"]}]`; `match` defaults to all, no `values` means presence only."""
    if not raw.strip():
        return ()
    document = _load_json(REQUIRED_CLAIMS_SETTING, raw)
    if not isinstance(document, list):
        raise SettingsError(f"{REQUIRED_CLAIMS_SETTING} must be a JSON list, e.g. {_REQUIRED_CLAIM_EXAMPLE}")
    return tuple(
        _required_claim(entry, f"{REQUIRED_CLAIMS_SETTING}[{position}]") for position, entry in enumerate(document)
    )


# --- Entra ID tenants --------------------------------------------------------------------------

TENANTS_SETTING = "AUTH_ENTRA_TENANTS"


def parse_tenants(raw: str) -> tuple[str, ...]:
    """AUTH_ENTRA_TENANTS: comma-separated tenant IDs (GUIDs), kept lower-case as Entra writes `tid`."""
    tenants = []
    for part in raw.split(","):
        tenant = part.strip().lower()
        if not tenant:
            continue
        if not _TENANT_ID.fullmatch(tenant):
            raise SettingsError(
                f"{TENANTS_SETTING}: {part.strip()!r} is not a tenant ID; give GUIDs such as "
                "'72f988bf-86f1-41af-91ab-2d7cd011db47' (domain names are not accepted)"
            )
        tenants.append(tenant)
    return tuple(dict.fromkeys(tenants))


def check_token_location(header: str, query: str, key_header: str, key_query: str) -> None:
    if not _HTTP_TOKEN.fullmatch(header):
        raise SettingsError(f"AUTH_TOKEN_HEADER must be an HTTP header name, got {header!r}")
    if header.lower() == key_header.lower():
        raise SettingsError("AUTH_TOKEN_HEADER must differ from AUTH_SUBSCRIPTION_KEY_HEADER")
    if query and not _URL_UNRESERVED.fullmatch(query):
        raise SettingsError(f"AUTH_TOKEN_QUERY must be a plain query parameter name, got {query!r}")
    if query and query == key_query:
        raise SettingsError("AUTH_TOKEN_QUERY must differ from AUTH_SUBSCRIPTION_KEY_QUERY")


# --- the answer to a rejected token


def parse_failed_status(raw: str) -> int:
    if raw not in {str(status) for status in FAILED_STATUSES}:
        raise SettingsError(f"AUTH_FAILED_VALIDATION_STATUS must be 401 or 403, got {raw!r}")
    return int(raw)


# --- static signing keys


def jwk_fits_algorithm(jwk: Mapping[str, Any], algorithm: str) -> bool:
    """Whether a JWKS entry may verify a token signed with `algorithm` (already on the allowlist)."""
    if jwk.get("kty") != _KEY_TYPE_FOR_ALGORITHM[algorithm]:
        return False
    if algorithm in _CURVE_FOR_ALGORITHM and jwk.get("crv") != _CURVE_FOR_ALGORITHM[algorithm]:
        return False
    if jwk.get("alg") not in (None, algorithm):
        return False
    return jwk.get("use") in (None, "sig")


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
