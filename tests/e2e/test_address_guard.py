"""The address guard end to end: a gateway without PROXY_ALLOW_LOOPBACK refuses every spelling of loopback,
and every gateway refuses metadata and link-local addresses, before a byte reaches the listener."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import GatewayFactory, Stack, api_key_connector, problem
from tests.support.backend import RecordingBackend

KEY = "key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def listener() -> Iterator[RecordingBackend]:
    """The attacker's target: a loopback port no connector should be able to reach without PROXY_ALLOW_LOOPBACK."""
    with RecordingBackend() as backend:
        yield backend


@pytest.fixture(scope="module")
def strict_gateway(start_gateway_process: GatewayFactory) -> str:
    return start_gateway_process({"PROXY_ALLOW_LOOPBACK": "false"})


def _invoke(stack: Stack, gateway: str, connector_id: str, host: str) -> requests.Response:
    definition, properties = api_key_connector(host, base_path="/")
    stack.register(connector_id, definition, properties)
    caller = stack.client("mallory")
    connection_id = stack.connect(caller, connector_id, {"api_key": KEY})["id"]
    # What the dev host's admin API takes to run a timer function (and the real host's, with its master key).
    return caller.post(f"{gateway}/api/connections/{connection_id}/invoke/admin/functions/cleanup", json={})


LOOPBACK_HOSTS = ["127.0.0.1", "127.1", "0x7f.1", "0177.0.0.1", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "localhost"]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_is_refused_without_proxy_allow_loopback(
    stack: Stack, strict_gateway: str, listener: RecordingBackend, host: str
) -> None:
    response = _invoke(stack, strict_gateway, f"loop-{LOOPBACK_HOSTS.index(host)}", f"{host}:{listener.port}")
    body = problem(response)
    assert response.status_code == 403, response.text
    assert body["type"] == "urn:connector-gateway:problem:backend-address-forbidden"
    assert "loopback" in body["detail"]
    assert listener.requests == []
    assert KEY not in response.text


def test_the_dev_hosts_admin_api_is_not_reachable_through_a_connector(stack: Stack, strict_gateway: str) -> None:
    # The stack's own gateway (dev host) on loopback: its admin API must not run `cleanup` for a caller.
    gateway_host = stack.url.split("://", 1)[1]
    response = _invoke(stack, strict_gateway, "loop-admin", gateway_host)
    assert response.status_code == 403
    assert problem(response)["type"] == "urn:connector-gateway:problem:backend-address-forbidden"


METADATA_HOSTS = ["169.254.169.254", "[::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]", "[::ffff:169.254.169.254]"]


@pytest.mark.parametrize("host", METADATA_HOSTS)
def test_metadata_addresses_are_refused_even_where_loopback_is_allowed(stack: Stack, host: str) -> None:
    response = _invoke(stack, stack.url, f"imds-{METADATA_HOSTS.index(host)}", host)
    body = problem(response)
    assert response.status_code == 403, response.text
    assert body["type"] == "urn:connector-gateway:problem:backend-address-forbidden"
    assert "metadata" in body["detail"]


def test_the_same_connector_works_where_loopback_is_allowed(
    stack: Stack, listener: RecordingBackend, strict_gateway: str
) -> None:
    response = _invoke(stack, stack.url, "loop-allowed", f"127.0.0.1:{listener.port}")
    assert response.status_code == 200, response.text
    assert listener.requests[-1].target == "/admin/functions/cleanup"
    assert listener.requests[-1].header("X-Api-Key") == KEY
    listener.clear()
