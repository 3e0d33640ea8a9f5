"""Client certificates forwarded by App Service, validated like APIM's validate-client-certificate."""

from __future__ import annotations

import base64
import datetime
from datetime import timedelta

import pytest

from shared.frontdoor import (
    CertificateIdentity,
    CertificatePolicy,
    authenticate_client_certificate,
    certificate_principal_id,
    parse_forwarded_certificate,
    parse_identities,
    validate,
)
from shared.problems import Problem
from tests.support.certs import CertificateAuthority, IssuedCertificate

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.create("Gateway Test Root")


@pytest.fixture(scope="module")
def issuing(root: CertificateAuthority) -> CertificateAuthority:
    return root.intermediate("Gateway Test Issuing CA")


@pytest.fixture(scope="module")
def client(root: CertificateAuthority) -> IssuedCertificate:
    return root.issue("client-1", organization="Contoso", dns_names=("client-1.contoso.example",), serial_number=0x0A1B)


def rejection(policy: CertificatePolicy, certificate: IssuedCertificate, **kwargs) -> Problem:
    with pytest.raises(Problem) as caught:
        validate(policy, certificate.certificate, kwargs.pop("now", NOW), **kwargs)
    assert (caught.value.status, caught.value.slug) == (403, "client-certificate-rejected")
    return caught.value


# --- validity and trust ---


def test_a_valid_certificate_from_a_trusted_ca_is_accepted(root, client) -> None:
    match = validate(CertificatePolicy(root.pem), client.certificate, NOW)
    assert match.certificate == client.certificate
    assert match.thumbprint == client.thumbprint
    assert match.principal_id == f"cert|{client.thumbprint}" == certificate_principal_id(client.certificate)
    assert match.identity is None
    assert match.chain == (client.certificate, root.certificate)


def test_expired_certificate_is_rejected_with_its_date(root) -> None:
    expired = root.issue("old", not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    problem = rejection(CertificatePolicy(root.pem), expired)
    assert problem.extensions["reason"] == "expired"
    assert (NOW - timedelta(days=1)).date().isoformat() in problem.detail


def test_not_yet_valid_certificate_is_rejected(root) -> None:
    future = root.issue("early", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30))
    problem = rejection(CertificatePolicy(root.pem), future)
    assert problem.extensions["reason"] == "not-yet-valid"
    assert (NOW + timedelta(days=1)).date().isoformat() in problem.detail


def test_validity_checks_can_be_switched_off(root) -> None:
    expired = root.issue("old", not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    future = root.issue("early", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30))
    validate(CertificatePolicy(root.pem, validate_not_after=False), expired.certificate, NOW)
    validate(CertificatePolicy(root.pem, validate_not_before=False), future.certificate, NOW)
    rejection(CertificatePolicy(root.pem, validate_not_before=False), expired)
    rejection(CertificatePolicy(root.pem, validate_not_after=False), future)


@pytest.mark.parametrize(
    "stranger",
    [
        pytest.param(lambda: IssuedCertificate.self_signed("client-1"), id="self-signed"),
        pytest.param(
            lambda: CertificateAuthority.create("Gateway Test Root").issue("client-1"), id="other-ca-same-name"
        ),
    ],
)
def test_certificates_not_issued_by_a_trusted_ca_are_rejected(root, stranger) -> None:
    problem = rejection(CertificatePolicy(root.pem), stranger())
    assert problem.extensions["reason"] == "untrusted"
    assert "trust" in problem.detail


def test_a_certificate_whose_ca_has_expired_is_rejected() -> None:
    old_root = CertificateAuthority.create(
        "Old Root", not_before=NOW - timedelta(days=60), not_after=NOW - timedelta(days=1)
    )
    leaf = old_root.issue("client", not_before=NOW - timedelta(days=2), not_after=NOW + timedelta(days=30))
    assert rejection(CertificatePolicy(old_root.pem), leaf).extensions["reason"] == "untrusted"


def test_a_certificate_for_servers_only_is_rejected(root) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    server_only = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "server")]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(root.private_key, hashes.SHA256())
    )
    with pytest.raises(Problem) as caught:
        validate(CertificatePolicy(root.pem), server_only, NOW)
    assert caught.value.extensions["reason"] == "untrusted"


