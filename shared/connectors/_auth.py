"""Which authentication a connector uses, decided the way the Power Platform does.

apiProperties wins over the swagger: connection parameter sets mean multi-auth (each set is decided
on its own, by these same rules, with its own parameters), an oauthSetting parameter means OAuth 2.0
(whatever securityDefinitions says), a gateway setting or a "windows" authType means on-premises
Windows auth. Only then do securityDefinitions decide between apiKey, basic and oauth2. A connector
with neither has no authentication, even if it declares parameters (policy templates may use them).
A securityDefinitions type other than apiKey, basic and oauth2 is an error, never "none".
"""

from __future__ import annotations

import re
from typing import Any

from shared.connectors._errors import ErrorList, json_pointer
from shared.connectors._model import STRING_TYPES, AuthScheme, ConnectionParameter, ParameterSet

SUPPORTED_KINDS = frozenset({"none", "basic", "apiKey", "oauth2"})
_SWAGGER_KINDS = frozenset({"apiKey", "basic", "oauth2"})
_PARAMETERS_POINTER = "/apiProperties/properties/connectionParameters"
UNSUPPORTED_REASONS = {
    "windows": "On-premises Windows authentication needs Microsoft's on-premises data gateway, which this gateway "
    "doesn't run.",
    "parameterSets": "None of its connection parameter sets uses a scheme this gateway supports (none, basic, "
    "apiKey, oauth2).",
}


# Headers that frame or route the request, which the gateway computes itself. A key sent as one would let a user's
# key value decide them: `Transfer-Encoding: chunked` next to the real Content-Length smuggles a second request,
# one the path guard never saw, onto a pooled connection other connectors' calls to that host share.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        "forwarded",
    }
)
_RESERVED_HEADER_PREFIXES = ("x-forwarded-",)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_RESERVED_HEADER_RULE = (
    "An apiKey header name must be an HTTP token and not a header that frames or routes the request "
    "(Host, Content-Length, Transfer-Encoding, Connection and other hop-by-hop headers, Expect, Forwarded, "
    "X-Forwarded-*)."
)


def is_credential_header(name: str) -> bool:
    """Whether an apiKey may go in a header of this name (see _RESERVED_HEADERS)."""
    lowered = name.lower()
    return (
        bool(_HEADER_NAME.fullmatch(name))
        and lowered not in _RESERVED_HEADERS
        and not lowered.startswith(_RESERVED_HEADER_PREFIXES)
    )


def _scheme(kind: str, **fields: str | None) -> AuthScheme:
    supported = kind in SUPPORTED_KINDS
    return AuthScheme(kind=kind, supported=supported, reason=None if supported else UNSUPPORTED_REASONS[kind], **fields)


def check_security_definitions(api_definition: dict[str, Any], errors: ErrorList) -> None:
    """Every securityDefinitions entry is an object of a type the gateway knows: an unknown type is an error,
    never read as "no authentication" (its backend expects a credential the gateway would not send)."""
    definitions = api_definition.get("securityDefinitions")
    if not isinstance(definitions, dict):
        return  # None: no definitions; another type is reported by _chosen_security_definition
    for name, definition in definitions.items():
        pointer = json_pointer("apiDefinition", "securityDefinitions", name)
        kind = definition.get("type") if isinstance(definition, dict) else None
        if not (isinstance(kind, str) and kind in _SWAGGER_KINDS):  # a list or an object is no kind (nor hashable)
            shown = repr(kind)[:40] if isinstance(kind, str) else "missing"
            detail = f"Security type {shown} is not one this gateway knows (apiKey, basic, oauth2)."
            errors.append({"pointer": f"{pointer}/type", "detail": detail})


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
        kind = definition.get("type") if isinstance(definition, dict) else None
        if isinstance(kind, str) and kind in _SWAGGER_KINDS:
            return name, definition
    return None


def _api_key_scheme(
    name: str,
    definition: dict[str, Any],
    parameters: tuple[ConnectionParameter, ...],
    parameters_pointer: str,
    errors: ErrorList,
) -> AuthScheme:
    pointer = json_pointer("apiDefinition", "securityDefinitions", name)
    location = definition.get("in")
    if location not in ("header", "query"):
        errors.append({"pointer": f"{pointer}/in", "detail": 'An apiKey goes "in" "header" or "query".'})
    key_name = definition.get("name")
    if not isinstance(key_name, str) or not key_name.strip():
        errors.append({"pointer": f"{pointer}/name", "detail": "An apiKey needs the header or query parameter name."})
    elif location == "header" and not is_credential_header(key_name):
        errors.append({"pointer": f"{pointer}/name", "detail": _RESERVED_HEADER_RULE})
    value_parameter = next((p for p in parameters if p.name == "api_key" and p.type in STRING_TYPES), None)
    if value_parameter is None:
        secure = [p for p in parameters if p.type == "securestring"]
        value_parameter = secure[0] if len(secure) == 1 else None
    if value_parameter is None:
        detail = 'apiKey authentication needs the key\'s connection parameter: "api_key", or a single securestring.'
        errors.append({"pointer": parameters_pointer, "detail": detail})
    return _scheme(
        "apiKey",
        location=location if isinstance(location, str) else None,
        key_name=key_name if isinstance(key_name, str) else None,
        value_parameter=value_parameter.name if value_parameter else None,
    )


def _basic_scheme(
    parameters: tuple[ConnectionParameter, ...], parameters_pointer: str, errors: ErrorList
) -> AuthScheme:
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
        errors.append({"pointer": parameters_pointer, "detail": detail})
    return _scheme(
        "basic",
        username_parameter=username.name if username else None,
        password_parameter=password.name if password else None,
    )


def scheme_for_parameters(
    api_definition: dict[str, Any],
    parameters: tuple[ConnectionParameter, ...],
    oauth_settings: dict[str, Any] | None,
    errors: ErrorList,
    parameters_pointer: str = _PARAMETERS_POINTER,
) -> AuthScheme:
    """The scheme of one list of connection parameters: the connector's, or one parameter set's."""
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
        return _api_key_scheme(name, definition, parameters, parameters_pointer, errors)
    if definition["type"] == "basic":
        return _basic_scheme(parameters, parameters_pointer, errors)
    return _scheme("oauth2")


def detect_auth_scheme(
    api_definition: dict[str, Any],
    parameters: tuple[ConnectionParameter, ...],
    oauth_settings: dict[str, Any] | None,
    parameter_sets: tuple[ParameterSet, ...] | None,
    errors: ErrorList,
) -> AuthScheme:
    """The connector's scheme. With parameter sets (None: apiProperties declares none) it is "parameterSets",
    supported when at least one set is: a connection names its set and authenticates with that set's scheme."""
    check_security_definitions(api_definition, errors)
    if parameter_sets is not None:
        if any(s.auth.supported for s in parameter_sets):
            return AuthScheme(kind="parameterSets", supported=True)
        return _scheme("parameterSets")
    return scheme_for_parameters(api_definition, parameters, oauth_settings, errors)
