"""Connection parameter declarations (connectionParameters, or one parameter set's parameters) as
ConnectionParameters. Every problem is appended to `errors` with a pointer under `at`."""

from __future__ import annotations

import copy
import re
from typing import Any

from shared.connectors._errors import ErrorList, json_pointer
from shared.connectors._model import (
    KNOWN_PARAMETER_TYPES,
    SECRET_TYPES,
    STRING_TYPES,
    USER_ENTERED_TYPES,
    ConnectionParameter,
)

PARAMETERS_POINTER = ("apiProperties", "properties", "connectionParameters")


def _parse_flag(value: Any, pointer: str, errors: ErrorList) -> bool:
    """uiDefinition flags are the strings "true"/"false" in paconn's schema, but a bool in some real files."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    errors.append({"pointer": pointer, "detail": 'Must be "true" or "false".'})
    return False


def _parse_allowed_values(entries: Any, pointer: str, errors: ErrorList) -> tuple[str, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        errors.append({"pointer": pointer, "detail": 'Must be an array of {"value", "text"} objects.'})
        return ()
    values: list[str] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("value"), str):
            values.append(entry["value"])
        else:
            detail = 'Each allowed value must be an object with a string "value".'
            errors.append({"pointer": f"{pointer}/{index}", "detail": detail})
    return tuple(values)


def _parse_default(parameter_type: str, raw: Any, pointer: str, errors: ErrorList) -> Any:
    """paconn's schema types defaultValue as a string; int and bool defaults are converted."""
    if raw is None or parameter_type not in USER_ENTERED_TYPES:
        return raw
    if parameter_type in STRING_TYPES and isinstance(raw, str):
        return raw
    if parameter_type == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", raw):
            return int(raw)
    if parameter_type == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
    errors.append({"pointer": pointer, "detail": f"The default is not a valid {parameter_type}."})
    return None


def _parse_parameter(name: str, raw: Any, at: tuple[str | int, ...], errors: ErrorList) -> ConnectionParameter | None:
    pointer = json_pointer(*at, name)
    if not isinstance(raw, dict):
        errors.append({"pointer": pointer, "detail": "A connection parameter must be an object."})
        return None
    raw_type = raw.get("type")
    parameter_type = raw_type.lower() if isinstance(raw_type, str) else ""
    if parameter_type not in KNOWN_PARAMETER_TYPES:
        known = ", ".join(sorted(KNOWN_PARAMETER_TYPES))
        errors.append({"pointer": f"{pointer}/type", "detail": f"The type must be one of {known}."})
        return None
    ui_definition = raw.get("uiDefinition") or {}
    constraints = ui_definition.get("constraints") if isinstance(ui_definition, dict) else None
    if not isinstance(ui_definition, dict) or not isinstance(constraints or {}, dict):
        errors.append({"pointer": f"{pointer}/uiDefinition", "detail": "uiDefinition and its constraints are objects."})
        return None
    constraints = constraints or {}
    if "allowedValues" in raw:
        allowed_values = _parse_allowed_values(raw["allowedValues"], f"{pointer}/allowedValues", errors)
    else:
        constraints_pointer = f"{pointer}/uiDefinition/constraints/allowedValues"
        allowed_values = _parse_allowed_values(constraints.get("allowedValues"), constraints_pointer, errors)
    if parameter_type == "securestring" and raw.get("defaultValue") not in (None, ""):
        # It would be stored in plain text, and silently become the secret of every connection that omits it.
        detail = "A securestring parameter can't have a defaultValue: each connection supplies its own secret."
        errors.append({"pointer": f"{pointer}/defaultValue", "detail": detail})
        raw = {**raw, "defaultValue": None}
    default = _parse_default(parameter_type, raw.get("defaultValue"), f"{pointer}/defaultValue", errors)
    parameter = ConnectionParameter(
        name=name,
        type=parameter_type,
        secret=parameter_type in SECRET_TYPES,
        required=_parse_flag(constraints.get("required"), f"{pointer}/uiDefinition/constraints/required", errors),
        hidden=_parse_flag(constraints.get("hidden"), f"{pointer}/uiDefinition/constraints/hidden", errors),
        allowed_values=allowed_values,
        default=default,
        ui_definition=copy.deepcopy(ui_definition),
    )
    if default is not None and not parameter.allows(default):
        errors.append({"pointer": f"{pointer}/defaultValue", "detail": "The default is not one of the allowed values."})
    return parameter


def parse_parameters(
    raw: Any, at: tuple[str | int, ...], errors: ErrorList
) -> tuple[tuple[ConnectionParameter, ...], dict[str, Any] | None]:
    """The connection parameters, and the raw oAuthSettings of the first oauthSetting parameter."""
    if raw is None:
        return (), None
    if not isinstance(raw, dict):
        errors.append({"pointer": json_pointer(*at), "detail": "connectionParameters must be an object."})
        return (), None
    parameters: list[ConnectionParameter] = []
    oauth_settings: dict[str, Any] | None = None
    for name, raw_parameter in raw.items():
        parameter = _parse_parameter(name, raw_parameter, at, errors)
        if parameter is None:
            continue
        parameters.append(parameter)
        settings = raw_parameter.get("oAuthSettings")
        if parameter.type == "oauthsetting" and oauth_settings is None and settings is not None:
            if isinstance(settings, dict):
                # A client secret never goes into the connector record (a Table entity); it belongs in Key Vault.
                oauth_settings = {k: copy.deepcopy(v) for k, v in settings.items() if k.lower() != "clientsecret"}
            else:
                errors.append({"pointer": json_pointer(*at, name, "oAuthSettings"), "detail": "Not an object."})
    return tuple(parameters), oauth_settings