def test_chains_through_an_intermediate(root, issuing) -> None:
    leaf = issuing.issue("client-2")
    # The root alone, with the intermediate supplied: a full chain.
    match = validate(CertificatePolicy(root.pem), leaf.certificate, NOW, intermediates=[issuing.certificate])
    assert match.chain == (leaf.certificate, issuing.certificate, root.certificate)
    # The issuing CA configured: it is an anchor by itself.
    assert validate(CertificatePolicy(issuing.pem), leaf.certificate, NOW).chain[-1] == issuing.certificate
    # The root alone without the intermediate: no path.
    assert rejection(CertificatePolicy(root.pem), leaf).extensions["reason"] == "untrusted"


def test_a_bundle_of_several_cas_trusts_each(root, client) -> None:
    other = CertificateAuthority.create("Other Root")
    policy = CertificatePolicy(other.pem + root.pem)
    assert len(policy.trusted_cas) == 2
    validate(policy, client.certificate, NOW)
    validate(CertificatePolicy([other.pem, root.pem.encode()]), other.issue("x").certificate, NOW)


def test_a_self_signed_certificate_can_be_pinned_as_its_own_anchor() -> None:
    pinned = IssuedCertificate.self_signed("device-7")
    assert validate(CertificatePolicy(pinned.pem), pinned.certificate, NOW).chain == (pinned.certificate,)


def test_a_naive_now_is_utc(root, client) -> None:
    validate(CertificatePolicy(root.pem), client.certificate, NOW.replace(tzinfo=None))
    late = (client.certificate.not_valid_after_utc + timedelta(seconds=1)).replace(tzinfo=None)
    assert rejection(CertificatePolicy(root.pem), client, now=late).extensions["reason"] == "expired"


# --- identities ---


def as_windows_shows(thumbprint: str) -> str:
    """As copied from Windows' certificate dialog: byte pairs split by spaces, an invisible mark in front."""
    return "\u200e" + " ".join(thumbprint[i : i + 2] for i in range(0, len(thumbprint), 2))


@pytest.mark.parametrize(
    ("identity", "matches"),
    [
        (lambda c, r: CertificateIdentity(thumbprint=c.thumbprint), True),
        (lambda c, r: CertificateIdentity(thumbprint=c.thumbprint.lower()), True),
        (lambda c, r: CertificateIdentity(thumbprint=as_windows_shows(c.thumbprint)), True),
        (lambda c, r: CertificateIdentity(thumbprint="00" * 20), False),
        (lambda c, r: CertificateIdentity(serial_number="0A1B"), True),
        (lambda c, r: CertificateIdentity(serial_number="00:0a:1b"), True),
        (lambda c, r: CertificateIdentity(serial_number="0A1C"), False),
        (lambda c, r: CertificateIdentity(common_name="client-1"), True),
        (lambda c, r: CertificateIdentity(common_name="CLIENT-1"), True),
        (lambda c, r: CertificateIdentity(common_name="client-2"), False),
        (lambda c, r: CertificateIdentity(subject="CN=client-1,O=Contoso"), True),
        (lambda c, r: CertificateIdentity(subject="O=Contoso, CN=client-1"), True),  # .NET order and spacing
        (lambda c, r: CertificateIdentity(subject="cn=client-1,o=contoso"), True),
        (lambda c, r: CertificateIdentity(subject="CN=client-1"), False),  # missing O: not the same name
        (lambda c, r: CertificateIdentity(subject="CN=client-1,O=Fabrikam"), False),
        (lambda c, r: CertificateIdentity(dns_name="client-1.contoso.example"), True),
        (lambda c, r: CertificateIdentity(dns_name="Client-1.Contoso.Example"), True),
        (lambda c, r: CertificateIdentity(dns_name="client-2.contoso.example"), False),
        (lambda c, r: CertificateIdentity(dns_name="*.contoso.example"), False),
        (lambda c, r: CertificateIdentity(issuer_subject="O=Test PKI, CN=Gateway Test Root"), True),
        (lambda c, r: CertificateIdentity(issuer_subject="CN=Gateway Test Root"), False),
        (lambda c, r: CertificateIdentity(issuer_thumbprint=r.thumbprint), True),
        (lambda c, r: CertificateIdentity(issuer_thumbprint=c.thumbprint), False),
        # Every set field must match.
        (lambda c, r: CertificateIdentity(thumbprint=c.thumbprint, common_name="client-1"), True),
        (lambda c, r: CertificateIdentity(thumbprint=c.thumbprint, common_name="client-2"), False),
        (lambda c, r: CertificateIdentity(common_name="client-1", dns_name="other.example"), False),
    ],
)
def test_identity_fields(root, client, identity, matches: bool) -> None:
    policy = CertificatePolicy(root.pem, identities=[identity(client, root)])
    if matches:
        assert validate(policy, client.certificate, NOW).identity == policy.identities[0]
    else:
        problem = rejection(policy, client)
        assert problem.extensions["reason"] == "identity-mismatch"
        assert "identity" in problem.detail


