"""TLS client certificates, like API Management's `validate-client-certificate` policy. Pure.

App Service terminates TLS and forwards the caller's certificate as base64 DER in `X-ARR-ClientCert`,
having checked in the handshake that the caller holds its key, and nothing else. The header means
something only while the site has client certificates enabled (otherwise a caller can send it), so
mode `off` ignores it; the site's mode must match. This module does the rest:

- validity: `notBefore` / `notAfter` against `now` (each can be switched off, as in APIM);
- trust: a chain from the certificate to one of the configured CA certificates, built and checked
  by `cryptography.x509.verification` (signatures, CA basic constraints and key usage, the issuers'
  validity, name constraints, path length; a leaf EKU, when present, must include clientAuth;
  RSA keys need 2048 bits, SHA-1 signatures are refused). Every configured certificate is a trust
  anchor, so configuring an issuing (intermediate) CA alone is enough; a self-signed client
  certificate can be pinned by configuring it as a "CA" too;
- identities: the certificate must match every field set on at least one identity (none = any).

Not checked: revocation (no CRL or OCSP fetches; APIM's `validate-revocation` has no equivalent
here, so rotate the CA or pin thumbprints to revoke). Failures are 403: TLS client authentication
has no HTTP challenge to put in a 401's WWW-Authenticate, and APIM's documented client-certificate
checks answer 403 too.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from shared.problems import Problem

CLIENT_CERTIFICATE_HEADER = "X-ARR-ClientCert"
ClientCertificateMode = Literal["off", "optional", "required"]
CLIENT_CERTIFICATE_MODES: tuple[ClientCertificateMode, ...] = ("off", "optional", "required")

_MAX_HEADER_CHARS = 64 * 1024  # a certificate chain of big RSA keys stays far below this
# .NET and Windows write E= and S= in subject strings; RFC 4514 doesn't know them.
_NAME_OVERRIDES = {
    "E": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
}
# Web PKI rules, except that client certificates often have no SAN and hand-made ones no AKI.
_CLIENT_LEAF_EXTENSIONS = (
    verification.ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
    .may_be_present(x509.AuthorityKeyIdentifier, verification.Criticality.NON_CRITICAL, None)
)


def parse_forwarded_certificate(header_value: str) -> x509.Certificate:
    """The certificate App Service forwarded (base64 DER; PEM also accepted). ValueError otherwise."""
    text = header_value.strip()
    if not text or len(text) > _MAX_HEADER_CHARS:
        raise ValueError("the client certificate header is empty or too long")
    try:
        if text.startswith("-----BEGIN"):
            return x509.load_pem_x509_certificate(text.encode())
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error):
        raise ValueError("the client certificate header doesn't hold a base64 DER certificate") from None


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """SHA-1 of the DER in upper-case hex: the thumbprint Azure and Windows show."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - thumbprints are SHA-1 by definition


def certificate_principal_id(certificate: x509.Certificate) -> str:
    """A stable principal id for a certificate. It changes when the certificate is renewed."""
    return f"cert|{certificate_thumbprint(certificate)}"


def _thumbprint(value: str) -> str:
    # Windows' certificate dialog copies an invisible left-to-right mark and spaces along with the hex.
    digits = re.sub(r"[\s:\u200e]", "", value).lower()
    if not re.fullmatch(r"[0-9a-f]{40}", digits):
        raise ValueError(f"{value!r} is not a SHA-1 thumbprint (40 hex digits)")
    return digits


def _serial(value: str) -> str:
    digits = re.sub(r"[\s:\u200e]", "", value).lower()
    if not re.fullmatch(r"[0-9a-f]+", digits):
        raise ValueError(f"{value!r} is not a serial number in hex")
    return digits.lstrip("0") or "0"


NameKey = tuple[tuple[str, str], ...]


def _attribute_value(value: str | bytes) -> str:
    # RFC 5280 §7.1: names compare case-insensitively, ignoring surrounding space.
    return (value.decode(errors="replace") if isinstance(value, bytes) else value).strip().casefold()


