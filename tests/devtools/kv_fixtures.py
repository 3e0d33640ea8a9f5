"""Fixtures and helpers for tests of the Key Vault emulator (import what you use)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from devtools.keyvault_emulator import RunningEmulator, start_emulator
from shared.stores.clients import StaticTokenCredential

REPO = Path(__file__).resolve().parents[2]


def make_client(url: str, ca_bundle: str, **options: Any) -> SecretClient:
    """A real SecretClient configured the way the gateway configures it for the emulator."""
    return SecretClient(
        url, StaticTokenCredential(), verify_challenge_resource=False, connection_verify=ca_bundle, **options
    )


@pytest.fixture
def kv_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    emulator = start_emulator(state_dir=tmp_path / "kv-state")
    yield emulator
    emulator.stop()


@pytest.fixture
def kv_client(kv_emulator: RunningEmulator) -> Iterator[SecretClient]:
    client = make_client(kv_emulator.url, kv_emulator.ca_bundle)
    yield client
    client.close()


@dataclass
class EmulatorProcess:
    process: subprocess.Popen[str]
    url: str
    ca_bundle: str

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=10)


def run_emulator_process(state_dir: Path, log: Path, *extra_args: str, timeout: float = 20) -> EmulatorProcess:
    """`python -m devtools.keyvault_emulator` in a subprocess, returned once its ready line is read."""
    command = [sys.executable, "-m", "devtools.keyvault_emulator", "--host", "127.0.0.1", "--port", "0"]
    with log.open("a") as log_file:
        process = subprocess.Popen(
            [*command, "--state-dir", str(state_dir), *extra_args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0]:
        process.kill()
        raise AssertionError(f"no ready line from the emulator; log:\n{log.read_text()}")
    ready = json.loads(lines[0])
    return EmulatorProcess(process, ready["url"], ready["ca_bundle"])
