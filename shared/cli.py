"""Operator commands: `python -m shared.cli subscriptions ...` and `keys ...`.

    subscriptions create --name N --principal P [--role R ...] [--scope S]
    subscriptions list | show ID | suspend ID | activate ID | cancel ID | delete ID
    subscriptions regenerate ID --key primary|secondary
    keys create --principal P --name N [--role R ...] [--value V]    (a subscription with scope "all"; both keys)
    keys list | revoke KEY_ID                                          (revoke cancels the key's subscription)

Reads the same settings as the gateway (Settings.from_env). Key values are printed once, at
creation or regeneration; afterwards only key ids (hash prefixes) exist anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from azure.core.exceptions import AzureError, ResourceExistsError

from shared.callers import (
    ALL_SCOPE,
    SLOTS,
    KeyRecord,
    StateConflict,
    Subscription,
    SubscriptionKeyStore,
    SubscriptionNotFound,
    SubscriptionState,
    subscription_key_table,
    subscription_view,
)
from shared.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
STATE_COMMANDS: dict[str, SubscriptionState] = {"suspend": "suspended", "activate": "active", "cancel": "cancelled"}


def _add_owner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--principal", required=True, help="Principal id the keys authenticate as.")
    parser.add_argument("--name", required=True, help="Display name, e.g. the owner or purpose.")
    parser.add_argument("--role", action="append", default=[], help="A role of the keys; repeat for more.")


def build_parser(prog: str = "python -m shared.cli") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Connector gateway administration.")
    groups = parser.add_subparsers(dest="group", required=True)

    subs = groups.add_parser("subscriptions", help="Manage subscriptions (two keys each).")
    commands = subs.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="Create a subscription; prints both key values (only now).")
    _add_owner_arguments(create)
    create.add_argument(
        "--scope", default=ALL_SCOPE, help="'all' (default), 'connector:{connectorId}' or 'connection:{connectionId}'."
    )
    commands.add_parser("list", help="List subscriptions (never key values).")
    for name, help_text in [
        ("show", "Show a subscription and its usage of the last 30 days."),
        ("suspend", "Suspend a subscription: its keys stop working until it is activated."),
        ("activate", "Activate a suspended subscription."),
        ("cancel", "Cancel a subscription for good."),
        ("delete", "Delete a subscription, its keys and its usage."),
        ("regenerate", "Give one key a new value; prints it (only now). The other key keeps working."),
    ]:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("subscription_id", help="The subscription id shown by create and list.")
        if name == "regenerate":
            command.add_argument("--key", required=True, choices=SLOTS, help="Which key to regenerate.")

    keys = groups.add_parser("keys", help="Manage single keys (each is a subscription with scope 'all').")
    key_commands = keys.add_subparsers(dest="command", required=True)
    key_create = key_commands.add_parser(
        "create", help="Create a key (a subscription with two keys); prints both values (only now)."
    )
    _add_owner_arguments(key_create)
    key_create.add_argument("--value", help="Use this value (>= 16 characters) instead of a random one; idempotent.")
    key_commands.add_parser("list", help="List keys (ids only, never values).")
    revoke = key_commands.add_parser("revoke", help="Revoke a key by id: cancels its subscription.")
    revoke.add_argument("key_id", help="The 12-character key id shown by create and list.")
    return parser


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def format_key_table(records: Sequence[KeyRecord]) -> str:
    rows = [("ID", "NAME", "PRINCIPAL", "ROLES", "CREATED", "STATUS", "SUBSCRIPTION", "SLOT")]
    for record in records:
        roles = ",".join(sorted(record.roles)) or "-"
        created, subscription, slot = _when(record.created_at), record.subscription_id or "-", record.slot or "-"
        rows.append((record.key_id, record.name, record.principal_id, roles, created, record.state, subscription, slot))
    return format_table(rows)


def format_subscription_table(subscriptions: Sequence[Subscription]) -> str:
    rows = [("ID", "NAME", "PRINCIPAL", "ROLES", "SCOPE", "STATE", "CREATED")]
    for sub in subscriptions:
        roles = ",".join(sorted(sub.roles)) or "-"
        rows.append((sub.id, sub.display_name, sub.principal_id, roles, sub.scope, sub.state, _when(sub.created_at)))
    return format_table(rows)


def _create_key(args: argparse.Namespace, store: SubscriptionKeyStore, out: TextIO) -> None:
    """A new key's subscription has two keys: both values are printed, the only time they exist in the clear.
    A given --value that exists already (the dev bootstrap key) is a no-op: its second key was printed back then."""
    principal, name = args.principal.strip(), args.name.strip()
    if not principal or not name:
        raise ValueError("A key needs a principal id and a name.")
    created = None
    if args.value is None or store.lookup(args.value) is None:
        with contextlib.suppress(ResourceExistsError):  # the given value was created meanwhile: a no-op below
            created = store.create_subscription(name, principal, args.role, primary_value=args.value)
    if created is not None:
        value = created.primary_value
        record = store.lookup(value)
        key_id = record.key_id if record else "-"
    else:
        key_id, value = store.create(principal, args.role, name, args.value)  # checks it matches; else ValueError
        record = store.lookup(value)
    print(f"id: {key_id}", file=out)
    print(f"value: {value}", file=out)
    if created is not None:
        print(f"secondary: {created.secondary_value}", file=out)
    else:
        print(
            "secondary: (printed when this key was first created; `subscriptions regenerate` makes a new one)", file=out
        )
    if record is not None and record.subscription_id:
        print(f"subscription: {record.subscription_id}", file=out)


def _key_order(record: KeyRecord) -> tuple:
    """Oldest first; a subscription's two keys (created together) primary first, then by id: the same every time."""
    created = record.created_at or datetime.min.replace(tzinfo=UTC)
    return (
        created,
        record.subscription_id or "",
        SLOTS.index(record.slot) if record.slot in SLOTS else 2,
        record.key_id,
    )


