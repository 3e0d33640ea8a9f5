"""Checking the connection parameter values a user submits against a connector.

Error details name the parameter and what was expected, never the submitted value: it may be a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.connectors._errors import ConnectionValuesInvalid, ErrorList, json_pointer
from shared.connectors._model import STRING_TYPES, AuthScheme, ConnectionParameter, Connector

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
    errors.extend(credential_value_errors(connector.auth, {**accepted.plain, **accepted.secret}))
    if errors:
        raise ConnectionValuesInvalid(errors)
    return accepted


def _fits_a_header(value: str) -> bool:
    """What the transport writes as a header value: visible Latin-1, space and tab (no CR, LF, NUL or other control)."""
    return all(char == "\t" or " " <= char <= "~" or "\xa0" <= char <= "\xff" for char in value)


def _is_latin1(value: str) -> bool:
    return all(char <= "\xff" for char in value)


def credential_value_errors(auth: AuthScheme, values: dict[str, Any]) -> ErrorList:
    """Values the credential's header can't carry as entered: an apiKey header value with a control or non-Latin-1
    character (the transport would refuse the request or, with CR/LF, split the header), basic credentials outside
    Latin-1 (how they are encoded) or a username with ':' (RFC 7617: the backend would split it elsewhere).
    Details never repeat the value."""

    def text(name: str | None) -> str | None:
        value = values.get(name or "")
        return value if isinstance(value, str) else None

    errors: ErrorList = []
    if auth.kind == "apiKey" and auth.location == "header":
        key = text(auth.value_parameter)
        if key is not None and not _fits_a_header(key):
            errors.append(_error(auth.value_parameter, "Must be visible Latin-1 characters: it goes in a header."))
    elif auth.kind == "basic":
        username, password = text(auth.username_parameter), text(auth.password_parameter)
        if username is not None and (":" in username or not _is_latin1(username)):
            errors.append(_error(auth.username_parameter, "A basic username is Latin-1 without ':'."))
        if password is not None and not _is_latin1(password):
            errors.append(_error(auth.password_parameter, "A basic password is Latin-1."))
    return errors


def _error(name: str | None, detail: str) -> dict[str, str]:
    return {"pointer": json_pointer("parameters", name or ""), "detail": detail}
