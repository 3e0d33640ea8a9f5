"""`python -m shared.cli keys ...` end to end: a real subprocess against a real Azurite."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devtools.stack import REPO as REPO_ROOT
from shared.callers import SubscriptionKeyStore, subscription_key_table
from shared.settings import Settings
from tests.support.azurite import azurite_tables


@pytest.fixture(scope="module")
def cli_env() -> Iterator[dict[str, str]]:
    with azurite_tables() as connection_string:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("AUTH_", "TABLES_"))}
        env.update(
            KEY_VAULT_URL="https://vault.example",
            TABLES_CONNECTION_STRING=connection_string,
            TABLES_PREFIX="cli",
        )
        yield env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def output_fields(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


def parse_create_output(stdout: str) -> tuple[str, str]:
    fields = output_fields(stdout)
    return fields["id"], fields["value"]


def test_create_list_revoke(cli_env):
    created = cli(cli_env, "keys", "create", "--principal", "svc|ci", "--name", "ci", "--role", "A", "--role", "B")
    assert created.returncode == 0, created.stderr
    key_id, value = parse_create_output(created.stdout)
    assert created.stdout.count(value) == 1
    assert value.startswith("cgk_")

    # The printed value is the real key.
    store = SubscriptionKeyStore(subscription_key_table(Settings.from_env(cli_env)))
    record = store.find(value)
    assert record is not None and record.key_id == key_id and record.roles == {"A", "B"}

    listed = cli(cli_env, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(key_id))
    assert "svc|ci" in row and "A,B" in row and "active" in row and "primary" in row
    assert value not in listed.stdout
    assert hashlib.sha256(value.encode()).hexdigest()[: len(key_id) + 1] not in listed.stdout

    revoked = cli(cli_env, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert store.find(value) is None
    relisted = cli(cli_env, "keys", "list").stdout
    assert "cancelled" in next(line for line in relisted.splitlines() if line.startswith(key_id))


def test_given_value_is_idempotent(cli_env):
    args = ("keys", "create", "--principal", "dev", "--name", "bootstrap", "--value", "dev-bootstrap-key-0001")
    first, second = cli(cli_env, *args), cli(cli_env, *args)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert parse_create_output(first.stdout) == parse_create_output(second.stdout)
    assert parse_create_output(first.stdout)[1] == "dev-bootstrap-key-0001"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "create", "--name", "x"), "--principal"),
        (("keys", "create", "--principal", "p", "--name", "x", "--value", "too-short"), "16"),
        (("keys", "revoke", "not-an-id"), "12 hex"),
        (("keys", "rotate"), "invalid choice"),
        (("subscriptions", "create", "--name", "n", "--principal", "p", "--scope", "api:x"), "scope"),
        (("subscriptions", "regenerate", "abc", "--key", "tertiary"), "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_a_message(cli_env, args, message):
    result = cli(cli_env, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_settings_exit_2(cli_env):
    env = {name: value for name, value in cli_env.items() if name != "KEY_VAULT_URL"}
    result = cli(env, "keys", "list")
    assert result.returncode == 2
    assert "KEY_VAULT_URL" in result.stderr


def test_revoking_an_unknown_id_fails(cli_env):
    result = cli(cli_env, "keys", "revoke", "0123456789ab")
    assert result.returncode == 1
    assert "0123456789ab" in result.stderr


def test_subscription_lifecycle(cli_env):
    store = SubscriptionKeyStore(subscription_key_table(Settings.from_env(cli_env)))
    created = cli(cli_env, "subscriptions", "create", "--name", "partner", "--principal", "svc|partner")
    assert created.returncode == 0, created.stderr
    fields = output_fields(created.stdout)
    sub_id, primary, secondary = fields["id"], fields["primary"], fields["secondary"]
    assert store.find(primary).subscription_id == store.find(secondary).subscription_id == sub_id

    listed = cli(cli_env, "subscriptions", "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(sub_id))
    assert "svc|partner" in row and "all" in row and "active" in row
    assert primary not in listed and secondary not in listed

    store.usage.record(sub_id, "secondary")
    store.usage.flush()
    shown = cli(cli_env, "subscriptions", "show", sub_id)
    details = json.loads(shown.stdout)
    assert (details["id"], details["state"]) == (sub_id, "active")
    assert [(day["primary"], day["secondary"]) for day in details["usage"]] == [(0, 1)]
    assert primary not in shown.stdout and secondary not in shown.stdout

    assert cli(cli_env, "subscriptions", "suspend", sub_id).stdout.strip() == f"suspended: {sub_id}"
    assert store.find(primary) is None and store.find(secondary) is None
    assert cli(cli_env, "subscriptions", "activate", sub_id).returncode == 0
    assert store.find(primary) is not None

    regenerated = cli(cli_env, "subscriptions", "regenerate", sub_id, "--key", "primary")
    new_primary = output_fields(regenerated.stdout)["primary"]
    assert store.find(primary) is None and store.find(new_primary) is not None and store.find(secondary) is not None

    assert cli(cli_env, "subscriptions", "cancel", sub_id).returncode == 0
    refused = cli(cli_env, "subscriptions", "activate", sub_id)
    assert refused.returncode == 1 and "cancelled" in refused.stderr
    assert store.find(new_primary) is None

    assert cli(cli_env, "subscriptions", "delete", sub_id).returncode == 0
    missing = cli(cli_env, "subscriptions", "show", sub_id)
    assert missing.returncode == 1 and sub_id in missing.stderr and "Traceback" not in missing.stderr


def test_keys_create_prints_both_keys_and_list_keeps_their_order(cli_env):
    created = cli(cli_env, "keys", "create", "--principal", "svc|pair", "--name", "pair")
    assert created.returncode == 0, created.stderr
    fields = output_fields(created.stdout)
    store = SubscriptionKeyStore(subscription_key_table(Settings.from_env(cli_env)))
    primary, secondary = store.find(fields["value"]), store.find(fields["secondary"])
    assert primary is not None and secondary is not None
    assert (primary.slot, secondary.slot) == ("primary", "secondary")
    assert primary.subscription_id == secondary.subscription_id == fields["subscription"]

    listings = {cli(cli_env, "keys", "list").stdout for _ in range(3)}
    assert len(listings) == 1  # the same order every time
    rows = [line for line in listings.pop().splitlines() if " pair " in line]
    assert [row.split()[0] for row in rows] == [primary.key_id, secondary.key_id]
