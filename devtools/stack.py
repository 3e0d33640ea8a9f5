"""Starts the local stand-ins as child processes: Azurite, the Key Vault emulator and the dev host.

Used by `make run` (devtools/run.py) and by the end-to-end test fixtures, so both
run the gateway the same way: a separate process, configured only by environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

REPO = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class StackError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    url: str
    details: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_http(service: Service, path: str, timeout: float) -> None:
    """Returns once `path` answers. Stops the service on the way out otherwise, whatever the reason (it exited,
    the timeout, a signal turned into an exception), so an interrupted start never leaves a process behind."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise StackError(f"{service.name} exited with code {service.process.returncode}")
            try:
                requests.get(service.url + path, timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise StackError(f"{service.name} did not answer on {service.url} within {timeout:.0f} s")
    except BaseException:
        service.stop()
        raise


def start_azurite(port: int | None = None, location: Path | None = None, log: IO | None = None) -> Service:
    """Azurite's Table service; in memory unless `location` is given."""
    port = port or free_port()
    binary = REPO / "node_modules" / ".bin" / "azurite-table"
    if not binary.exists():
        raise StackError("Azurite is not installed; run `make run` or `make test`, which run `npm ci`")
    storage = ["--location", str(location)] if location else ["--inMemoryPersistence"]
    process = subprocess.Popen(
        [
            str(binary),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(port),
            "--skipApiVersionCheck",
            "--disableProductStyleUrl",
            "--silent",
            *storage,
        ],
        stdout=log or subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
    )
    service = Service("Azurite", process, f"http://127.0.0.1:{port}")
    _wait_for_http(service, "/", timeout=30)
    service.details["connection_string"] = azurite_connection_string(port)
    return service


def start_keyvault(
    state_dir: Path, persist: bool = False, log: IO | None = None, purge_protection: bool = False
) -> Service:
    """The repo's Key Vault emulator; reads its ready line for the URL and the CA bundle. `purge_protection`
    refuses purges as the deployed vault does (infra/modules/keyvault.bicep)."""
    command = (
        [
            sys.executable,
            "-m",
            "devtools.keyvault_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
        ]
        + (["--persist"] if persist else [])
        + (["--purge-protection"] if purge_protection else [])
    )
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=10)
            raise StackError(f"the Key Vault emulator exited with code {process.returncode}")
        ready = json.loads(line)
    except BaseException:  # as _wait_for_http: an interrupted start leaves no process behind
        Service("Key Vault emulator", process, "").stop()
        raise
    return Service("Key Vault emulator", process, ready["url"], {"ca_bundle": ready["ca_bundle"]})


def gateway_environment(azurite: Service, keyvault: Service, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "GATEWAY_PUBLIC_URL": f"http://localhost:{port}",
        "KEY_VAULT_URL": keyvault.url,
        "KEY_VAULT_EMULATOR": "true",
        "KEY_VAULT_CA_BUNDLE": keyvault.details["ca_bundle"],
        "TABLES_CONNECTION_STRING": azurite.details["connection_string"],
        # Local backends and stand-ins live on loopback; a deployment never allows it (Bicep doesn't set it).
        "PROXY_ALLOW_LOOPBACK": os.environ.get("PROXY_ALLOW_LOOPBACK", "true"),
        **extra,
    }


def start_gateway(env: Mapping[str, str], port: int, log: IO | None = None) -> Service:
    """function_app.py served by the dev host, ready once /api/health answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.funchost", "--app-dir", str(REPO), "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=dict(env),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else None,
    )
    service = Service("gateway", process, f"http://127.0.0.1:{port}")
    _wait_for_http(service, "/api/health", timeout=60)
    return service


def create_key(env: Mapping[str, str], principal: str, name: str, roles: list[str], value: str | None = None) -> str:
    """A subscription key through the real CLI; returns the key value."""
    command = [sys.executable, "-m", "shared.cli", "keys", "create", "--principal", principal, "--name", name]
    for role in roles:
        command += ["--role", role]
    if value:
        command += ["--value", value]
    result = subprocess.run(command, cwd=REPO, env=dict(env), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"creating key {name!r} failed: {result.stderr.strip()}")
    return value or _key_value(result.stdout)


def _key_value(cli_output: str) -> str:
    for line in cli_output.splitlines():
        if line.startswith("value: "):
            return line.removeprefix("value: ").strip()
    raise StackError("the key CLI printed no key")