def _name_key(name: x509.Name) -> NameKey:
    """A name as a sorted multiset of (OID, value): equal names compare equal in any attribute order."""
    return tuple(sorted((a.oid.dotted_string, _attribute_value(a.value)) for a in name))


def _parse_name(text: str) -> x509.Name:
    # Tolerate the ", " separators .NET writes ("CN=a, O=b"); attribute names are case-insensitive.
    compact = re.sub(r"(?<!\\)\s*([,+])\s*", r"\1", text.strip())
    compact = re.sub(
        r"(^|(?<!\\)[,+])([A-Za-z][A-Za-z0-9-]*)=", lambda m: m.group(1) + m.group(2).upper() + "=", compact
    )
    try:
        return x509.Name.from_rfc4514_string(compact, _NAME_OVERRIDES)
    except ValueError:
        raise ValueError(f"{text!r} is not a distinguished name like 'CN=client,O=Contoso'") from None


@dataclass(frozen=True)
class _CertificateFacts:
    thumbprint: str
    serial: str
    subject: NameKey
    common_names: frozenset[str]
    dns_names: frozenset[str]
    issuer: NameKey
    issuer_thumbprint: str | None

    @classmethod
    def of(cls, certificate: x509.Certificate, issuer: x509.Certificate | None) -> _CertificateFacts:
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = frozenset(name.lower() for name in san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            dns_names = frozenset()
        return cls(
            thumbprint=certificate_thumbprint(certificate).lower(),
            serial=format(certificate.serial_number, "x"),
            subject=_name_key(certificate.subject),
            common_names=frozenset(
                _attribute_value(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            ),
            dns_names=dns_names,
            issuer=_name_key(certificate.issuer),
            issuer_thumbprint=None if issuer is None else certificate_thumbprint(issuer).lower(),
        )


@dataclass(frozen=True)
class CertificateIdentity:
    """Fields a client certificate must match; unset (None) fields match anything. As APIM's <identity>."""

    thumbprint: str | None = None  # SHA-1, hex, any case, spaces and colons ignored
    serial_number: str | None = None  # hex, as Azure and Windows show it
    common_name: str | None = None  # any CN of the subject
    subject: str | None = None  # distinguished name; attribute order and case don't matter
    dns_name: str | None = None  # any DNS name of the subject alternative names; exact, case-insensitive
    issuer_subject: str | None = None  # the issuer's distinguished name
    issuer_thumbprint: str | None = None  # SHA-1 of the issuing CA certificate (must be a configured CA)
    _wanted: dict[str, Any] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        if not any(values.values()):
            raise ValueError("a certificate identity must set at least one field")
        for name, value in values.items():
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string")
        # Normalized once, here, so a typo fails at startup rather than as a silent mismatch.
        wanted = self._normalized()
        object.__setattr__(self, "_wanted", {name: value for name, value in wanted.items() if value})

    def _normalized(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint and _thumbprint(self.thumbprint),
            "serial_number": self.serial_number and _serial(self.serial_number),
            "common_name": self.common_name and _attribute_value(self.common_name),
            "subject": self.subject and _name_key(_parse_name(self.subject)),
            "dns_name": self.dns_name and self.dns_name.strip().lower(),
            "issuer_subject": self.issuer_subject and _name_key(_parse_name(self.issuer_subject)),
            "issuer_thumbprint": self.issuer_thumbprint and _thumbprint(self.issuer_thumbprint),
        }

    def _matches(self, facts: _CertificateFacts) -> bool:
        actual = {
            "thumbprint": {facts.thumbprint},
            "serial_number": {facts.serial},
            "common_name": facts.common_names,
            "subject": {facts.subject},
            "dns_name": facts.dns_names,
            "issuer_subject": {facts.issuer},
            "issuer_thumbprint": {facts.issuer_thumbprint} - {None},
        }
        return all(wanted in actual[name] for name, wanted in self._wanted.items())

    @classmethod
    def from_json(cls, value: Any) -> CertificateIdentity:
        """From an object with APIM's attribute names (`serial-number`) or the field names (`serial_number`)."""
        if not isinstance(value, dict):
            raise ValueError("each certificate identity must be a JSON object")
        known = {f.name for f in fields(cls) if f.init}
        arguments: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key).strip().lower().replace("-", "_")
            if name == "issuer_certificate_id":
                # APIM's names a CA certificate uploaded to APIM; there is nothing like it here.
                raise ValueError("issuer-certificate-id isn't supported; use issuer-thumbprint")
            if name not in known:
                raise ValueError(
                    f"unknown certificate identity field {key!r}; use one of "
                    + ", ".join(sorted(n.replace("_", "-") for n in known))
                )
            arguments[name] = item
        return cls(**arguments)


def parse_identities(text: str) -> tuple[CertificateIdentity, ...]:
    """A JSON list of identity objects ('' = none). ValueError says which entry is wrong and why."""
    if not text.strip():
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at position {error.pos})") from None
    if not isinstance(value, list):
        raise ValueError("must be a JSON list of identity objects")
    identities = []
    for index, item in enumerate(value):
        try:
            identities.append(CertificateIdentity.from_json(item))
        except (TypeError, ValueError) as error:
            raise ValueError(f"identity {index}: {error}") from None
    return tuple(identities)


