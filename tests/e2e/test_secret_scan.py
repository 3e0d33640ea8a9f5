"""The secret scan, run after every other test (tests/e2e/conftest.py orders it last): no secret value
any test used appears in any log of the end-to-end suite. Collection: tests/support/secret_scan.py."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import requests
from azure.keyvault.secrets import SecretClient

from shared.stores.clients import StaticTokenCredential
from tests.e2e.conftest import Stack
from tests.support.secret_scan import LOGS, SECRETS, SecretRegistry, find_leaks, harvest_secret_document, read_logs


def _all_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every log file of the session (each gateway process, Azurite, the Key Vault emulator) and the texts
    stand-ins kept before deleting theirs."""
    return {**read_logs(sorted(Path(tmp_path_factory.getbasetemp()).rglob("*.log"))), **LOGS.texts()}


def _harvest_key_vault(stack: Stack, registry: SecretRegistry) -> int:
    """Secret-named fields of every version of every secret still in the vault: what connections hold."""
    client = SecretClient(
        stack.keyvault.url,
        StaticTokenCredential(),
        verify_challenge_resource=False,
        connection_verify=stack.keyvault.details["ca_bundle"],
    )
    versions = 0
    for secret in client.list_properties_of_secrets():
        for version in client.list_properties_of_secret_versions(secret.name):
            if version.enabled is False:
                # A credential a PATCH replaced: Key Vault refuses to read it. Its value was sent by the test that
                # stored it, so the HTTP harvest already holds it.
                continue
            value = client.get_secret(secret.name, version.version).value or ""
            try:
                harvest_secret_document(registry, json.loads(value), f"Key Vault secret {secret.name}")
            except ValueError:
                registry.add(value, f"Key Vault secret {secret.name}")
            versions += 1
    return versions


def test_the_scan_finds_a_value_that_reaches_a_gateway_log(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A value that does reach the log (the dev host logs request paths): the scan must report it, so a
    # clean scan below means something. It is not registered as a used secret.
    canary = "canary-" + uuid.uuid4().hex
    requests.get(f"{stack.url}/api/{canary}", timeout=10)
    deadline = time.monotonic() + 10
    while canary not in stack.gateway_log() and time.monotonic() < deadline:
        time.sleep(0.05)  # the access line is written after the answer

    leaks = find_leaks(_all_logs(tmp_path_factory), {canary: "canary"})

    assert [leak.log for leak in leaks] == [str(stack.log_path)]
    assert canary not in leaks[0].line and "<SECRET>" in leaks[0].line


def test_no_secret_any_test_used_is_in_any_log(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> None:
    _harvest_key_vault(stack, SECRETS)
    logs = _all_logs(tmp_path_factory)
    secrets = SECRETS.values()
    assert str(stack.log_path) in logs and logs[str(stack.log_path)]
    assert secrets, "no secret was collected: the collection is broken"

    leaks = find_leaks(logs, secrets)

    assert not leaks, f"{len(leaks)} leak(s) over {len(logs)} logs and {len(secrets)} secrets:\n" + "\n".join(
        map(str, leaks[:20])
    )
