"""The backend host a token response names (Salesforce's instance_url): only on the provider's declared domains,
and not where the address guard refuses to go. DNS is faked: no test resolves a real name."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared.oauth import (
    OAuthConfig,
    OAuthError,
    backend_url_with_host,
    config_from_record,
    config_to_record,
    oauth_config_for,
)
from shared.proxy import AddressPolicy
from tests.unit.test_oauth_config import oauth_connector

BACKEND = "https://login.salesforce.com/services/data"


@pytest.fixture
def salesforce() -> OAuthConfig:
    return oauth_config_for(oauth_connector({"identityProvider": "salesforce", "clientId": "sf", "scopes": ["api"]}))


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """host -> the address the fake resolver answers; a name not listed fails the test (no lookup was expected)."""
    answers: dict[str, str] = {}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list:
        assert host in answers, f"unexpected DNS lookup of {host}"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_the_salesforce_template_declares_salesforces_domains(salesforce) -> None:
    assert salesforce.backend_host_field == "instance_url"
    assert set(salesforce.backend_host_suffixes) == {
        ".salesforce.com",
        ".force.com",
        ".cloudforce.com",
        ".database.com",
    }
    assert config_from_record(config_to_record(salesforce)) == salesforce


@pytest.mark.parametrize(
    "instance_url", ["https://acme.my.salesforce.com", "https://ACME.my.salesforce.com/", "https://na1.force.com:443"]
)
def test_an_org_host_on_a_declared_domain_becomes_the_backend_host(salesforce, dns, instance_url: str) -> None:
    host = urlsplit(instance_url).hostname or ""
    dns[host] = "13.110.6.1"
    url = backend_url_with_host(salesforce, BACKEND, instance_url, AddressPolicy())
    assert url == f"https://{host}/services/data"


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://attacker.example",
        "https://salesforce.com",  # the bare domain is no org's host
        "https://acme.my.salesforce.com.attacker.example",
        "https://attacker.example/.salesforce.com",
        "https://attacker.example#.salesforce.com",
        "https://acme.my.salesforce.com@attacker.example",
        "https://x:y@acme.my.salesforce.com",
        "https://acme.my.salesforce.com:8443",
        "https://acme.my.salesforce.com:notaport",
        "http://acme.my.salesforce.com",
        "https://127.0.0.1",
        "https://[::1]",
        "https://acme.my.salesforce.com%2eattacker.example",
        "https://acme_.my.salesforce.com",
        "//acme.my.salesforce.com",
        "",
    ],
)
def test_anything_else_is_refused_without_a_lookup(salesforce, dns, instance_url: str) -> None:
    with pytest.raises(OAuthError) as refused:
        backend_url_with_host(salesforce, BACKEND, instance_url, AddressPolicy())
    assert refused.value.error == "invalid_response"
    assert "instance_url" in refused.value.description


@pytest.mark.parametrize(("address", "why"), [("127.0.0.1", "loopback"), ("169.254.169.254", "metadata")])
def test_a_declared_host_resolving_where_the_address_guard_refuses_is_refused(
    salesforce, dns, address: str, why: str
) -> None:
    dns["evil.my.salesforce.com"] = address
    with pytest.raises(OAuthError) as refused:
        backend_url_with_host(salesforce, BACKEND, "https://evil.my.salesforce.com", AddressPolicy())
    assert why in refused.value.description and "won't call" in refused.value.description


def test_a_config_stored_before_it_carried_suffixes_uses_its_providers(salesforce, dns) -> None:
    record = config_to_record(salesforce)
    del record["backend_host_suffixes"]
    stored = config_from_record(record)
    dns["acme.my.salesforce.com"] = "13.110.6.1"
    assert backend_url_with_host(stored, BACKEND, "https://acme.my.salesforce.com", AddressPolicy()).startswith(
        "https://acme.my.salesforce.com/"
    )
    with pytest.raises(OAuthError):
        backend_url_with_host(stored, BACKEND, "https://attacker.example", AddressPolicy())


def test_a_provider_declaring_no_domain_accepts_no_host(salesforce, dns) -> None:
    unknown = dataclasses.replace(salesforce, identity_provider="oauth2", backend_host_suffixes=())
    with pytest.raises(OAuthError, match="allowed: none"):
        backend_url_with_host(unknown, BACKEND, "https://acme.my.salesforce.com", AddressPolicy())