def test_any_identity_may_match(root, client) -> None:
    wanted = CertificateIdentity(common_name="client-1")
    policy = CertificatePolicy(root.pem, identities=[CertificateIdentity(common_name="someone-else"), wanted])
    assert validate(policy, client.certificate, NOW).identity is policy.identities[1]


def test_issuer_thumbprint_of_an_intermediate(root, issuing) -> None:
    leaf = issuing.issue("client-3")
    policy = CertificatePolicy(root.pem, identities=[CertificateIdentity(issuer_thumbprint=issuing.thumbprint)])
    validate(policy, leaf.certificate, NOW, intermediates=[issuing.certificate])
    wrong = CertificatePolicy(root.pem, identities=[CertificateIdentity(issuer_thumbprint=root.thumbprint)])
    assert rejection(wrong, leaf, intermediates=[issuing.certificate]).extensions["reason"] == "identity-mismatch"


def test_identities_do_not_replace_trust(root) -> None:
    impostor = IssuedCertificate.self_signed("client-1")
    policy = CertificatePolicy(root.pem, identities=[CertificateIdentity(common_name="client-1")])
    assert rejection(policy, impostor).extensions["reason"] == "untrusted"


def test_without_trust_validation_a_thumbprint_pin_decides(root, client) -> None:
    pinned = IssuedCertificate.self_signed("device-9")
    policy = CertificatePolicy(validate_trust=False, identities=[CertificateIdentity(thumbprint=pinned.thumbprint)])
    assert policy == CertificatePolicy("", validate_trust=False, identities=policy.identities)  # unset CA setting
    match = validate(policy, pinned.certificate, NOW)
    assert match.chain == (pinned.certificate,)
    assert rejection(policy, client).extensions["reason"] == "identity-mismatch"
    # The issuer is still found among configured CAs for issuer_thumbprint.
    both = CertificatePolicy(
        root.pem,
        validate_trust=False,
        identities=[CertificateIdentity(thumbprint=client.thumbprint, issuer_thumbprint=root.thumbprint)],
    )
    validate(both, client.certificate, NOW)


# --- configuration errors ---


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "at least one field"),
        ({"thumbprint": "abc"}, "not a SHA-1 thumbprint"),
        ({"serial_number": "xyz"}, "not a serial number"),
        ({"subject": "client-1"}, "not a distinguished name"),
        ({"issuer_subject": "CN="}, None),
        ({"common_name": "  "}, "non-empty"),
    ],
)
def test_bad_identities_fail_when_configured(arguments: dict, message: str | None) -> None:
    try:
        CertificateIdentity(**arguments)
    except ValueError as error:
        assert message is None or message in str(error)
    else:
        assert message is None, "expected a ValueError"


