"""Which authentication a connector uses, decided the way the Power Platform does.

apiProperties wins over the swagger: connection parameter sets mean multi-auth, an oauthSetting
parameter means OAuth 2.0 (whatever securityDefinitions says), a gateway setting or a "windows"
authType means on-premises Windows auth. Only then do securityDefinitions decide between apiKey,
basic and oauth2. A connector with neither has no authentication, even if it declares parameters
(policy templates may still use them later).
"""

from __future__ import annotations

from typing import Any

from shared.connectors._errors import ErrorList, json_pointer
from shared.connectors._model import STRING_TYPES, AuthScheme, ConnectionParameter

SUPPORTED_KINDS = frozenset({"none", "basic", "apiKey", "oauth2"})
_SWAGGER_KINDS = frozenset({"apiKey", "basic", "oauth2"})
_PARAMETERS_POINTER = "/apiProperties/properties/connectionParameters"


def _scheme(kind: str, **fields: str | None) -> AuthScheme:
    return AuthScheme(kind=kind, supported=kind in SUPPORTED_KINDS, **fields)


def _is_windows(parameters: tuple[ConnectionParameter, ...]) -> bool:
    if any(p.type == "gatewaysetting" for p in parameters):
        return True
    return any(
        p.name.lower() == "authtype" and any(v.lower() == "windows" for v in p.allowed_values) for p in parameters
    )


def _chosen_security_definition(api_definition: dict[str, Any], errors: ErrorList) -> tuple[str, dict[str, Any]] | None:
    """The definition the top-level `security` names first, else the first in document order."""
    definitions = api_definition.get("securityDefinitions")
    if definitions is None:
        return None
    if not isinstance(definitions, dict):
        errors.append({"pointer": "/apiDefinition/securityDefinitions", "detail": "Must be an object."})
        return None
    requirements = api_definition.get("security")
    referenced = [
        name
        for requirement in (requirements if isinstance(requirements, list) else [])
        if isinstance(requirement, dict)
        for name in requirement
        if name in definitions
    ]
    for name in [*referenced, *definitions]:
        definition = definitions[name]
        if isinstance(definition, dict) and definition.get("type") in _SWAGGER_KINDS:
            return name, definition
    return None


def _api_key_scheme(
    name: str, definition: dict[str, Any], parameters: tuple[ConnectionParameter, ...], errors: ErrorList
) -> AuthScheme:
    pointer = json_pointer("apiDefinition", "securityDefinitions", name)
    location = definition.get("in")
    if location not in ("header", "query"):
        errors.append({"pointer": f"{pointer}/in", "detail": 'An apiKey goes "in" "header" or "query".'})
    key_name = definition.get("name")
    if not isinstance(key_name, str) or not key_name.strip():
        errors.append({"pointer": f"{pointer}/name", "detail": "An apiKey needs the header or query parameter name."})
    value_parameter = next((p for p in parameters if p.name == "api_key" and p.type in STRING_TYPES), None)
    if value_parameter is None:
        secure = [p for p in parameters if p.type == "securestring"]
        value_parameter = secure[0] if len(secure) == 1 else None
    if value_parameter is None:
        detail = 'apiKey authentication needs the key\'s connection parameter: "api_key", or a single securestring.'
        errors.append({"pointer": _PARAMETERS_POINTER, "detail": detail})
    return _scheme(
        "apiKey",
        location=location if isinstance(location, str) else None,
        key_name=key_name if isinstance(key_name, str) else None,
        value_parameter=value_parameter.name if value_parameter else None,
    )


def _basic_scheme(parameters: tuple[ConnectionParameter, ...], errors: ErrorList) -> AuthScheme:
    """Username and password by name (any case; some makers declare the username securestring),
    else the first securestring as password and the first other string parameter as username."""
    strings = [p for p in parameters if p.type in STRING_TYPES]
    username = next((p for p in strings if p.name.lower() == "username"), None)
    password = next((p for p in strings if p.name.lower() == "password"), None)
    if password is None:
        password = next((p for p in strings if p.type == "securestring" and p is not username), None)
    if username is None:
        username = next((p for p in strings if p is not password), None)
    if username is None or password is None:
        detail = "Basic authentication needs username and password connection parameters."
        errors.append({"pointer": _PARAMETERS_POINTER, "detail": detail})
    return _scheme(
        "basic",
        username_parameter=username.name if username else None,
        password_parameter=password.name if password else None,
    )


def detect_auth_scheme(
    api_definition: dict[str, Any],
    properties: dict[str, Any],
    parameters: tuple[ConnectionParameter, ...],
    oauth_settings: dict[str, Any] | None,
    errors: ErrorList,
) -> AuthScheme:
    if properties.get("connectionParameterSets") is not None:
        return _scheme("parameterSets")
    if any(p.type == "oauthsetting" for p in parameters):
        provider = (oauth_settings or {}).get("identityProvider")
        return _scheme("oauth2", identity_provider=provider if isinstance(provider, str) else None)
    if _is_windows(parameters):
        return _scheme("windows")
    chosen = _chosen_security_definition(api_definition, errors)
    if chosen is None:
        return _scheme("none")
    name, definition = chosen
    if definition["type"] == "apiKey":
        return _api_key_scheme(name, definition, parameters, errors)
    if definition["type"] == "basic":
        return _basic_scheme(parameters, errors)
    return _scheme("oauth2")
