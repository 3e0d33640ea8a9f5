"""The front door end to end: the deployment's IP filter and client certificates, each in a gateway process
of its own with those settings, and a connector's IP filter on invoke.

Callers pick their source address on the loopback network (127.0.0.0/8), so one test machine plays
several callers; the dev host appends the TCP peer to X-Forwarded-For as App Service's front end does.
"""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.e2e.conftest import GatewayFactory, Stack, api_key_connector, host_of, problem
from tests.support.certs import CertificateAuthority, IssuedCertificate

ALLOWED = "127.0.0.1"
FORBIDDEN = "127.0.0.2"  # inside the allow range, but forbidden: forbid wins
NOT_LISTED = "127.0.0.9"  # outside the allow range
CERT_HEADER = "X-ARR-ClientCert"
# This module's own caller: what it connects stays out of other modules' principals' lists.
CALLER = f"frontdoor-{uuid.uuid4().hex[:8]}"


class SourceAddressAdapter(HTTPAdapter):
    """Connects from a chosen local address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def from_address(session: requests.Session, address: str) -> requests.Session:
    session.mount("http://", SourceAddressAdapter(address))
    return session


# --- the deployment's IP filter ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ip_gateway(start_gateway_process: GatewayFactory) -> str:
    return start_gateway_process({"AUTH_IP_ALLOW": "127.0.0.0/29", "AUTH_IP_FORBID": FORBIDDEN})


def test_an_allowed_address_gets_through(stack: Stack, ip_gateway: str) -> None:
    alice = from_address(stack.client("alice"), ALLOWED)
    assert alice.get(f"{ip_gateway}/api/connections").status_code == 200


@pytest.mark.parametrize("address", [FORBIDDEN, NOT_LISTED])
def test_a_refused_address_learns_nothing_else(stack: Stack, ip_gateway: str, address: str) -> None:
    caller = from_address(stack.client("alice"), address)
    body = problem(caller.get(f"{ip_gateway}/api/connections"))
    assert body["status"] == 403
    assert body["type"].endswith(":ip-forbidden")
    assert address in body["detail"]
    assert "127.0.0.0/29" not in body["detail"]
    # Refused before authentication: no credential at all, or a bad one, gets the same 403, not a 401.
    anonymous = from_address(requests.Session(), address)
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        response = anonymous.get(f"{ip_gateway}/api/connectors", headers=headers)
        assert response.status_code == 403
        assert "WWW-Authenticate" not in response.headers


def test_a_forged_forwarded_for_does_not_get_in(stack: Stack, ip_gateway: str) -> None:
    caller = from_address(stack.client("alice"), FORBIDDEN)
    for forged in (ALLOWED, f"{ALLOWED}, {ALLOWED}", "for=127.0.0.1"):
        response = caller.get(f"{ip_gateway}/api/connections", headers={"X-Forwarded-For": forged})
        assert response.status_code == 403, forged
        assert FORBIDDEN in problem(response)["detail"]


def test_health_answers_everyone(ip_gateway: str) -> None:
    response = from_address(requests.Session(), FORBIDDEN).get(f"{ip_gateway}/api/health")
    assert response.status_code == 200


# --- a connector's IP filter ------------------------------------------------------------------


@pytest.fixture(scope="module")
def filtered_connection(stack: Stack) -> str:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    response = stack.maker().put(
        f"{stack.url}/api/connectors/ip-filtered",
        json={
            "apiDefinition": definition,
            "apiProperties": properties,
            "policy": {"ipFilter": {"allow": ["127.0.0.0/29"], "forbid": [FORBIDDEN]}},
        },
    )
    assert response.status_code in (200, 201), response.text
    return stack.connect(stack.client(CALLER), "ip-filtered", {"api_key": "k-" + uuid.uuid4().hex})["id"]


def test_the_connector_ip_filter_applies_on_invoke(stack: Stack, filtered_connection: str) -> None:
    url = f"{stack.url}/api/connections/{filtered_connection}/invoke/items"
    assert from_address(stack.client(CALLER), ALLOWED).get(url).status_code == 200
    seen = len(stack.backend.requests)
    for address in (FORBIDDEN, NOT_LISTED):
        body = problem(from_address(stack.client(CALLER), address).get(url))
        assert body["status"] == 403
        assert body["type"].endswith(":ip-forbidden")
        assert "'ip-filtered'" in body["detail"]
        assert address in body["detail"]
    assert len(stack.backend.requests) == seen  # the backend never heard of the refused calls


def test_the_connector_ip_filter_leaves_the_rest_of_the_gateway_alone(stack: Stack, filtered_connection: str) -> None:
    carol = from_address(stack.client(CALLER), FORBIDDEN)
    assert carol.get(f"{stack.url}/api/connectors/ip-filtered").status_code == 200


# --- client certificates ----------------------------------------------------------------------


NOW = datetime.datetime.now(datetime.UTC)


class Pki:
    def __init__(self) -> None:
        self.root = CertificateAuthority.create("Gateway Clients Root")
        self.valid = self.root.issue("client-valid")
        self.pinned = self.root.issue("robot")
        self.expired = self.root.issue(
            "client-old", not_before=NOW - datetime.timedelta(days=30), not_after=NOW - datetime.timedelta(days=1)
        )
        self.untrusted = CertificateAuthority.create("Gateway Clients Root").issue("client-valid")
        self.self_signed = IssuedCertificate.self_signed("client-valid")


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def cert_gateway(start_gateway_process: GatewayFactory, pki: Pki) -> str:
    identities = [
        {"issuer-subject": pki.root.certificate.subject.rfc4514_string()},
        {"thumbprint": pki.pinned.thumbprint},
    ]
    return start_gateway_process(
        {
            "AUTH_CLIENT_CERT_MODE": "required",
            "AUTH_CLIENT_CERT_CA": pki.root.pem,
            "AUTH_CLIENT_CERT_IDENTITIES": json.dumps(identities),
        }
    )


def with_certificate(session: requests.Session, certificate: IssuedCertificate | None) -> requests.Session:
    if certificate is not None:
        session.headers[CERT_HEADER] = certificate.arr_header  # as App Service forwards it
    return session


def test_a_valid_certificate_with_a_token_gets_through(stack: Stack, cert_gateway: str, pki: Pki) -> None:
    alice = with_certificate(stack.client("alice"), pki.valid)
    assert alice.get(f"{cert_gateway}/api/connections").status_code == 200


@pytest.mark.parametrize(
    ("name", "slug", "reason"),
    [
        ("none", "client-certificate-required", None),
        ("expired", "client-certificate-rejected", "expired"),
        ("untrusted", "client-certificate-rejected", "untrusted"),
        ("self_signed", "client-certificate-rejected", "untrusted"),
    ],
)
def test_without_a_valid_certificate_a_token_is_not_enough(
    stack: Stack, cert_gateway: str, pki: Pki, name: str, slug: str, reason: str | None
) -> None:
    certificate = None if name == "none" else getattr(pki, name)
    alice = with_certificate(stack.client("alice"), certificate)
    body = problem(alice.get(f"{cert_gateway}/api/connections"))
    assert body["status"] == 403
    assert body["type"].endswith(f":{slug}")
    assert body.get("reason") == reason
    # Checked before the caller: without a token the answer is the same 403.
    anonymous = with_certificate(requests.Session(), certificate)
    assert anonymous.get(f"{cert_gateway}/api/connections").status_code == 403


def test_an_unreadable_certificate_header_is_refused(stack: Stack, cert_gateway: str) -> None:
    response = stack.client("alice").get(f"{cert_gateway}/api/connections", headers={CERT_HEADER: "not base64 DER"})
    assert problem(response)["reason"] == "unreadable"


def test_a_certificate_accepted_by_its_issuer_alone_is_no_identity(cert_gateway: str, pki: Pki) -> None:
    anonymous = with_certificate(requests.Session(), pki.valid)
    response = anonymous.get(f"{cert_gateway}/api/connections")
    assert response.status_code == 401


def test_a_pinned_certificate_authenticates_alone_and_stays_with_the_gateway(
    stack: Stack, cert_gateway: str, pki: Pki
) -> None:
    stack.register("cert-echo", *api_key_connector(host_of(stack.backend.url)))
    robot = with_certificate(requests.Session(), pki.pinned)
    response = robot.post(
        f"{cert_gateway}/api/connectors/cert-echo/connections",
        json={"displayName": "robot", "parameters": {"api_key": "k-" + uuid.uuid4().hex}},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["owner"] == f"cert|{pki.pinned.thumbprint}"
    assert robot.get(f"{cert_gateway}/api/connections/{created['id']}/invoke/ping").status_code == 200
    assert stack.backend.requests[-1].header(CERT_HEADER) is None  # the certificate was the gateway's to check
    # A token, when sent, is who the caller is; the certificate is then a second factor only.
    alice = with_certificate(stack.client("alice"), pki.pinned)
    assert alice.get(f"{cert_gateway}/api/connections/{created['id']}").status_code == 404


def test_health_needs_no_certificate(cert_gateway: str) -> None:
    assert requests.get(f"{cert_gateway}/api/health", timeout=10).status_code == 200
