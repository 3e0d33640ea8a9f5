"""Front-door checks run before a caller is authenticated: caller IP filtering and TLS client certificates.

Both are pure: they take headers and settings and either return or raise a `Problem` (403).
"""

from shared.frontdoor._client_certs import (
    CLIENT_CERTIFICATE_HEADER,
    CLIENT_CERTIFICATE_MODES,
    CertificateIdentity,
    CertificateIdentityMatch,
    CertificatePolicy,
    ClientCertificateMode,
    authenticate_client_certificate,
    certificate_principal_id,
    certificate_thumbprint,
    load_ca_certificates,
    parse_forwarded_certificate,
    parse_identities,
    validate,
)
from shared.frontdoor._ip_filter import IpFilter, check, client_address, parse_entry

__all__ = [
    "CLIENT_CERTIFICATE_HEADER",
    "CLIENT_CERTIFICATE_MODES",
    "CertificateIdentity",
    "CertificateIdentityMatch",
    "CertificatePolicy",
    "ClientCertificateMode",
    "IpFilter",
    "authenticate_client_certificate",
    "certificate_principal_id",
    "certificate_thumbprint",
    "check",
    "client_address",
    "load_ca_certificates",
    "parse_entry",
    "parse_forwarded_certificate",
    "parse_identities",
    "validate",
]
