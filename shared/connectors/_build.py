"""Building a Connector from a maker's decoded apiDefinition + apiProperties.

Every problem found is collected (so a maker fixes them in one go) before ConnectorInvalid is raised.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from shared.connectors._auth import detect_auth_scheme
from shared.connectors._errors import ConnectorInvalid, ErrorList, json_pointer
from shared.connectors._model import (
    KNOWN_PARAMETER_TYPES,
    SECRET_TYPES,
    STRING_TYPES,
    USER_ENTERED_TYPES,
    Backend,
    ConnectionParameter,
    Connector,
    validate_connector_id,
)

# Host name or bracketed IPv6 literal, then an optional port. No scheme, path or user info.
_HOST_PATTERN = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?")
_BAD_PATH_CHARACTERS = re.compile(r"[\s?#\x00-\x1f\x7f]")
_PARAMETERS = ("apiProperties", "properties", "connectionParameters")


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


def _parse_parameter(name: str, raw: Any, errors: ErrorList) -> ConnectionParameter | None:
    pointer = json_pointer(*_PARAMETERS, name)
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


def _parse_parameters(raw: Any, errors: ErrorList) -> tuple[tuple[ConnectionParameter, ...], dict[str, Any] | None]:
    """The connection parameters, and the raw oAuthSettings of the first oauthSetting parameter."""
    if raw is None:
        return (), None
    if not isinstance(raw, dict):
        errors.append({"pointer": json_pointer(*_PARAMETERS), "detail": "connectionParameters must be an object."})
        return (), None
    parameters: list[ConnectionParameter] = []
    oauth_settings: dict[str, Any] | None = None
    for name, raw_parameter in raw.items():
        parameter = _parse_parameter(name, raw_parameter, errors)
        if parameter is None:
            continue
        parameters.append(parameter)
        settings = raw_parameter.get("oAuthSettings")
        if parameter.type == "oauthsetting" and oauth_settings is None and settings is not None:
            if isinstance(settings, dict):
                # A client secret never goes into the connector record (a Table entity); it belongs in Key Vault.
                oauth_settings = {k: copy.deepcopy(v) for k, v in settings.items() if k.lower() != "clientsecret"}
            else:
                errors.append(
                    {"pointer": json_pointer(*_PARAMETERS, name, "oAuthSettings"), "detail": "Not an object."}
                )
    return tuple(parameters), oauth_settings


def _parse_scheme(schemes: Any, errors: ErrorList) -> str:
    if schemes is None or schemes == []:
        return "https"
    if isinstance(schemes, list) and isinstance(schemes[0], str) and schemes[0].lower() in ("http", "https"):
        return schemes[0].lower()
    errors.append({"pointer": "/apiDefinition/schemes", "detail": 'The first scheme must be "https" or "http".'})
    return "https"


def _parse_host(host: Any, errors: ErrorList) -> str:
    match = _HOST_PATTERN.fullmatch(host) if isinstance(host, str) else None
    if match is None or (match.group(1) is not None and not 0 < int(match.group(1)) < 65536):
        detail = "The host is required: a host name with an optional :port, without scheme or path."
        errors.append({"pointer": "/apiDefinition/host", "detail": detail})
        return ""
    return host


def _parse_base_path(base_path: Any, errors: ErrorList) -> str:
    if base_path is None:
        return "/"
    if not isinstance(base_path, str) or _BAD_PATH_CHARACTERS.search(base_path):
        detail = "The basePath must be a path without spaces, control characters, '?' or '#'."
        errors.append({"pointer": "/apiDefinition/basePath", "detail": detail})
        return "/"
    return "/" + base_path.strip("/") if base_path.strip("/") else "/"


def _parse_backend(api_definition: dict[str, Any], errors: ErrorList) -> Backend:
    return Backend(
        scheme=_parse_scheme(api_definition.get("schemes"), errors),
        host=_parse_host(api_definition.get("host"), errors),
        base_path=_parse_base_path(api_definition.get("basePath"), errors),
    )


def _parse_info(api_definition: dict[str, Any], errors: ErrorList) -> tuple[str, str]:
    info = api_definition.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("title"), str) or not info["title"].strip():
        errors.append({"pointer": "/apiDefinition/info/title", "detail": "A title (info.title) is required."})
        return "", ""
    description = info.get("description")
    return info["title"].strip(), description if isinstance(description, str) else ""


def _parse_policy_template_instances(raw: Any, errors: ErrorList) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        pointer = "/apiProperties/properties/policyTemplateInstances"
        errors.append({"pointer": pointer, "detail": "Must be an array of objects."})
        return ()
    return tuple(copy.deepcopy(raw))


def build_connector(connector_id: str, api_definition: dict[str, Any], api_properties: dict[str, Any]) -> Connector:
    """Build the Connector from decoded documents; raise ConnectorInvalid listing every problem found."""
    errors: ErrorList = []
    try:
        validate_connector_id(connector_id)
    except ConnectorInvalid as invalid:
        errors.extend(invalid.errors)
    if api_definition.get("swagger") != "2.0":
        detail = 'Must be "2.0": connectors are OpenAPI 2.0 (Swagger) documents.'
        errors.append({"pointer": "/apiDefinition/swagger", "detail": detail})
    title, description = _parse_info(api_definition, errors)
    backend = _parse_backend(api_definition, errors)
    properties = api_properties.get("properties", {})
    if not isinstance(properties, dict):
        errors.append({"pointer": "/apiProperties/properties", "detail": "Must be an object."})
        properties = {}
    parameters, oauth_settings = _parse_parameters(properties.get("connectionParameters"), errors)
    auth = detect_auth_scheme(api_definition, properties, parameters, oauth_settings, errors)
    policies = _parse_policy_template_instances(properties.get("policyTemplateInstances"), errors)
    if errors:
        raise ConnectorInvalid(errors)
    return Connector(connector_id, title, description, backend, auth, parameters, oauth_settings, policies)