def test_identities_from_json_use_apim_or_field_names(client) -> None:
    text = (
        f'[{{"thumbprint": "{client.thumbprint}", "common-name": "client-1"}},'
        ' {"issuer_subject": "CN=Root", "dns-name": "a.example"}]'
    )
    first, second = parse_identities(text)
    assert first == CertificateIdentity(thumbprint=client.thumbprint, common_name="client-1")
    assert second == CertificateIdentity(issuer_subject="CN=Root", dns_name="a.example")
    assert parse_identities("") == ()
    assert parse_identities("[]") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"thumbprint": "x"}', "JSON list"),
        ('["CN=x"]', "identity 0: each certificate identity must be a JSON object"),
        ('[{"common-name": "a"}, {"colour": "blue"}]', "identity 1: unknown certificate identity field 'colour'"),
        ('[{"issuer-certificate-id": "x"}]', "issuer-certificate-id isn't supported"),
        ('[{"common-name": 5}]', "non-empty string"),
        ('[{"thumbprint": "12"}]', "not a SHA-1 thumbprint"),
    ],
)
def test_bad_identity_json_is_explained(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_identities(text)


def test_policy_refuses_unusable_settings(client) -> None:
    with pytest.raises(ValueError, match="at least one trusted CA"):
        CertificatePolicy()
    with pytest.raises(ValueError, match="no readable PEM"):
        CertificatePolicy("not a pem")
    with pytest.raises(ValueError, match="must pin a thumbprint"):
        CertificatePolicy(validate_trust=False)
    with pytest.raises(ValueError, match="must pin a thumbprint"):
        CertificatePolicy(validate_trust=False, identities=[CertificateIdentity(common_name="client-1")])


def test_policies_compare_by_value(root) -> None:
    identity = CertificateIdentity(common_name="client-1")
    assert CertificatePolicy(root.pem, identities=[identity]) == CertificatePolicy([root.pem], identities=(identity,))
    assert CertificatePolicy(root.pem) != CertificatePolicy(root.pem, validate_not_after=False)


# --- the forwarded header ---


def test_parse_forwarded_certificate_reads_base64_der_and_pem(client) -> None:
    assert parse_forwarded_certificate(client.arr_header) == client.certificate
    wrapped = "\n".join(client.arr_header[i : i + 64] for i in range(0, len(client.arr_header), 64))
    assert parse_forwarded_certificate(f"  {wrapped}\n") == client.certificate
    assert parse_forwarded_certificate(client.pem) == client.certificate


@pytest.mark.parametrize(
    "value",
    ["", "   ", "not base64!!", base64.b64encode(b"junk").decode(), "-----BEGIN CERTIFICATE-----\nxx\n", "A" * 70000],
)
def test_parse_forwarded_certificate_refuses_garbage(value: str) -> None:
    with pytest.raises(ValueError, match="client certificate header"):
        parse_forwarded_certificate(value)


# --- modes: off, optional, required ---


@pytest.fixture(scope="module")
def policy(root) -> CertificatePolicy:
    return CertificatePolicy(root.pem)


def test_mode_off_ignores_the_header_entirely(policy) -> None:
    assert authenticate_client_certificate({"X-ARR-ClientCert": "garbage"}, "off", policy, NOW) is None
    assert authenticate_client_certificate({}, "off", None, NOW) is None


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_a_presented_certificate_is_validated(policy, client, mode) -> None:
    match = authenticate_client_certificate({"x-arr-clientcert": client.arr_header}, mode, policy, NOW)
    assert match is not None and match.thumbprint == client.thumbprint
    stranger = IssuedCertificate.self_signed("client-1")
    with pytest.raises(Problem) as caught:
        authenticate_client_certificate({"X-ARR-ClientCert": stranger.arr_header}, mode, policy, NOW)
    assert caught.value.extensions["reason"] == "untrusted"


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_an_unreadable_header_is_rejected(policy, mode) -> None:
    with pytest.raises(Problem) as caught:
        authenticate_client_certificate({"X-ARR-ClientCert": "garbage!"}, mode, policy, NOW)
    assert (caught.value.status, caught.value.slug) == (403, "client-certificate-rejected")
    assert caught.value.extensions["reason"] == "unreadable"


@pytest.mark.parametrize("headers", [{}, {"X-ARR-ClientCert": ""}, {"X-ARR-ClientCert": "  "}])
def test_no_certificate(policy, headers) -> None:
    assert authenticate_client_certificate(headers, "optional", policy, NOW) is None
    with pytest.raises(Problem) as caught:
        authenticate_client_certificate(headers, "required", policy, NOW)
    assert (caught.value.status, caught.value.slug) == (403, "client-certificate-required")
    assert "client certificate" in caught.value.detail


def test_a_mode_that_checks_needs_a_policy() -> None:
    with pytest.raises(ValueError, match="needs a certificate policy"):
        authenticate_client_certificate({}, "required", None, NOW)


def test_a_policy_pins_a_thumbprint_however_it_is_written(root, client) -> None:
    written = " ".join(client.thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()  # as Windows shows it
    policy = CertificatePolicy(root.pem, identities=[CertificateIdentity(thumbprint=written)])
    assert policy.pins(client.thumbprint)
    assert not CertificatePolicy(root.pem, identities=[CertificateIdentity(common_name="x")]).pins(client.thumbprint)
