"""The connector-gateway CLI against the real local stack: paconn round trip, validate, connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import requests

from devtools.stack import REPO
from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of
from tests.support.connector_files import CURATED_CONNECTORS, FIXTURES
from tests.support.secret_scan import SECRETS

REAL = CURATED_CONNECTORS / "independent-publisher-connectors" / "Nationalize.io"  # apiKey, with script.csx
ICON = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + os.urandom(64)


@pytest.fixture(scope="module")
def cli_env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_URL": stack.url,
        "GATEWAY_KEY": stack.key("cli-maker", (MAKER_ROLE,)),
        "GATEWAY_ENV_FILE": str(tmp_path_factory.mktemp("cli") / "absent.env"),  # not the developer's .local
    }


def cli(env: dict[str, str], *args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess: its requests escape the session's harvest, so the secrets it sends are named here."""
    SECRETS.add(env.get("GATEWAY_KEY", ""), "the CLI's subscription key")
    for arg in map(str, args):
        if arg.startswith("api_key="):
            SECRETS.add(arg.partition("=")[2], "a CLI --param")
    command = [sys.executable, "-m", "gateway_cli", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_create_download_round_trips_a_real_connector_byte_for_byte(cli_env: dict, tmp_path: Path) -> None:
    icon = tmp_path / "icon.png"
    icon.write_bytes(ICON)
    files = ("--api-def", REAL / "apiDefinition.swagger.json", "--api-prop", REAL / "apiProperties.json")
    created = cli(
        cli_env, "create", *files, "--icon", icon, "--script", REAL / "script.csx", "--cid", "cli-nat", "--json"
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["id"] == "cli-nat"

    again = cli(cli_env, "create", *files, "--cid", "cli-nat")
    assert again.returncode == 1
    assert again.stderr.strip() == "error: connector 'cli-nat' already exists: use `update`"

    target = tmp_path / "downloaded"
    downloaded = cli(cli_env, "download", "--cid", "cli-nat", "--dest", target)
    assert downloaded.returncode == 0, downloaded.stderr
    for name in ("apiDefinition.swagger.json", "apiProperties.json", "script.csx"):
        assert (target / name).read_bytes() == (REAL / name).read_bytes(), name
    assert (target / "icon.png").read_bytes() == ICON
    settings = json.loads((target / "settings.json").read_text())
    schema = json.loads((FIXTURES / "schemas" / "paconn-settings.schema.json").read_text())
    jsonschema.validate(settings, schema)
    assert settings["connectorId"] == "cli-nat"

    # The downloaded folder is paconn's: update takes it through its settings.json alone.
    updated = cli(cli_env, "update", "--settings", target / "settings.json")
    assert updated.returncode == 0, updated.stderr
    refused = cli(cli_env, "download", "--cid", "cli-nat", "--dest", target)
    assert refused.returncode == 2
    assert "--overwrite" in refused.stderr


def test_validate_prints_pointers_and_exits_non_zero_on_errors(stack: Stack, cli_env: dict, tmp_path: Path) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    properties["properties"]["connectionParameters"]["api_key"]["defaultValue"] = "not-allowed"
    (tmp_path / "def.json").write_text(json.dumps(definition))
    (tmp_path / "bad.json").write_text(json.dumps(properties))
    (tmp_path / "broken.json").write_text('{"properties": {\n  "connectionParameters": {,}\n}')
    before = stack.entities("connectors")

    bad = cli(
        cli_env, "validate", "--api-def", tmp_path / "def.json", "--api-prop", tmp_path / "bad.json", "--cid", "v1"
    )
    assert bad.returncode == 1, bad.stderr
    assert "error: /apiProperties/properties/connectionParameters/api_key/defaultValue: " in bad.stdout
    assert bad.stdout.strip().endswith("v1: invalid, 1 error(s), 0 warning(s)")

    broken = cli(cli_env, "validate", "--api-def", tmp_path / "def.json", "--api-prop", tmp_path / "broken.json")
    assert broken.returncode == 1
    assert "error: /apiProperties: " in broken.stdout
    assert "(line 2, column" in broken.stdout

    properties["properties"]["connectionParameters"]["api_key"].pop("defaultValue")
    (tmp_path / "good.json").write_text(json.dumps(properties))
    good = cli(cli_env, "validate", "--api-def", tmp_path / "def.json", "--api-prop", tmp_path / "good.json", "--json")
    assert good.returncode == 0, good.stdout
    assert json.loads(good.stdout)["valid"] is True
    # A dry run: nothing was stored, not even for the valid upload (its id came from info.title).
    assert stack.entities("connectors") == before


def test_connections_create_update_list_delete(stack: Stack, cli_env: dict, tmp_path: Path) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    (tmp_path / "def.json").write_text(json.dumps(definition))
    (tmp_path / "props.json").write_text(json.dumps(properties))
    assert (
        cli(
            cli_env,
            "create",
            "--api-def",
            tmp_path / "def.json",
            "--api-prop",
            tmp_path / "props.json",
            "--cid",
            "cli-echo",
        ).returncode
        == 0
    )
    (tmp_path / "params.json").write_text(json.dumps({"api_key": "cli-first-key"}))
    SECRETS.add("cli-first-key", "a CLI --params-file")
    created = cli(
        cli_env,
        "connections",
        "create",
        "cli-echo",
        "--name",
        "CLI echo",
        "--params-file",
        tmp_path / "params.json",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    connection_id = json.loads(created.stdout)["id"]

    listed = cli(cli_env, "connections", "list")
    assert listed.returncode == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "CONNECTOR", "NAME", "STATUS", "OWNER", "CREATED"]
    assert any(row.startswith(connection_id) and "Connected" in row for row in rows)

    renamed = cli(
        cli_env,
        "connections",
        "update",
        connection_id,
        "--name",
        "Renamed",
        "--param",
        "api_key=cli-second-key",
        "--json",
    )
    assert renamed.returncode == 0, renamed.stderr
    assert json.loads(renamed.stdout)["displayName"] == "Renamed"
    stack.backend.clear()
    response = requests.get(
        f"{stack.url}/api/connections/{connection_id}/invoke/x",
        headers={"Ocp-Apim-Subscription-Key": cli_env["GATEWAY_KEY"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert stack.backend.requests[-1].header("X-Api-Key") == "cli-second-key"

    wrong = cli(cli_env, "connections", "update", connection_id, "--param", "nope=1")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error: 400 invalid-parameters: ")
    assert "[/parameters/nope: Not a parameter of this connector.]" in wrong.stderr
    assert "(correlation id " in wrong.stderr

    assert cli(cli_env, "connections", "delete", connection_id).returncode == 0
    gone = cli(cli_env, "connections", "delete", connection_id)
    assert gone.returncode == 1
    assert gone.stderr.startswith("error: 404 connection-not-found: ")


def test_without_a_credential_the_cli_says_how_to_get_one(cli_env: dict) -> None:
    env = {k: v for k, v in cli_env.items() if k not in ("GATEWAY_KEY", "GATEWAY_TOKEN")}
    result = cli(env, "list")
    assert result.returncode == 2
    assert "GATEWAY_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_with_a_client_secret_keeps_it_in_key_vault_only(stack: Stack, cli_env: dict, tmp_path: Path) -> None:
    secret = "cli-client-secret-" + os.urandom(8).hex()
    SECRETS.add(secret, "a CLI client secret")
    definition, _ = api_key_connector(host_of(stack.backend.url))
    definition["securityDefinitions"] = {
        "oauth2": {
            "type": "oauth2",
            "flow": "accessCode",
            "authorizationUrl": "https://login.example.com/authorize",
            "tokenUrl": "https://login.example.com/token",
            "scopes": {},
        }
    }
    settings = {
        "identityProvider": "oauth2",
        "clientId": "cli-client",
        "scopes": ["read"],
        "redirectMode": "Global",
        "customParameters": {
            "authorizationUrl": {"value": "https://login.example.com/authorize"},
            "tokenUrl": {"value": "https://login.example.com/token"},
            "refreshUrl": {"value": "https://login.example.com/token"},
        },
    }
    properties = {
        "properties": {"connectionParameters": {"token": {"type": "oauthSetting", "oAuthSettings": settings}}}
    }
    (tmp_path / "def.json").write_text(json.dumps(definition, indent=2))
    (tmp_path / "props.json").write_text(json.dumps(properties, indent=2))
    env = {**cli_env, "GATEWAY_CLIENT_SECRET": secret}  # the environment, not a flag: ps and shell history
    files = ("--api-def", tmp_path / "def.json", "--api-prop", tmp_path / "props.json", "--cid", "cli-oauth")
    created = cli(env, "create", *files, "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["oauth"]["clientSecretStored"] is True
    assert secret not in created.stdout

    downloaded = cli(cli_env, "download", "--cid", "cli-oauth", "--dest", tmp_path / "copy")
    assert downloaded.returncode == 0, downloaded.stderr
    assert (tmp_path / "copy" / "apiProperties.json").read_bytes() == (tmp_path / "props.json").read_bytes()
    assert secret not in repr(stack.entities("connectors"))
