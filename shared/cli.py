"""Operator commands: `python -m shared.cli keys create|list|revoke`.

Reads the same settings as the gateway (Settings.from_env). A key's value is printed once, at
creation; afterwards only its id exists anywhere.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from azure.core.exceptions import AzureError

from shared.callers import KeyRecord, SubscriptionKeyStore, subscription_key_table
from shared.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description="Connector gateway administration.")
    groups = parser.add_subparsers(dest="group", required=True)
    keys = groups.add_parser("keys", help="Manage subscription keys.").add_subparsers(dest="command", required=True)

    create = keys.add_parser("create", help="Create a key; prints its id and value (the value only now).")
    create.add_argument("--principal", required=True, help="Principal id the key authenticates as.")
    create.add_argument("--name", required=True, help="Display name of the key, e.g. its owner or purpose.")
    create.add_argument("--role", action="append", default=[], help="A role of the key; repeat for more.")
    create.add_argument("--value", help="Use this value (>= 16 characters) instead of a random one; idempotent.")

    keys.add_parser("list", help="List keys (ids only, never values).")

    revoke = keys.add_parser("revoke", help="Revoke a key by id.")
    revoke.add_argument("key_id", help="The 12-character key id shown by create and list.")
    return parser


def format_key_table(records: Sequence[KeyRecord]) -> str:
    rows = [("ID", "NAME", "PRINCIPAL", "ROLES", "CREATED", "STATUS")]
    for record in records:
        created = record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if record.created_at else "-"
        status = "revoked" if record.revoked else "active"
        rows.append(
            (record.key_id, record.name, record.principal_id, ",".join(sorted(record.roles)) or "-", created, status)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def run_keys_command(args: argparse.Namespace, store: SubscriptionKeyStore, out: TextIO) -> int:
    if args.command == "create":
        key_id, value = store.create(args.principal, args.role, args.name, args.value)
        print(f"id: {key_id}", file=out)
        print(f"value: {value}", file=out)
        return EXIT_OK
    if args.command == "list":
        print(format_key_table(store.list()), file=out)
        return EXIT_OK
    if store.revoke(args.key_id):
        print(f"revoked: {args.key_id}", file=out)
        return EXIT_OK
    print(f"error: no key has id {args.key_id!r}", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on bad usage
    try:
        store = SubscriptionKeyStore(subscription_key_table(Settings.from_env()))
        return run_keys_command(args, store, sys.stdout)
    except ValueError as error:  # SettingsError included
        label = "settings" if isinstance(error, SettingsError) else "error"
        print(f"{label}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except AzureError as error:
        first_line = (str(error).splitlines() or [""])[0]
        print(f"error: Table Storage request failed: {type(error).__name__}: {first_line}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
