"""Connector commands, paconn-shaped: create, update, download, validate, list."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from gateway_cli._client import GatewayClient, GatewayError
from gateway_cli._output import show
from gateway_cli._paconn import (
    API_DEFINITION,
    API_PROPERTIES,
    ICON,
    SCRIPT,
    PaconnError,
    check_connector_id,
    connector_files,
    connector_id_from_title,
    read_file,
    settings_document,
    upload_parts,
)

EXIT_OK, EXIT_FAILED = 0, 1
DOWNLOADS = {"apiDefinition": API_DEFINITION, "apiProperties": API_PROPERTIES, "icon": ICON, "script": SCRIPT}


def add_file_arguments(parser: argparse.ArgumentParser, uploads: bool = True) -> None:
    parser.add_argument("--api-def", type=Path, help="apiDefinition.swagger.json (OpenAPI 2.0).")
    parser.add_argument("--api-prop", type=Path, help="apiProperties.json.")
    if uploads:
        parser.add_argument("--icon", type=Path, help="icon.png: kept, and returned by download.")
        parser.add_argument("--script", type=Path, help="script.csx (custom code): kept, and returned by download.")
        parser.add_argument("--secret", help="The OAuth client secret (goes to Key Vault); or GATEWAY_CLIENT_SECRET.")
        parser.add_argument("--policy", type=Path, help="A JSON file with the connector's gateway policy.")
    parser.add_argument("--settings", type=Path, help="paconn's settings.json (paths relative to its folder).")
    parser.add_argument("--cid", "--connector-id", dest="connector_id", help="The connector id.")


def _resolved(args: argparse.Namespace, needs_id_from_settings: bool = False) -> tuple[str, Any]:
    files = connector_files(
        args.settings,
        args.connector_id,
        getattr(args, "api_def", None),
        getattr(args, "api_prop", None),
        getattr(args, "icon", None),
        getattr(args, "script", None),
    )
    if files.connector_id:
        return check_connector_id(files.connector_id), files
    if needs_id_from_settings or files.api_definition is None:
        raise PaconnError("no connector id: give --cid, or --settings with a connectorId")
    return check_connector_id(connector_id_from_title(read_file(files.api_definition, "--api-def"))), files


def _put(client: GatewayClient, args: argparse.Namespace, out: TextIO, creating: bool) -> int:
    connector_id, files = _resolved(args, needs_id_from_settings=not creating)
    parts = upload_parts(files)
    existing = client.find(f"connectors/{connector_id}")
    if creating and existing is not None:
        raise GatewayError(f"connector {connector_id!r} already exists: use `update`")
    if not creating and existing is None:
        raise GatewayError(f"no connector {connector_id!r} (or you can't see it): use `create`")
    fields: dict[str, str] = {}
    secret = args.secret or args.environ.get("GATEWAY_CLIENT_SECRET")
    if secret:
        fields["clientSecret"] = secret
    if args.policy is not None:
        fields["policy"] = read_file(args.policy, "--policy").decode("utf-8-sig")
    params = {"force": "true"} if getattr(args, "force", False) else None
    body = client.json("PUT", f"connectors/{connector_id}", files=parts, data=fields, params=params)
    _print_connector(out, args.json, body)
    return EXIT_OK


def create(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    return _put(client, args, out, creating=True)


def update(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    return _put(client, args, out, creating=False)


def _print_connector(out: TextIO, as_json: bool, body: dict[str, Any]) -> None:
    auth = body.get("authentication") or body.get("auth") or {}
    show(
        out,
        as_json,
        body,
        ("ID", "TITLE", "AUTH", "BACKEND", "OWNER"),
        [(body.get("id"), body.get("title"), auth.get("type"), body.get("backendUrl"), body.get("owner"))],
    )


def list_connectors(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    body = client.json("GET", "connectors")
    rows = [
        (c.get("id"), c.get("title"), (c.get("authentication") or {}).get("type"), c.get("backendUrl"), c.get("owner"))
        for c in body.get("value", [])
    ]
    show(out, args.json, body, ("ID", "TITLE", "AUTH", "BACKEND", "OWNER"), rows)
    return EXIT_OK


def download(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    """The connector's files into a folder, byte for byte as uploaded, with a paconn settings.json."""
    connector_id, _ = _resolved(args, needs_id_from_settings=True)
    destination: Path = args.dest or Path(connector_id)
    fetched: dict[str, bytes] = {}
    for name, filename in DOWNLOADS.items():
        try:
            fetched[filename] = client.request("GET", f"connectors/{connector_id}/{name}").content
        except GatewayError as error:
            if name in ("icon", "script") and error.problem.get("type", "").endswith(":file-not-kept"):
                continue  # uploaded without one
            raise
    settings = settings_document(connector_id, ICON in fetched)
    fetched["settings.json"] = (json.dumps(settings, indent=2) + "\n").encode("utf-8")
    clashes = [name for name in fetched if (destination / name).exists()]
    if clashes and not args.overwrite:
        raise PaconnError(f"{destination} already has {', '.join(clashes)}: give --overwrite to replace them")
    destination.mkdir(parents=True, exist_ok=True)
    for filename, data in fetched.items():
        (destination / filename).write_bytes(data)
    written = {"connectorId": connector_id, "folder": str(destination), "files": sorted(fetched)}
    show(out, args.json, written)
    return EXIT_OK


def validate(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> int:
    """The gateway's dry run of an upload: errors and warnings with JSON pointers; non-zero exit on errors."""
    connector_id, files = _resolved(args)
    body = client.json("POST", f"connectors/{connector_id}/validate", files=upload_parts(files))
    if args.json:
        show(out, True, body)
    else:
        for kind in ("errors", "warnings"):
            for item in body.get(kind, []):
                line = f"{kind[:-1]}: {item.get('pointer') or '/'}: {item.get('detail')}"
                if "line" in item:
                    line += f" (line {item['line']}, column {item.get('column')})"
                print(line, file=out)
        errors, warnings = len(body.get("errors", [])), len(body.get("warnings", []))
        verdict = "valid" if body.get("valid") else "invalid"
        print(f"{connector_id}: {verdict}, {errors} error(s), {warnings} warning(s)", file=out)
    return EXIT_OK if body.get("valid") else EXIT_FAILED


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    create_parser = commands.add_parser("create", parents=[common], help="Register a new connector from paconn files.")
    add_file_arguments(create_parser)
    create_parser.set_defaults(run=create)
    update_parser = commands.add_parser("update", parents=[common], help="Replace a connector with new paconn files.")
    add_file_arguments(update_parser)
    update_parser.add_argument(
        "--force", action="store_true", help="Replace even if it moves existing connections to Error."
    )
    update_parser.set_defaults(run=update)
    download_parser = commands.add_parser(
        "download", parents=[common], help="Download a connector's files into a folder."
    )
    download_parser.add_argument("--settings", type=Path, help="A settings.json naming the connectorId.")
    download_parser.add_argument("--cid", "--connector-id", dest="connector_id", help="The connector id.")
    download_parser.add_argument("--dest", type=Path, help="The folder (default: ./<connector id>).")
    download_parser.add_argument("--overwrite", action="store_true", help="Replace files already in the folder.")
    download_parser.set_defaults(run=download)
    validate_parser = commands.add_parser(
        "validate", parents=[common], help="Dry-run an upload: errors and warnings; exits 1 on errors."
    )
    add_file_arguments(validate_parser, uploads=False)
    validate_parser.set_defaults(run=validate)
    list_parser = commands.add_parser("list", parents=[common], help="List the connectors you see.")
    list_parser.set_defaults(run=list_connectors)
