"""The emulator's purge protection (as the Bicep configures the vault) and its hold hook for crash tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.keyvault.secrets import SecretClient

from devtools.keyvault_emulator import RunningEmulator, start_emulator
from devtools.stack import start_keyvault
from shared import problems
from shared.stores.secrets import SecretStore
from tests.devtools.kv_fixtures import make_client


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[RunningEmulator]:
    emulator = start_emulator(state_dir=tmp_path / "kv", purge_protection=True)
    yield emulator
    emulator.stop()


@pytest.fixture
def protected_client(protected: RunningEmulator) -> Iterator[SecretClient]:
    client = make_client(protected.url, protected.ca_bundle)
    yield client
    client.close()


def test_purge_is_refused_with_key_vaults_403_and_the_secret_stays_soft_deleted(
    protected: RunningEmulator, protected_client: SecretClient
) -> None:
    protected_client.set_secret("kept", "v")
    protected_client.begin_delete_secret("kept").wait()
    with pytest.raises(HttpResponseError) as caught:
        protected_client.purge_deleted_secret("kept")
    assert caught.value.status_code == 403
    assert caught.value.error is not None and caught.value.error.code == "Forbidden"
    assert "purge protection is enabled" in str(caught.value.message)
    assert protected.state() == {"secrets": [], "deleted": ["kept"]}
    assert protected_client.get_deleted_secret("kept").properties.recovery_level == "Recoverable"
    # Recovery still works, as in a protected vault.
    protected_client.begin_recover_deleted_secret("kept").wait()
    assert protected_client.get_secret("kept").value == "v"


def test_the_gateways_delete_finishes_in_a_protected_vault(
    protected: RunningEmulator, protected_client: SecretClient
) -> None:
    store = SecretStore(protected_client, cache_size=8)
    store.put("conn-protected", {"values": {"k": "v"}})
    store.delete("conn-protected")  # deleted, purge refused: no error, the secret expires on its own
    assert protected.state() == {"secrets": [], "deleted": ["conn-protected"]}
    store.delete("conn-protected")  # again (a re-run of an interrupted deletion): still fine
    assert protected.state() == {"secrets": [], "deleted": ["conn-protected"]}


def test_another_purge_failure_is_still_a_503_problem(
    protected: RunningEmulator, protected_client: SecretClient
) -> None:
    store = SecretStore(protected_client, cache_size=8)
    store.put("conn-other", {"values": {}})
    protected.inject_faults(500, count=100, method="DELETE", path_regex="^/deletedsecrets/")
    with pytest.raises(problems.Problem) as caught:
        store.delete("conn-other")
    assert caught.value.status == 503


def test_the_process_takes_the_purge_protection_flag(tmp_path: Path) -> None:
    service = start_keyvault(tmp_path / "kv", purge_protection=True)
    try:
        client = make_client(service.url, service.details["ca_bundle"])
        client.set_secret("p", "v")
        client.begin_delete_secret("p").wait()
        with pytest.raises(HttpResponseError) as caught:
            client.purge_deleted_secret("p")
        assert caught.value.status_code == 403
    finally:
        service.stop()


def test_a_held_request_waits_until_released_then_is_served(
    protected: RunningEmulator, protected_client: SecretClient
) -> None:
    protected.hold_requests(count=1, method="PUT", path_regex="^/secrets/held$")
    done = threading.Event()
    results: list[str] = []

    def write() -> None:
        results.append(protected_client.set_secret("held", "v").properties.version or "")
        done.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert protected.wait_held(timeout=30) == 1
    assert not done.is_set()
    assert protected.state()["secrets"] == []  # not applied while held
    protected.clear_faults()
    writer.join(timeout=30)
    assert done.is_set() and results and results[0]
    assert protected.state()["secrets"] == ["held"]


def test_hold_over_http_hooks(protected: RunningEmulator, protected_client: SecretClient) -> None:
    verify = protected.ca_bundle
    hook = f"{protected.url}_emulator/"
    assert requests.post(hook + "faults", json={"hold": True, "count": 1, "method": "GET"}, verify=verify).ok
    assert requests.get(hook + "faults", verify=verify).json()["pending"][0]["hold"] is True
    assert (
        requests.post(hook + "faults", json={"hold": True, "status": 503, "count": 1}, verify=verify).status_code == 400
    )
    protected_client.set_secret("x", "v")
    reader = threading.Thread(target=lambda: protected_client.get_secret("x"), daemon=True)
    reader.start()
    assert requests.post(hook + "held/wait", verify=verify, timeout=60).json() == {"held": 1}
    assert requests.delete(hook + "faults", verify=verify).status_code == 204
    reader.join(timeout=30)
    assert not reader.is_alive()


def test_without_purge_protection_secrets_are_purgeable(tmp_path: Path) -> None:
    emulator = start_emulator(state_dir=tmp_path / "kv")
    try:
        client = make_client(emulator.url, emulator.ca_bundle)
        client.set_secret("gone", "v")
        client.begin_delete_secret("gone").wait()
        assert client.get_deleted_secret("gone").properties.recovery_level == "Recoverable+Purgeable"
        client.purge_deleted_secret("gone")
        assert emulator.state() == {"secrets": [], "deleted": []}
    finally:
        emulator.stop()