def load_ca_certificates(pems: str | bytes | Sequence[str | bytes]) -> tuple[x509.Certificate, ...]:
    """Every certificate in one PEM bundle or several (blank ones skipped). ValueError on a broken bundle."""
    bundles = [pems] if isinstance(pems, str | bytes) else list(pems)
    certificates: list[x509.Certificate] = []
    for bundle in bundles:
        data = bundle.encode() if isinstance(bundle, str) else bundle
        if not data.strip():
            continue  # an unset setting, not a broken bundle
        try:
            certificates.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            raise ValueError("a trusted CA bundle holds no readable PEM certificate") from None
    return tuple(certificates)


@dataclass(frozen=True)
class CertificatePolicy:
    """What a client certificate must satisfy. Construction fails (ValueError) on unusable settings."""

    trusted_ca_pems: str | bytes | Sequence[str | bytes] = ()
    validate_not_before: bool = True
    validate_not_after: bool = True
    validate_trust: bool = True
    identities: Sequence[CertificateIdentity] = ()
    trusted_cas: tuple[x509.Certificate, ...] = field(init=False, repr=False)
    _store: verification.Store | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        cas = load_ca_certificates(self.trusted_ca_pems)
        object.__setattr__(self, "trusted_cas", cas)
        object.__setattr__(self, "trusted_ca_pems", tuple(ca.public_bytes(Encoding.PEM).decode() for ca in cas))
        object.__setattr__(self, "identities", tuple(self.identities))
        object.__setattr__(self, "_store", verification.Store(list(cas)) if cas else None)
        if self.validate_trust and not cas:
            raise ValueError("validating trust needs at least one trusted CA certificate")
        if not self.validate_trust and (not self.identities or not all(i.thumbprint for i in self.identities)):
            # Without a trusted issuer anyone can mint a certificate with any name; only a thumbprint pins one.
            raise ValueError("without trust validation, every certificate identity must pin a thumbprint")

    def pins(self, thumbprint: str) -> bool:
        """Whether an identity names exactly this certificate by thumbprint (so it may stand for a principal)."""
        return any(i.thumbprint and _thumbprint(i.thumbprint) == _thumbprint(thumbprint) for i in self.identities)


@dataclass(frozen=True)
class CertificateIdentityMatch:
    """An accepted client certificate."""

    certificate: x509.Certificate
    thumbprint: str  # upper-case SHA-1 hex
    principal_id: str  # certificate_principal_id(certificate)
    identity: CertificateIdentity | None  # the identity it matched; None when the policy lists none
    chain: tuple[x509.Certificate, ...]  # leaf first, up to the trust anchor; just the leaf without trust checks


def _rejected(reason: str, detail: str) -> Problem:
    return Problem(403, "client-certificate-rejected", "Forbidden", detail, reason=reason)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)


