"""Checking the connection parameter values a user submits against a connector.

Error details name the parameter and what was expected, never the submitted value: it may be a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.connectors._errors import ConnectionValuesInvalid, ErrorList, json_pointer
from shared.connectors._model import STRING_TYPES, ConnectionParameter, Connector

_EXPECTED = {"string": "a string", "securestring": "a string", "int": "an integer", "bool": "true or false"}


@dataclass(frozen=True)
class ConnectionValues:
    secret: dict[str, Any]  # values of securestring parameters: these go to Key Vault
    plain: dict[str, Any]  # everything else


def _is_missing(value: Any) -> bool:
    return value is None or value == ""


def _has_type(parameter: ConnectionParameter, value: Any) -> bool:
    if parameter.type in STRING_TYPES:
        return isinstance(value, str)
    if parameter.type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, bool)


def _check(parameter: ConnectionParameter, value: Any) -> str | None:
    """What is wrong with a present value, or None."""
    if not _has_type(parameter, value):
        return f"Must be {_EXPECTED[parameter.type]}."
    if not parameter.allows(value):
        return "Must be one of: " + ", ".join(parameter.allowed_values) + "."
    return None


def validate_connection_values(connector: Connector, values: Any) -> ConnectionValues:
    """Split valid values into secret and plain; raise ConnectionValuesInvalid listing every problem.

    Missing, null and "" all count as absent: an error for required parameters, dropped for optional
    ones. Hidden parameters the user leaves out take their default. oauthSetting (and other
    platform-filled) parameters are not user input, so submitting one is an unknown name.
    """
    if not isinstance(values, dict):
        raise ConnectionValuesInvalid([{"pointer": "/parameters", "detail": "Must be an object of name: value."}])
    errors: ErrorList = []
    entered = {p.name: p for p in connector.parameters if p.user_entered}
    for name in values:
        if name not in entered:
            errors.append({"pointer": json_pointer("parameters", name), "detail": "Not a parameter of this connector."})
    accepted = ConnectionValues(secret={}, plain={})
    for name, parameter in entered.items():
        pointer = json_pointer("parameters", name)
        value = values.get(name)
        if _is_missing(value) and parameter.hidden and parameter.default is not None:
            value = parameter.default
        if _is_missing(value):
            if parameter.required:
                errors.append({"pointer": pointer, "detail": f"Required: {_EXPECTED[parameter.type]}."})
            continue
        problem = _check(parameter, value)
        if problem:
            errors.append({"pointer": pointer, "detail": problem})
            continue
        (accepted.secret if parameter.secret else accepted.plain)[name] = value
    if errors:
        raise ConnectionValuesInvalid(errors)
    return accepted
