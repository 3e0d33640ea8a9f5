"""The env file `make run` writes (.local/gateway.env): shell syntax, so `set -a; . .local/gateway.env` works too.

It holds the local stack's settings (Table Storage connection string, Key Vault emulator URL and CA bundle) and the
bootstrap maker key, so the CLI works in another terminal with nothing typed by hand. Written owner-only: it holds a
key. Values already in the environment win over the file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

DEFAULT_ENV_FILE = Path(".local") / "gateway.env"


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines (values shell-quoted); blank lines and # comments skipped. {} when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, raw = line.partition("=")
        words = shlex.split(raw, comments=False)
        values[name.strip().removeprefix("export ").strip()] = words[0] if words else ""
    return values


def write_env_file(path: Path, values: Mapping[str, str], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{name}={shlex.quote(value)}" for name, value in values.items()]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def environment_with(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment, with the env file's values for names it doesn't set."""
    environ = dict(os.environ if environ is None else environ)
    return {**read_env_file(path), **environ}
