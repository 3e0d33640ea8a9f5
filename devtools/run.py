"""`make run`: Azurite, the Key Vault emulator and the gateway on http://localhost:GATEWAY_PORT. The emulator
refuses purges, as the deployed vault does (purge protection).

State (tables, secrets, the emulator's CA) persists in .local/ (or `--state-dir`) between runs. One run
per state folder: a second is refused, since two Azurites on one folder race on its files.
Ctrl-C or SIGTERM stops everything, including what was still starting.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO

from devtools.stack import (
    REPO,
    Service,
    StackError,
    create_key,
    gateway_environment,
    start_azurite,
    start_gateway,
    start_keyvault,
)
from gateway_cli._envfile import read_env_file, write_env_file

STATE = REPO / ".local"
LOCK_FILE = "run.lock"
ENV_FILE = "gateway.env"
# What the CLI (connector-gateway, and its store-level keys/subscriptions commands) needs from this run.
ENV_FILE_SETTINGS = ("TABLES_CONNECTION_STRING", "KEY_VAULT_URL", "KEY_VAULT_EMULATOR", "KEY_VAULT_CA_BUNDLE")
MAKER_ROLE = os.environ.get("AUTH_MAKER_ROLE", "Connectors.Manage")
ADMIN_ROLE = os.environ.get("AUTH_ADMIN_ROLE", "Connectors.Admin")


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: unwind, stopping every service started so far."""


def _stop_once(_signal: int, _frame: FrameType | None) -> None:
    # Later signals are ignored: a second Ctrl-C must not cut the shutdown of the services short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Stopped


def hold_state_lock(state: Path) -> IO[str]:
    """Locks `state`/run.lock for as long as the returned file stays open. The OS drops the lock when the
    process ends however it ends, so a crash leaves no stale lock; the file names the holder's pid."""
    state.mkdir(parents=True, exist_ok=True)
    lock = open(state / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the life of the run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise StackError(
            f"another `make run` (pid {holder}) is using {state} (lock file {state / LOCK_FILE}); stop it first, "
            "or give this one its own folder with `python -m devtools.run --state-dir DIR` and other ports "
            "(GATEWAY_PORT, AZURITE_TABLE_PORT)"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def bootstrap_key(state: Path) -> str:
    """GATEWAY_BOOTSTRAP_KEY, else the key the last run wrote to the env file (each run reuses it rather than
    piling up another), else a new one."""
    return (
        os.environ.get("GATEWAY_BOOTSTRAP_KEY")
        or read_env_file(state / ENV_FILE).get("GATEWAY_KEY")
        or "cgk_" + secrets.token_urlsafe(32)
    )


def write_local_settings(state: Path, env: dict[str, str], port: int, key: str) -> None:
    values = {"GATEWAY_URL": f"http://localhost:{port}", "GATEWAY_KEY": key}
    values.update({name: env[name] for name in ENV_FILE_SETTINGS if env.get(name)})
    if env.get("TABLES_PREFIX"):
        values["TABLES_PREFIX"] = env["TABLES_PREFIX"]
    header = "Written by `make run` (devtools/run.py) for the connector-gateway CLI. Holds the bootstrap maker key."
    write_env_file(state / ENV_FILE, values, header)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.run", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=STATE, help="where tables, secrets and logs persist")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    state = parse_arguments(argv).state_dir.resolve()
    port = int(os.environ.get("GATEWAY_PORT", "7071"))
    services: list[Service] = []
    lock: IO[str] | None = None
    signal.signal(signal.SIGTERM, _stop_once)
    signal.signal(signal.SIGINT, _stop_once)
    try:
        lock = hold_state_lock(state)
        (state / "azurite").mkdir(exist_ok=True)
        with open(state / "stack.log", "a") as log:
            azurite = start_azurite(
                port=int(os.environ.get("AZURITE_TABLE_PORT", "10002")), location=state / "azurite", log=log
            )
            services.append(azurite)
            # Purge protection on, as infra/modules/keyvault.bicep deploys the vault: a delete leaves the
            # secret soft-deleted (the purge answers 403), so the delete path runs here as on Azure.
            keyvault = start_keyvault(state / "keyvault", persist=True, log=log, purge_protection=True)
            services.append(keyvault)
            env = gateway_environment(azurite, keyvault, port, {})
            key = bootstrap_key(state)
            create_key(env, "local-maker", "bootstrap", [MAKER_ROLE, ADMIN_ROLE], value=key)
            write_local_settings(state, env, port, key)
            services.append(start_gateway(env, port))
            print(f"\nGateway ready on http://localhost:{port}  (stand-in logs: {state / 'stack.log'})")
            if os.environ.get("GATEWAY_BOOTSTRAP_KEY"):
                print("Maker key: the value of GATEWAY_BOOTSTRAP_KEY")
            else:
                print(f"Maker key (send as Ocp-Apim-Subscription-Key): {key}")
            cli = ".venv/bin/connector-gateway" + (
                "" if state == STATE.resolve() else f" --env-file {state / ENV_FILE}"
            )
            print(f"CLI settings (URL, key, stores) in {state / ENV_FILE}: e.g. `{cli} list`")
            print("Ctrl-C stops the gateway and its stand-ins.", flush=True)
            while all(s.process.poll() is None for s in services):
                time.sleep(0.5)
            print("a service exited; stopping", file=sys.stderr)
            return 1
    except StackError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    except Stopped:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for service in reversed(services):
            service.stop()
        if lock is not None:  # only once everything using the folder has stopped
            lock.close()


if __name__ == "__main__":
    sys.exit(main())
