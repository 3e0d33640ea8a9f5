"""`make run` (devtools/run.py) as a developer runs it: one run per state folder, and a stop that leaves
no process behind, even when it comes while the stack is still starting."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psutil
import pytest
import requests

from devtools.echo import EchoHandler
from devtools.run import ENV_FILE, LOCK_FILE, hold_state_lock
from devtools.stack import REPO, StackError, free_port
from gateway_cli._envfile import read_env_file

STARTUP_LIMIT = 120  # seconds; a guard against a hung test, not a measurement


class Run:
    """`python -m devtools.run --state-dir DIR` on ports of its own, its output read as it comes."""

    def __init__(self, state: Path, bootstrap_key: str | None = "cgk_run-test-key") -> None:
        self.port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k != "GATEWAY_BOOTSTRAP_KEY"},
            "GATEWAY_PORT": str(self.port),
            "AZURITE_TABLE_PORT": str(free_port()),
        }
        if bootstrap_key is not None:
            env["GATEWAY_BOOTSTRAP_KEY"] = bootstrap_key
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run", "--state-dir", str(state)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        while True:
            line = self.lines.get(timeout=STARTUP_LIMIT)
            if line is None:
                raise AssertionError(f"make run ended before printing {text!r}:\n{''.join(self.output)}")
            self.output.append(line)
            if text in line:
                return

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(timeout=STARTUP_LIMIT)
        try:  # every process it started shares its stdout: the output ends once the last of them has ended
            while (line := self.lines.get(timeout=STARTUP_LIMIT)) is not None:
                self.output.append(line)
        except queue.Empty:
            raise AssertionError("make run has exited, but a process it started still holds its output") from None
        return code, "".join(self.output)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def kill(self) -> None:
        for process in [*self.descendants(), psutil.Process(self.process.pid)]:
            process.kill()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # only after a failed test: each test stops its own runs
        if run.process.poll() is None:
            run.kill()
            run.process.wait()


def is_dev_host(process: psutil.Process) -> bool:
    try:
        return "devtools.funchost" in process.cmdline()
    except psutil.Error:  # gone already, or not ours to read
        return False


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_second_run_on_the_same_state_is_refused_and_sigterm_stops_everything(
    tmp_path: Path, runs: list[Run]
) -> None:
    first = Run(tmp_path)
    runs.append(first)
    first.wait_for("Gateway ready")
    children = first.descendants()
    assert len(children) >= 3  # Azurite, the Key Vault emulator, the dev host
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(first.process.pid)

    second = Run(tmp_path)
    runs.append(second)
    code, output = second.finish()
    assert code == 1
    assert f"another `make run` (pid {first.process.pid}) is using {tmp_path.resolve()}" in output
    assert "Gateway ready" not in output
    # The refused run started nothing, and the first one still serves.
    assert requests.get(f"http://127.0.0.1:{first.port}/api/health", timeout=10).status_code == 200
    assert alive(children) == children

    first.process.send_signal(signal.SIGTERM)
    assert first.finish()[0] == 0
    assert alive(children) == []


def test_sigterm_while_the_dev_host_is_still_starting_leaves_no_process(tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path)
    runs.append(run)
    # The dev host is the last service started; stop the run as soon as it exists, long before it answers
    # (it imports the app first). A process appearing is no event to wait on, so this polls.
    seen: list[psutil.Process] = []
    while not any(is_dev_host(p) for p in seen):
        assert run.process.poll() is None, "make run ended on its own"
        time.sleep(0.02)
        seen = run.descendants()
    run.process.send_signal(signal.SIGTERM)
    code, output = run.finish()
    assert code == 0, output
    assert alive(seen) == []
    # The lock went with the run: the folder is free for the next one.
    hold_state_lock(tmp_path).close()


def test_the_state_lock_names_its_holder_and_is_released_with_it(tmp_path: Path) -> None:
    held = hold_state_lock(tmp_path)
    with pytest.raises(StackError, match=rf"pid {os.getpid()}\) is using"):
        hold_state_lock(tmp_path)
    held.close()
    hold_state_lock(tmp_path).close()


def _gateway_cli(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "TABLES_", "KEY_VAULT_"))}
    command = [sys.executable, "-m", "gateway_cli", "--env-file", str(env_file), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_run_writes_the_cli_settings_and_the_next_run_reuses_its_key(tmp_path: Path, runs: list[Run]) -> None:
    first = Run(tmp_path, bootstrap_key=None)
    runs.append(first)
    first.wait_for("CLI settings")
    env_file = tmp_path / ENV_FILE
    assert env_file.stat().st_mode & 0o777 == 0o600  # it holds a key
    settings = read_env_file(env_file)
    key = settings["GATEWAY_KEY"]
    assert settings["GATEWAY_URL"] == f"http://localhost:{first.port}"
    assert key in "".join(first.output)
    # Another terminal: the CLI needs nothing but the file, over HTTP and against the stores.
    listed = _gateway_cli(env_file, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"value": []}
    first.process.send_signal(signal.SIGTERM)
    assert first.finish()[0] == 0

    second = Run(tmp_path, bootstrap_key=None)
    runs.append(second)
    second.wait_for("CLI settings")
    assert read_env_file(env_file)["GATEWAY_KEY"] == key
    keys = _gateway_cli(env_file, "keys", "list")
    assert keys.returncode == 0, keys.stderr
    assert sum(" bootstrap " in line for line in keys.stdout.splitlines()) == 2  # one subscription: its two keys
    second.process.send_signal(signal.SIGTERM)
    assert second.finish()[0] == 0


def _readme_file(name: str) -> str:
    """A file the README quickstart writes with `cat > /tmp/echo/NAME <<'EOF'`, as written there."""
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"cat > /tmp/echo/{name} <<'EOF'\n") + len(f"cat > /tmp/echo/{name} <<'EOF'\n")
    return readme[start : readme.index("\nEOF\n", start)]


class _CountingEcho(EchoHandler):
    paths: ClassVar[list[str]] = []

    def _echo(self) -> None:
        self.paths.append(self.path)
        super()._echo()

    do_GET = do_POST = _echo


def test_the_readme_quickstart_runs_and_a_delete_leaves_the_secret_soft_deleted_as_on_azure(
    tmp_path: Path, runs: list[Run]
) -> None:
    echo = ThreadingHTTPServer(("127.0.0.1", 0), _CountingEcho)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    run = Run(tmp_path)
    runs.append(run)
    try:
        run.wait_for("Gateway ready")
        settings = read_env_file(tmp_path / ENV_FILE)
        gateway = requests.Session()
        gateway.headers["Ocp-Apim-Subscription-Key"] = settings["GATEWAY_KEY"]
        definition = _readme_file("apiDefinition.swagger.json").replace(
            "127.0.0.1:8080", f"127.0.0.1:{echo.server_address[1]}"
        )
        files = {"apiDefinition": definition, "apiProperties": _readme_file("apiProperties.json")}
        url = f"http://127.0.0.1:{run.port}/api"
        uploaded = gateway.put(f"{url}/connectors/echo", files=files, timeout=60)
        assert uploaded.status_code == 201, uploaded.text
        created = gateway.post(
            f"{url}/connectors/echo/connections",
            json={"displayName": "My echo", "parameters": {"api_key": "s3cret"}},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        connection = created.json()["id"]

        seen = gateway.get(f"{url}/connections/{connection}/invoke/hello", timeout=60)
        assert seen.status_code == 200, seen.text
        assert seen.json()["headers"]["X-Api-Key"] == "s3cret"
        assert "Ocp-Apim-Subscription-Key" not in seen.json()["headers"]
        undeclared = gateway.get(f"{url}/connections/{connection}/invoke/other", timeout=60)
        assert undeclared.status_code == 404
        assert undeclared.json()["type"].endswith(":operation-not-found")
        assert _CountingEcho.paths == ["/hello"]  # the undeclared path never reached the backend

        # make run's vault has purge protection, as Bicep deploys it: the delete succeeds, the purge is
        # refused, and the secret stays soft-deleted until it expires.
        vault = f"{settings['KEY_VAULT_URL'].rstrip('/')}/_emulator/state"
        [secret] = requests.get(vault, verify=settings["KEY_VAULT_CA_BUNDLE"], timeout=10).json()["secrets"]
        assert gateway.delete(f"{url}/connections/{connection}", timeout=60).status_code == 204
        assert requests.get(vault, verify=settings["KEY_VAULT_CA_BUNDLE"], timeout=10).json() == {
            "secrets": [],
            "deleted": [secret],
        }
        assert gateway.get(f"{url}/connections/{connection}", timeout=60).status_code == 404
        run.process.send_signal(signal.SIGTERM)
        assert run.finish()[0] == 0
    finally:
        echo.shutdown()
        echo.server_close()
