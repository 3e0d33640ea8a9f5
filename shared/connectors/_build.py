"""Building a Connector from a maker's decoded apiDefinition + apiProperties.

Every problem found is collected (so a maker fixes them in one go) before ConnectorInvalid is raised.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from shared.connectors._auth import detect_auth_scheme
from shared.connectors._connection_check import parse_connection_check
from shared.connectors._errors import ConnectorInvalid, ErrorList
from shared.connectors._model import Backend, Connector, validate_connector_id
from shared.connectors._operations import parse_operations
from shared.connectors._parameter_parsing import PARAMETERS_POINTER, parse_parameters
from shared.connectors._parameter_sets import parse_parameter_sets

# Host name or bracketed IPv6 literal, then an optional port. No scheme, path or user info.
_HOST_PATTERN = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?")
_BAD_PATH_CHARACTERS = re.compile(r"[\s?#\x00-\x1f\x7f]")


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


def _has_dot_segment(base_path: str) -> bool:
    """A `.`/`..` segment (also percent-encoded) or `//`: the backend would resolve it to another path than the one
    the connector shows, and the path guard checks callers' paths against (shared/proxy/_urls.py)."""
    decoded = unquote(unquote(base_path)).strip("/")  # leading and trailing slashes are normalised away
    return (
        "//" in decoded or "\\" in decoded or any(segment and set(segment) == {"."} for segment in decoded.split("/"))
    )


def _parse_base_path(base_path: Any, errors: ErrorList) -> str:
    if base_path is None:
        return "/"
    if not isinstance(base_path, str) or _BAD_PATH_CHARACTERS.search(base_path) or _has_dot_segment(base_path):
        detail = "The basePath must be a path without spaces, control characters, '?', '#', '//' or '.'/'..' segments."
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


MAX_SCRIPT_CHARACTERS = 1024 * 1024  # Power Platform's limit for script.csx


def _parse_script_operations(raw: Any, errors: ErrorList) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        errors.append(
            {"pointer": "/apiProperties/properties/scriptOperations", "detail": "Must be a list of operationIds."}
        )
        return None
    return tuple(raw)


def build_connector(
    connector_id: str, api_definition: dict[str, Any], api_properties: dict[str, Any], script: str | None = None
) -> Connector:
    """Build the Connector from decoded documents (and script.csx, kept as given); raise ConnectorInvalid listing
    every problem found. Operations the gateway had to leave out are `warnings`, not errors."""
    errors: ErrorList = []
    warnings: ErrorList = []
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
    parameters, oauth_settings = parse_parameters(properties.get("connectionParameters"), PARAMETERS_POINTER, errors)
    parameter_sets = parse_parameter_sets(properties.get("connectionParameterSets"), api_definition, errors)
    auth = detect_auth_scheme(api_definition, parameters, oauth_settings, parameter_sets, errors)
    policies = _parse_policy_template_instances(properties.get("policyTemplateInstances"), errors)
    connection_check = parse_connection_check(api_definition, warnings)
    operations = parse_operations(api_definition, warnings)
    script_operations = _parse_script_operations(properties.get("scriptOperations"), errors)
    if script is not None and len(script) > MAX_SCRIPT_CHARACTERS:
        errors.append({"pointer": "/script", "detail": f"script.csx is limited to {MAX_SCRIPT_CHARACTERS} characters."})
    if errors:
        raise ConnectorInvalid(errors)
    return Connector(
        connector_id,
        title,
        description,
        backend,
        auth,
        parameters,
        oauth_settings,
        policies,
        parameter_sets=parameter_sets or (),
        test_connection=connection_check,
        operations=operations,
        custom_code=script is not None,
        script_operations=script_operations if script is not None else None,
        warnings=tuple(warnings),
    )
