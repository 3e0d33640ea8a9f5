"""connectionParameterSets (multi-auth): a connector offering several ways to connect, each a named set of
connection parameters with its own scheme (e.g. "OAuth" or "username and password"). A connection names
its set; everything else then treats the connector as if that set were its only connectionParameters.

paconn's shape: {"uiDefinition": {...}, "values": [{"name", "uiDefinition": {"displayName"}, "parameters": {...}}]}.
"""

from __future__ import annotations

from typing import Any

from shared.connectors._auth import scheme_for_parameters
from shared.connectors._errors import ErrorList, json_pointer
from shared.connectors._model import ParameterSet
from shared.connectors._parameter_parsing import parse_parameters

SETS_POINTER = ("apiProperties", "properties", "connectionParameterSets")


def _title(raw: dict[str, Any], name: str) -> str:
    ui_definition = raw.get("uiDefinition")
    title = ui_definition.get("displayName") if isinstance(ui_definition, dict) else None
    return title.strip() if isinstance(title, str) and title.strip() else name


def _parse_set(
    raw: Any, index: int, api_definition: dict[str, Any], seen: set[str], errors: ErrorList
) -> ParameterSet | None:
    at = (*SETS_POINTER, "values", index)
    if not isinstance(raw, dict):
        errors.append({"pointer": json_pointer(*at), "detail": "A parameter set must be an object."})
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append({"pointer": json_pointer(*at, "name"), "detail": "A parameter set needs a name."})
        return None
    if name in seen:
        errors.append(
            {"pointer": json_pointer(*at, "name"), "detail": f"Parameter set {name[:60]!r} is declared twice."}
        )
        return None
    seen.add(name)
    parameters, oauth_settings = parse_parameters(raw.get("parameters", {}), (*at, "parameters"), errors)
    auth = scheme_for_parameters(api_definition, parameters, oauth_settings, errors, json_pointer(*at, "parameters"))
    return ParameterSet(name, _title(raw, name), parameters, auth, oauth_settings)


def parse_parameter_sets(
    raw: Any, api_definition: dict[str, Any], errors: ErrorList
) -> tuple[ParameterSet, ...] | None:
    """The declared sets, or None when apiProperties has no connectionParameterSets."""
    if raw is None:
        return None
    values = raw.get("values") if isinstance(raw, dict) else None
    if not isinstance(values, list) or not values:
        detail = 'Must be an object whose "values" is a non-empty array of parameter sets.'
        errors.append({"pointer": json_pointer(*SETS_POINTER), "detail": detail})
        return ()
    seen: set[str] = set()
    parsed = (_parse_set(entry, index, api_definition, seen, errors) for index, entry in enumerate(values))
    return tuple(s for s in parsed if s is not None)
