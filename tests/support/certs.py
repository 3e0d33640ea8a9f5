"""Test PKI: certificate authorities, intermediates and client certificates made with `cryptography`.

    root = CertificateAuthority.create("Test Root")
    issuing = root.intermediate("Test Issuing CA")
    client = issuing.issue("client-1", dns_names=("client-1.example",))
    headers = {"X-ARR-ClientCert": client.arr_header}   # what App Service forwards
    expired = root.issue("old", not_after=NOW - timedelta(days=1))
    stranger = CertificateAuthority.create("Other Root").issue("client-1")
    self_signed = IssuedCertificate.self_signed("client-1")

Keys are EC P-256 (fast to make). Certificates carry the extensions a real issuing CA writes
(key and subject key identifiers, key usage, client-auth EKU), so strict verifiers accept them.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.frontdoor import certificate_thumbprint

UTC = datetime.UTC
DEFAULT_LIFETIME = datetime.timedelta(days=30)
# CAs predate the certificates they issue, so leaves back-dated by tests still chain to a valid CA.
CA_BACKDATE = datetime.timedelta(days=365)


def _now() -> datetime.datetime:
    return datetime.datetime.now(UTC).replace(microsecond=0)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _window(
    not_before: datetime.datetime | None, not_after: datetime.datetime | None
) -> tuple[datetime.datetime, datetime.datetime]:
    start = not_before or _now() - datetime.timedelta(days=1)
    return start, not_after or start + DEFAULT_LIFETIME


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def arr_header(self) -> str:
        """The certificate as App Service forwards it in X-ARR-ClientCert: base64 DER, no PEM armour."""
        return base64.b64encode(self.der).decode()

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER, upper-case hex, as the Azure portal shows it."""
        return certificate_thumbprint(self.certificate)

    def write_pem_files(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Writes `<stem>.crt` and `<stem>.key` (for TLS clients); returns their paths."""
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_text(self.pem)
        key_path.write_text(self.key_pem)
        return cert_path, key_path

    @classmethod
    def self_signed(
        cls,
        common_name: str,
        *,
        dns_names: tuple[str, ...] = (),
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> IssuedCertificate:
        """A client certificate that signs itself (no CA)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name)
        start, end = _window(not_before, not_after)
        builder = _leaf_builder(name, name, key.public_key(), start, end, dns_names, x509.random_serial_number())
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        return cls(builder.sign(key, hashes.SHA256()), key)


def _leaf_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    dns_names: tuple[str, ...],
    serial: int,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]), critical=False
        )
    return builder


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def thumbprint(self) -> str:
        return certificate_thumbprint(self.certificate)

    @classmethod
    def create(
        cls,
        common_name: str,
        *,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> CertificateAuthority:
        """A self-signed root CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name, "Test PKI")
        start, end = _window(not_before or _now() - CA_BACKDATE, not_after or _now() + datetime.timedelta(days=3650))
        return cls(
            _ca_builder(name, name, key.public_key(), key.public_key(), start, end).sign(key, hashes.SHA256()), key
        )

    def intermediate(
        self,
        common_name: str,
        *,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> CertificateAuthority:
        """A CA this one signs."""
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = _window(not_before or _now() - CA_BACKDATE, not_after or _now() + datetime.timedelta(days=1825))
        builder = _ca_builder(
            _name(common_name, "Test PKI"),
            self.certificate.subject,
            key.public_key(),
            self.private_key.public_key(),
            start,
            end,
        )
        return CertificateAuthority(builder.sign(self.private_key, hashes.SHA256()), key)

    def issue(
        self,
        common_name: str,
        *,
        dns_names: tuple[str, ...] = (),
        organization: str | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        serial_number: int | None = None,
    ) -> IssuedCertificate:
        """A client certificate (EKU clientAuth) signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = _window(not_before, not_after)
        builder = _leaf_builder(
            _name(common_name, organization),
            self.certificate.subject,
            key.public_key(),
            start,
            end,
            dns_names,
            serial_number or x509.random_serial_number(),
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()), critical=False
        )
        return IssuedCertificate(builder.sign(self.private_key, hashes.SHA256()), key)


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_public_key: ec.EllipticCurvePublicKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False)
    )
