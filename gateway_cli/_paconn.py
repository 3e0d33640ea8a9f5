"""paconn's files and settings.json, as the CLI reads and writes them.

settings.json is paconn's format (schemas/paconn-settings.schema.json): connectorId, apiDefinition, apiProperties,
icon; paths in it are relative to the folder the settings file is in. Power Platform's environment and URLs mean
nothing here and are ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SETTINGS_SCHEMA = (
    "https://raw.githubusercontent.com/microsoft/PowerPlatformConnectors/master/schemas/paconn-settings.schema.json#"
)
API_DEFINITION = "apiDefinition.swagger.json"
API_PROPERTIES = "apiProperties.json"
ICON = "icon.png"
SCRIPT = "script.csx"
_CONNECTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class PaconnError(ValueError):
    """A settings file or connector file that can't be used; the message is one line for people."""


@dataclass(frozen=True)
class ConnectorFiles:
    connector_id: str | None
    api_definition: Path | None
    api_properties: Path | None
    icon: Path | None = None
    script: Path | None = None


def read_settings(path: Path) -> dict[str, Any]:
    try:
        settings = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise PaconnError(f"settings file {path} doesn't exist") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise PaconnError(f"settings file {path} is not JSON: {error}") from None
    if not isinstance(settings, dict):
        raise PaconnError(f"settings file {path} must hold a JSON object")
    for name in ("connectorId", "apiDefinition", "apiProperties", "icon"):
        if name in settings and not isinstance(settings[name], str):
            raise PaconnError(f"settings file {path}: {name} must be a string")
    return settings


def connector_files(
    settings_path: Path | None,
    connector_id: str | None,
    api_definition: Path | None,
    api_properties: Path | None,
    icon: Path | None = None,
    script: Path | None = None,
) -> ConnectorFiles:
    """Flags win over the settings file, as in paconn."""
    settings = read_settings(settings_path) if settings_path else {}
    base = settings_path.parent if settings_path else Path()

    def from_settings(name: str) -> Path | None:
        return base / settings[name] if settings.get(name) else None

    return ConnectorFiles(
        connector_id or settings.get("connectorId") or None,
        api_definition or from_settings("apiDefinition"),
        api_properties or from_settings("apiProperties"),
        icon or from_settings("icon"),
        script,
    )


def connector_id_from_title(api_definition: bytes) -> str:
    """A connector id for files that name none: the swagger's info.title, as letters, digits and dashes."""
    try:
        title = json.loads(api_definition.decode("utf-8-sig")).get("info", {}).get("title", "")
    except (ValueError, UnicodeDecodeError, AttributeError):
        title = ""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(title)).strip("-").lower()[:64]
    if not slug:
        raise PaconnError("no connector id: give --connector-id, or connectorId in --settings")
    return slug


def check_connector_id(connector_id: str) -> str:
    if not _CONNECTOR_ID.fullmatch(connector_id):
        raise PaconnError(
            f"connector id {connector_id!r}: 1-64 letters, digits, '-' and '_', starting with a letter or digit"
        )
    return connector_id


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PaconnError(f"{what} file {path} doesn't exist") from None
    except OSError as error:
        raise PaconnError(f"{what} file {path} can't be read: {error.strerror}") from None


def upload_parts(files: ConnectorFiles) -> dict[str, tuple[str, bytes, str]]:
    """The file parts of a PUT or a validate: the files' bytes untouched."""
    if files.api_definition is None or files.api_properties is None:
        raise PaconnError("both --api-def and --api-prop are needed (or apiDefinition and apiProperties in --settings)")
    parts = {
        "apiDefinition": (API_DEFINITION, read_file(files.api_definition, "--api-def"), "application/json"),
        "apiProperties": (API_PROPERTIES, read_file(files.api_properties, "--api-prop"), "application/json"),
    }
    if files.icon is not None:
        parts["icon"] = (ICON, read_file(files.icon, "--icon"), "image/png")
    if files.script is not None:
        parts["script"] = (SCRIPT, read_file(files.script, "--script"), "text/plain")
    return parts


def settings_document(connector_id: str, has_icon: bool) -> dict[str, Any]:
    """The settings.json a download writes next to the files, as paconn download does."""
    settings: dict[str, Any] = {
        "$schema": SETTINGS_SCHEMA,
        "connectorId": connector_id,
        "apiDefinition": API_DEFINITION,
        "apiProperties": API_PROPERTIES,
    }
    if has_icon:
        settings["icon"] = ICON
    return settings