def _verification_time(
    policy: CertificatePolicy, certificate: x509.Certificate, now: datetime.datetime
) -> datetime.datetime:
    # The verifier always checks validity; when a check is off, verify at the nearest moment the leaf was valid.
    if not policy.validate_not_after and now > certificate.not_valid_after_utc:
        return certificate.not_valid_after_utc
    if not policy.validate_not_before and now < certificate.not_valid_before_utc:
        return certificate.not_valid_before_utc
    return now


def _direct_issuer(certificate: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in (*candidates, certificate):
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def validate(
    policy: CertificatePolicy,
    certificate: x509.Certificate,
    now: datetime.datetime,
    intermediates: Sequence[x509.Certificate] = (),
) -> CertificateIdentityMatch:
    """The certificate accepted under `policy`, or Problem 403 `client-certificate-rejected` saying why.

    `reason` in the problem is one of `not-yet-valid`, `expired`, `untrusted`, `identity-mismatch`.
    """
    now = _utc(now)
    if policy.validate_not_before and now < certificate.not_valid_before_utc:
        raise _rejected(
            "not-yet-valid",
            f"The client certificate isn't valid until {certificate.not_valid_before_utc.isoformat()}.",
        )
    if policy.validate_not_after and now > certificate.not_valid_after_utc:
        raise _rejected(
            "expired",
            f"The client certificate expired on {certificate.not_valid_after_utc.isoformat()}; present a current one.",
        )
    chain: tuple[x509.Certificate, ...] = (certificate,)
    if policy.validate_trust:
        assert policy._store is not None  # __post_init__ refuses trust validation without CAs
        verifier = (
            verification.PolicyBuilder()
            .store(policy._store)
            .time(_verification_time(policy, certificate, now))
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_CLIENT_LEAF_EXTENSIONS
            )
            .build_client_verifier()
        )
        try:
            chain = tuple(verifier.verify(certificate, list(intermediates)).chain)
        except verification.VerificationError as error:
            raise _rejected(
                "untrusted",
                "The client certificate isn't issued by a certificate authority the gateway trusts, or its"
                " chain isn't valid (an expired issuer, or a certificate not meant for client authentication).",
            ) from error
        issuer: x509.Certificate | None = chain[1] if len(chain) > 1 else chain[0]
    else:
        issuer = _direct_issuer(certificate, (*intermediates, *policy.trusted_cas))
    if not policy.identities:
        return _match(certificate, None, chain)
    facts = _CertificateFacts.of(certificate, issuer)
    for identity in policy.identities:
        if identity._matches(facts):
            return _match(certificate, identity, chain)
    raise _rejected(
        "identity-mismatch", "The client certificate doesn't match an identity allowed to call the gateway."
    )


def _match(
    certificate: x509.Certificate, identity: CertificateIdentity | None, chain: tuple[x509.Certificate, ...]
) -> CertificateIdentityMatch:
    return CertificateIdentityMatch(
        certificate=certificate,
        thumbprint=certificate_thumbprint(certificate),
        principal_id=certificate_principal_id(certificate),
        identity=identity,
        chain=chain,
    )


def authenticate_client_certificate(
    headers: Mapping[str, str],
    mode: ClientCertificateMode,
    policy: CertificatePolicy | None,
    now: datetime.datetime,
) -> CertificateIdentityMatch | None:
    """Applies the deployment's client certificate mode to a request's headers.

    `off`: the header is ignored (App Service doesn't vouch for it then, so a caller could have sent it).
    `optional`: no certificate passes with None; a certificate that is sent must be valid.
    `required`: no certificate is 403 `client-certificate-required`.
    """
    if mode == "off":
        return None
    if policy is None:
        raise ValueError(f"client certificate mode {mode!r} needs a certificate policy")
    value = next((v for k, v in headers.items() if k.lower() == CLIENT_CERTIFICATE_HEADER.lower() and v.strip()), None)
    if value is None:
        if mode == "required":
            raise Problem(
                403,
                "client-certificate-required",
                "Forbidden",
                "The gateway requires a TLS client certificate; connect with one.",
            )
        return None
    try:
        certificate = parse_forwarded_certificate(value)
    except ValueError:
        raise _rejected("unreadable", "The client certificate couldn't be read.") from None
    return validate(policy, certificate, now)
