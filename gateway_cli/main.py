"""The `connector-gateway` console script: argument parsing, credentials, and one clear line per failure."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gateway_cli import _connections, _connectors
from gateway_cli._client import DEFAULT_KEY_HEADER, DEFAULT_URL, Credentials, GatewayClient, GatewayError
from gateway_cli._envfile import DEFAULT_ENV_FILE, environment_with
from gateway_cli._paconn import PaconnError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
ADMIN_GROUPS = ("keys", "subscriptions")  # store-level commands: shared/cli.py
REPO = Path(__file__).resolve().parent.parent
VALUED_OPTIONS = ("--url", "--key", "--token", "--env-file")


def _common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (SUPPRESS: a subcommand's default doesn't erase
    a value given before it)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=f"The gateway (GATEWAY_URL; {DEFAULT_URL}).")
    common.add_argument("--key", default=argparse.SUPPRESS, help="A subscription key (better: GATEWAY_KEY).")
    common.add_argument("--token", default=argparse.SUPPRESS, help="A bearer token (better: GATEWAY_TOKEN).")
    common.add_argument(
        "--env-file", type=Path, default=argparse.SUPPRESS, help=f"Settings file (default {DEFAULT_ENV_FILE})."
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output, for scripts.")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="connector-gateway",
        parents=[common],
        description="paconn-shaped commands for the connector gateway, over its HTTP API.",
        epilog="keys and subscriptions: the operator's store-level commands (connector-gateway keys --help).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _connectors.add_commands(commands, common)
    _connections.add_commands(commands, common)
    for group in ADMIN_GROUPS:
        commands.add_parser(group, help=f"Manage {group} in Table Storage directly (operators; as shared.cli).")
    return parser


def env_file_path(argv: Sequence[str], environ: dict[str, str]) -> Path:
    for index, word in enumerate(argv):
        if word == "--env-file" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if word.startswith("--env-file="):
            return Path(word.partition("=")[2])
    if environ.get("GATEWAY_ENV_FILE"):
        return Path(environ["GATEWAY_ENV_FILE"])
    local = DEFAULT_ENV_FILE
    return local if local.exists() else REPO / DEFAULT_ENV_FILE


def _admin_command(argv: list[str]) -> int | None:
    """`keys ...` and `subscriptions ...` go to shared/cli.py, with the env file's settings."""
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        index += 2 if argv[index] in VALUED_OPTIONS else 1  # --env-file FILE; --env-file=FILE is one word
    if index >= len(argv) or argv[index] not in ADMIN_GROUPS:
        return None
    env_path = env_file_path(argv[:index], dict(os.environ))
    os.environ.update({k: v for k, v in environment_with(env_path).items() if k not in os.environ})
    from shared import cli  # the gateway's own settings and stores: imported only when needed

    return cli.main([*argv[index:]], prog="connector-gateway")


def credentials(args: argparse.Namespace, environ: dict[str, str]) -> Credentials:
    return Credentials(
        url=getattr(args, "url", None) or environ.get("GATEWAY_URL") or DEFAULT_URL,
        key=getattr(args, "key", None) or environ.get("GATEWAY_KEY", ""),
        token=getattr(args, "token", None) or environ.get("GATEWAY_TOKEN", ""),
        key_header=environ.get("AUTH_SUBSCRIPTION_KEY_HEADER") or DEFAULT_KEY_HEADER,
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    admin = _admin_command(argv)
    if admin is not None:
        return admin
    args = build_parser().parse_args(argv)  # exits 2 on bad usage
    environ = environment_with(env_file_path(argv, dict(os.environ)))
    args.environ = environ
    args.json = getattr(args, "json", False)
    creds = credentials(args, environ)
    if not creds.key and not creds.token:
        print(
            "error: no credential: set GATEWAY_KEY (a subscription key) or GATEWAY_TOKEN, or run `make run`, "
            f"which writes them to {DEFAULT_ENV_FILE}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        return args.run(GatewayClient(creds), args, out)
    except PaconnError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GatewayError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