def run_keys_command(args: argparse.Namespace, store: SubscriptionKeyStore, out: TextIO) -> int:
    if args.command == "create":
        _create_key(args, store, out)
        return EXIT_OK
    if args.command == "list":
        print(format_key_table(sorted(store.list(), key=_key_order)), file=out)
        return EXIT_OK
    if store.revoke(args.key_id):
        print(f"revoked: {args.key_id}", file=out)
        return EXIT_OK
    print(f"error: no key has id {args.key_id!r}", file=sys.stderr)
    return EXIT_FAILED


def run_subscriptions_command(args: argparse.Namespace, store: SubscriptionKeyStore, out: TextIO) -> int:
    command = args.command
    if command == "create":
        created = store.create_subscription(args.name, args.principal, args.role, args.scope)
        print(f"id: {created.subscription.id}", file=out)
        print(f"primary: {created.primary_value}", file=out)
        print(f"secondary: {created.secondary_value}", file=out)
    elif command == "list":
        print(format_subscription_table(store.list_subscriptions()), file=out)
    elif command == "show":
        view = subscription_view(store.get_subscription(args.subscription_id))
        view["usage"] = [day.to_json() for day in store.usage.daily(args.subscription_id)]
        print(json.dumps(view, indent=2), file=out)
    elif command in STATE_COMMANDS:
        changed = store.update_subscription(args.subscription_id, state=STATE_COMMANDS[command])
        print(f"{changed.state}: {changed.id}", file=out)
    elif command == "regenerate":
        _, value = store.regenerate_key(args.subscription_id, args.key)
        print(f"{args.key}: {value}", file=out)
    else:
        store.delete_subscription(args.subscription_id)
        print(f"deleted: {args.subscription_id}", file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, prog: str = "python -m shared.cli") -> int:
    args = build_parser(prog).parse_args(argv)  # exits 2 on bad usage
    try:
        store = SubscriptionKeyStore(subscription_key_table(Settings.from_env()))
        run = run_keys_command if args.group == "keys" else run_subscriptions_command
        return run(args, store, sys.stdout)
    except (SubscriptionNotFound, StateConflict) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
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
