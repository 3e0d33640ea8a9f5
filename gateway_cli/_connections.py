"""`connections list|create|update|delete|reauthorize|openapi`."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any, TextIO

from gateway_cli._client import GatewayClient
from gateway_cli._output import show
from gateway_cli._paconn import PaconnError, read_file

EXIT_OK = 0
HEADERS = ("ID", "CONNECTOR", "NAME", "STATUS", "OWNER", "CREATED")


def _row(connection: dict[str, Any]) -> tuple:
    return tuple(connection.get(k) for k in ("id", "connectorId", "displayName", "status", "owner", "createdAt"))


def parameters_of(args: argparse.Namespace) -> dict[str, Any] | None:
    """--params-file first, then each --param NAME=VALUE; a bare --param NAME is asked for without echo, so a
    secret needn't be typed on the command line (where shell history and `ps` keep it)."""
    if args.params_file is None and not args.param:
        return None
    values: dict[str, Any] = {}
    if args.params_file is not None:
        try:
            loaded = json.loads(read_file(args.params_file, "--params-file").decode("utf-8-sig"))
        except ValueError:
            raise PaconnError(f"--params-file {args.params_file} is not JSON") from None
        if not isinstance(loaded, dict):
            raise PaconnError(f"--params-file {args.params_file} must hold a JSON object of name: value")
        values.update(loaded)
    for item in args.param:
        name, given, value = item.partition("=")
        values[name] = value if given else getpass.getpass(f"{name}: ")
    return values


def list_connections(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    body = client.json("GET", "connections")
    show(out, args.json, body, HEADERS, [_row(c) for c in body.get("value", [])])
    return EXIT_OK


def create(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"parameters": parameters_of(args) or {}}
    if args.name:
        body["displayName"] = args.name
    if args.post_login_redirect:
        body["postLoginRedirectUrl"] = args.post_login_redirect
    created = client.json("POST", f"connectors/{args.connector_id}/connections", json=body)
    _print_one(out, args.json, created)
    return EXIT_OK


def update(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {}
    if args.name:
        body["displayName"] = args.name
    parameters = parameters_of(args)
    if parameters is not None:
        body["parameters"] = parameters
    if not body:
        raise PaconnError("nothing to change: give --name and/or --param/--params-file")
    _print_one(out, args.json, client.json("PATCH", f"connections/{args.connection_id}", json=body))
    return EXIT_OK


def delete(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    client.request("DELETE", f"connections/{args.connection_id}")
    show(out, args.json, {"deleted": args.connection_id})
    return EXIT_OK


def reauthorize(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    body = {"postLoginRedirectUrl": args.post_login_redirect} if args.post_login_redirect else {}
    _print_one(out, args.json, client.json("POST", f"connections/{args.connection_id}/reauthorize", json=body))
    return EXIT_OK


def openapi(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    """The connection's OpenAPI 2.0, rewritten to call it through the gateway: to a file, or stdout."""
    document = client.request("GET", f"connections/{args.connection_id}/openapi").content
    if args.output is None:
        out.write(document.decode("utf-8"))
        out.write("\n")
    else:
        args.output.write_bytes(document)
        show(out, args.json, {"written": str(args.output)})
    return EXIT_OK


def _print_one(out: TextIO, as_json: bool, connection: dict[str, Any]) -> None:
    show(out, as_json, connection, HEADERS, [_row(connection)])
    if not as_json and connection.get("loginUrl"):
        print(f"Sign in (in a browser): {connection['loginUrl']}", file=out)


def _add_parameter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME[=VALUE]", help="A parameter; without =VALUE, asked for."
    )
    parser.add_argument("--params-file", type=Path, help="A JSON file of parameter name: value.")


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("connections", parents=[common], help="Manage connections.")
    sub = group.add_subparsers(dest="connections_command", required=True)
    sub.add_parser("list", parents=[common], help="Your connections and those shared with you.").set_defaults(
        run=list_connections
    )
    create_parser = sub.add_parser("create", parents=[common], help="Create a connection to a connector.")
    create_parser.add_argument("connector_id")
    create_parser.add_argument("--name", help="The display name.")
    create_parser.add_argument("--post-login-redirect", help="OAuth: where the browser goes after signing in.")
    _add_parameter_arguments(create_parser)
    create_parser.set_defaults(run=create)
    update_parser = sub.add_parser("update", parents=[common], help="Rename, or change non-OAuth parameter values.")
    update_parser.add_argument("connection_id")
    update_parser.add_argument("--name", help="The new display name.")
    _add_parameter_arguments(update_parser)
    update_parser.set_defaults(run=update)
    for name, run, help_text in (
        ("delete", delete, "Delete a connection and its secret."),
        ("reauthorize", reauthorize, "A new sign-in link for an OAuth connection."),
        ("openapi", openapi, "The connection's OpenAPI 2.0 document, to import into a flow."),
    ):
        parser = sub.add_parser(name, parents=[common], help=help_text)
        parser.add_argument("connection_id")
        if name == "reauthorize":
            parser.add_argument("--post-login-redirect", help="Where the browser goes after signing in.")
        if name == "openapi":
            parser.add_argument("--output", "-o", type=Path, help="Write it here instead of to stdout.")
        parser.set_defaults(run=run)
