"""The Key Vault emulator, driven by the real azure-keyvault-secrets SecretClient (and raw HTTPS where needed)."""

from __future__ import annotations

import json
import re
import signal
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.secrets import SecretClient

from devtools.keyvault_emulator import RunningEmulator, start_emulator
from devtools.keyvault_emulator._app import EmulatorApp
from devtools.keyvault_emulator._hooks import build_fault
from devtools.keyvault_emulator._protocol import Request
from devtools.keyvault_emulator._store import SecretProperties, SecretStore
from shared.stores.clients import EMULATOR_TOKEN, StaticTokenCredential
from tests.devtools import kv_fixtures
from tests.devtools.kv_fixtures import make_client, run_emulator_process

kv_emulator = kv_fixtures.kv_emulator
kv_client = kv_fixtures.kv_client

API = {"api-version": "7.6"}
AUTH = {"Authorization": f"Bearer {EMULATOR_TOKEN}"}
CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", '
    'resource="https://vault.azure.net"'
)


def raw(emulator: RunningEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, emulator.url + path, verify=emulator.ca_bundle, timeout=10, **kwargs)


# -- secrets through the SDK ------------------------------------------------------------------------------------


def test_set_then_get_latest_and_by_version(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    first = kv_client.set_secret("conn-1", "v1", content_type="text/plain", tags={"owner": "alice"})
    second = kv_client.set_secret("conn-1", "v2")

    assert re.fullmatch(rf"{re.escape(kv_emulator.url)}secrets/conn-1/[0-9a-f]{{32}}", first.id)
    assert first.properties.version != second.properties.version
    assert kv_client.get_secret("conn-1").value == "v2"
    old = kv_client.get_secret("conn-1", first.properties.version)
    assert (old.value, old.properties.content_type, old.properties.tags) == ("v1", "text/plain", {"owner": "alice"})
    assert isinstance(old.properties.created_on.timestamp(), float)
    assert kv_client.get_secret("CONN-1").value == "v2"  # names are case-insensitive, as in Key Vault


def test_unknown_secret_and_version_are_not_found(kv_client: SecretClient) -> None:
    kv_client.set_secret("known", "v")
    with pytest.raises(ResourceNotFoundError) as unknown:
        kv_client.get_secret("unknown")
    assert unknown.value.error.code == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        kv_client.get_secret("known", "0" * 32)


def test_invalid_name_is_bad_parameter(kv_client: SecretClient) -> None:
    for name in ("under_score", "x" * 128):
        with pytest.raises(HttpResponseError) as error:
            kv_client.set_secret(name, "v")
        assert (error.value.status_code, error.value.error.code) == (400, "BadParameter")
    assert kv_client.set_secret("x" * 127, "v").name == "x" * 127


def test_update_properties_keeps_value_and_unset_fields(kv_client: SecretClient) -> None:
    created = kv_client.set_secret("upd", "value", content_type="a", tags={"t": "1"})
    version = created.properties.version

    updated = kv_client.update_secret_properties(
        "upd", version, tags={"t": "2"}, expires_on=created.properties.created_on
    )
    assert (updated.tags, updated.content_type, updated.expires_on) == ({"t": "2"}, "a", created.properties.created_on)
    assert kv_client.get_secret("upd", version).value == "value"

    kv_client.update_secret_properties("upd", enabled=False)  # no version: the latest
    with pytest.raises(HttpResponseError) as disabled:
        kv_client.get_secret("upd")
    assert disabled.value.status_code == 403
    assert [p.enabled for p in kv_client.list_properties_of_secret_versions("upd")] == [False]


def test_list_secrets_pages_through_next_links(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    names = [f"page-{i:02d}" for i in range(7)]
    for name in names:
        kv_client.set_secret(name, "v")
    kv_client.set_secret("page-00", "v2")  # a second version is still one secret

    pages = [list(page) for page in kv_client.list_properties_of_secrets(max_page_size=3).by_page()]

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [p.name for page in pages for p in page] == names
    assert all(p.version is None for page in pages for p in page)  # list ids carry no version
    first_page = raw(kv_emulator, "GET", "secrets", params={**API, "maxresults": "3"}, headers=AUTH).json()
    assert first_page["nextLink"].startswith(f"{kv_emulator.url}secrets?")
    assert "value" not in first_page["value"][0]  # lists never carry values


def test_list_versions_pages(kv_client: SecretClient) -> None:
    versions = [kv_client.set_secret("versioned", f"v{i}").properties.version for i in range(5)]

    pages = [
        list(page) for page in kv_client.list_properties_of_secret_versions("versioned", max_page_size=2).by_page()
    ]

    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(p.version for page in pages for p in page) == sorted(versions)


def test_delete_conflict_recover(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    kv_client.set_secret("gone", "v1")
    started = time.monotonic()

    deleted = kv_client.begin_delete_secret("gone").result()
    assert deleted.recovery_id == f"{kv_emulator.url}deletedsecrets/gone"
    assert deleted.scheduled_purge_date > deleted.deleted_date
    assert kv_client.get_deleted_secret("gone").name == "gone"
    assert [d.name for d in kv_client.list_deleted_secrets()] == ["gone"]
    with pytest.raises(ResourceNotFoundError):
        kv_client.get_secret("gone")
    with pytest.raises(ResourceExistsError) as conflict:
        kv_client.set_secret("gone", "v2")
    assert conflict.value.error.code == "Conflict"
    assert "deleted but recoverable state" in conflict.value.error.message

    kv_client.begin_recover_deleted_secret("gone").wait()

    assert time.monotonic() - started < 1.5  # the pollers did not sleep their 2 s interval
    assert kv_client.get_secret("gone").value == "v1"
    assert kv_emulator.state() == {"secrets": ["gone"], "deleted": []}


def test_delete_poller_waits_quickly(kv_client: SecretClient) -> None:
    kv_client.set_secret("quick", "v")
    started = time.monotonic()
    kv_client.begin_delete_secret("quick").wait()
    assert time.monotonic() - started < 1


def test_delete_purge_recreate(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    kv_client.set_secret("purged", "old")
    kv_client.begin_delete_secret("purged").wait()

    kv_client.purge_deleted_secret("purged")

    assert raw(kv_emulator, "GET", "_emulator/state").json() == {"secrets": [], "deleted": []}
    with pytest.raises(ResourceNotFoundError):
        kv_client.get_deleted_secret("purged")
    kv_client.set_secret("purged", "new")
    assert [p.version for p in kv_client.list_properties_of_secret_versions("purged")] == [
        kv_client.get_secret("purged").properties.version
    ]


# -- auth and protocol checks over raw HTTPS --------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": EMULATOR_TOKEN}])
def test_requests_without_the_token_get_the_challenge(kv_emulator: RunningEmulator, headers: dict) -> None:
    response = raw(kv_emulator, "GET", "secrets", params=API, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.json()["error"]["code"] == "Unauthorized"
    assert kv_emulator.request_counts()["total"] == 0  # only authenticated requests are counted


def test_sdk_with_a_wrong_token_fails_authentication(kv_emulator: RunningEmulator) -> None:
    client = SecretClient(
        kv_emulator.url,
        StaticTokenCredential("wrong"),
        verify_challenge_resource=False,
        connection_verify=kv_emulator.ca_bundle,
    )
    with pytest.raises(ClientAuthenticationError):
        client.get_secret("any")


def test_api_version_is_required_and_checked(kv_emulator: RunningEmulator) -> None:
    assert raw(kv_emulator, "GET", "secrets", headers=AUTH).status_code == 400
    assert raw(kv_emulator, "GET", "secrets", params={"api-version": "6.0"}, headers=AUTH).status_code == 400
    for version in ("7.0", "7.6", "2026-04-01"):
        assert raw(kv_emulator, "GET", "secrets", params={"api-version": version}, headers=AUTH).status_code == 200


def test_keep_alive_connection_answers_without_delayed_ack_stalls(kv_emulator: RunningEmulator) -> None:
    with requests.Session() as session:
        # Per request: requests lets REQUESTS_CA_BUNDLE override a Session's verify.
        call = {"params": API, "headers": AUTH, "verify": kv_emulator.ca_bundle}
        session.put(f"{kv_emulator.url}secrets/fast", json={"value": "v"}, **call).raise_for_status()
        started = time.monotonic()
        for _ in range(30):
            session.get(f"{kv_emulator.url}secrets/fast", **call).raise_for_status()
        # A headers/body split write costs ~40 ms per call (1.2 s here); one write keeps it to ~1 ms.
        assert time.monotonic() - started < 0.6


def test_stop_closes_idle_keep_alive_connections(tmp_path: Path) -> None:
    emulator = start_emulator(state_dir=tmp_path)
    with requests.Session() as session:
        assert session.get(f"{emulator.url}_emulator/state", verify=emulator.ca_bundle).status_code == 200
        emulator.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{emulator.url}_emulator/state", verify=emulator.ca_bundle, timeout=5)


def test_server_certificate_covers_loopback_names(kv_emulator: RunningEmulator) -> None:
    port = kv_emulator.url.rsplit(":", 1)[1].rstrip("/")
    assert requests.get(f"https://localhost:{port}/_emulator/state", verify=kv_emulator.ca_bundle).ok
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{kv_emulator.url}_emulator/state", verify=True)  # not trusted without ca.pem
    assert ssl.create_default_context(cafile=kv_emulator.ca_bundle)  # a loadable PEM


# -- test hooks -------------------------------------------------------------------------------------------------


def test_injected_429_with_retry_after_is_retried(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    kv_client.set_secret("throttled", "v")
    kv_emulator.reset_request_counts()
    kv_emulator.inject_faults(429, 1, retry_after=1, method="GET")
    started = time.monotonic()

    assert kv_client.get_secret("throttled").value == "v"

    assert time.monotonic() - started >= 0.9  # the SDK honoured Retry-After
    assert kv_emulator.request_counts() == {"total": 2, "by_route": {"GET /secrets/{name}/{version}": 2}}


def test_injected_503_beyond_retries_surfaces(kv_emulator: RunningEmulator) -> None:
    client = make_client(kv_emulator.url, kv_emulator.ca_bundle, retry_total=1, retry_backoff_factor=0.01)
    client.set_secret("down", "v")
    response = raw(
        kv_emulator, "POST", "_emulator/faults", json={"status": 503, "count": 5, "path_regex": "^/secrets/"}
    )
    assert response.json()["pending"][0]["remaining"] == 5

    with pytest.raises(HttpResponseError) as error:
        client.get_secret("down")

    assert error.value.status_code == 503
    assert raw(kv_emulator, "GET", "_emulator/faults").json()["pending"][0]["remaining"] == 3
    assert raw(kv_emulator, "DELETE", "_emulator/faults").status_code == 204
    assert client.get_secret("down").value == "v"


def test_fault_filters_by_method_and_path(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    kv_client.set_secret("filtered", "v")
    kv_emulator.inject_faults(500, 1, method="PUT", path_regex="^/secrets/other$")

    assert kv_client.get_secret("filtered").value == "v"  # GET: not matched
    assert kv_client.set_secret("filtered", "v2").value == "v2"  # other path: not matched
    retrying = raw(kv_emulator, "PUT", "secrets/other", params=API, headers=AUTH, json={"value": "x"})
    assert (retrying.status_code, retrying.json()["error"]["code"]) == (500, "InternalServerError")
    assert raw(kv_emulator, "PUT", "secrets/other", params=API, headers=AUTH, json={"value": "x"}).ok


@pytest.mark.parametrize(
    "fault",
    [{"status": 200, "count": 1}, {"status": 503}, {"status": 503, "count": 0}, {"status": 503, "count": 1, "x": 1}],
)
def test_invalid_fault_requests_are_rejected(kv_emulator: RunningEmulator, fault: dict) -> None:
    assert raw(kv_emulator, "POST", "_emulator/faults", json=fault).status_code == 400
    assert raw(kv_emulator, "GET", "_emulator/faults").json() == {"pending": []}


def test_request_counts_by_route_and_reset(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    kv_client.set_secret("counted", "v")
    kv_client.get_secret("counted")
    kv_client.get_secret("counted")

    counts = raw(kv_emulator, "GET", "_emulator/requests").json()

    assert counts == {"total": 3, "by_route": {"PUT /secrets/{name}": 1, "GET /secrets/{name}/{version}": 2}}
    assert raw(kv_emulator, "DELETE", "_emulator/requests").status_code == 204
    assert kv_emulator.request_counts() == {"total": 0, "by_route": {}}


def test_state_lists_names_never_values(kv_emulator: RunningEmulator, kv_client: SecretClient) -> None:
    kv_client.set_secret("kept", "super-secret-value")
    kv_client.set_secret("dropped", "super-secret-value")
    kv_client.begin_delete_secret("dropped").wait()

    response = raw(kv_emulator, "GET", "_emulator/state")

    assert response.json() == {"secrets": ["kept"], "deleted": ["dropped"]}
    assert "super-secret-value" not in response.text


def test_log_lines_carry_no_values(kv_client: SecretClient, capfd: pytest.CaptureFixture[str]) -> None:
    kv_client.set_secret("logged", "value-that-must-not-leak")
    kv_client.get_secret("logged")

    logged = capfd.readouterr().err

    assert "PUT /secrets/logged 200" in logged
    assert "GET /secrets/logged/ 200" in logged
    assert "value-that-must-not-leak" not in logged


# -- pure parts, without sockets ------------------------------------------------------------------------------


def test_faults_are_not_consumed_by_unauthenticated_requests() -> None:
    app = EmulatorApp(SecretStore())
    app.faults.add(build_fault(503, 1, retry_after=2))
    base = "https://vault.test/"

    challenge = app.handle(Request("GET", "/secrets/x/", API), base)
    faulted = app.handle(Request("GET", "/secrets/x/", API, headers=AUTH), base)
    after = app.handle(Request("GET", "/secrets/x/", API, headers=AUTH), base)

    assert challenge.status == 401
    assert (faulted.status, dict(faulted.headers)) == (503, {"Retry-After": "2"})
    assert after.status == 404
    assert app.requests.snapshot() == {"total": 2, "by_route": {"GET /secrets/{name}/{version}": 2}}


def test_store_persists_every_change_to_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    store = SecretStore(path, clock=lambda: 1_700_000_000)
    kept = store.set("Kept", "v1", SecretProperties(tags={"a": "b"}))
    store.set("gone", "v", SecretProperties())
    store.delete("gone")

    reloaded = SecretStore(path)

    assert reloaded.get("kept", kept.version.version) == kept
    assert reloaded.names() == (["Kept"], ["gone"])
    assert reloaded.get_deleted("gone").deleted_date == 1_700_000_000
    assert path.stat().st_mode & 0o777 == 0o600


# -- the command line -------------------------------------------------------------------------------------------


def test_persist_survives_a_restart_and_keeps_the_ca(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "emulator.log"
    first = run_emulator_process(state, log, "--persist")
    ca_before = Path(first.ca_bundle).read_bytes()
    try:
        client = make_client(first.url, first.ca_bundle)
        version = client.set_secret("durable", "kept").properties.version
        client.set_secret("tomb", "v")
        client.begin_delete_secret("tomb").wait()
    finally:
        assert first.stop() == 0

    second = run_emulator_process(state, log, "--persist")
    try:
        assert Path(second.ca_bundle).read_bytes() == ca_before
        client = make_client(second.url, second.ca_bundle)
        assert client.get_secret("durable", version).value == "kept"
        assert [d.name for d in client.list_deleted_secrets()] == ["tomb"]
    finally:
        second.stop()
    assert "kept" not in log.read_text()


def test_without_persist_secrets_are_in_memory(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "emulator.log"
    first = run_emulator_process(state, log)
    try:
        make_client(first.url, first.ca_bundle).set_secret("ephemeral", "v")
    finally:
        first.process.send_signal(signal.SIGINT)
        assert first.process.wait(timeout=10) == 0
    assert not (state / "secrets.json").exists()

    second = run_emulator_process(state, log)
    try:
        assert json.loads(requests.get(f"{second.url}_emulator/state", verify=second.ca_bundle).text)["secrets"] == []
    finally:
        second.stop()
