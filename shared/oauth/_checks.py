"""Whether a connector's OAuth settings can work at all, before any connection tries them. Pure.

A placeholder client id ("[[DUMMY]]", "<resource-id>"), an identity provider the gateway has no template
for, a missing token URL: no value a user could enter fixes those; only the maker can. They are warnings at
upload (the connector is still registered: real files often leave OAuth settings to the portal) and a
maker-facing problem when someone tries to connect. Per-connection values (`token:*` parameters) are
filled with a sample (their default, first allowed value, or a plain word), so settings a connection
completes (its own client id or tenant) are not reported.
"""

from __future__ import annotations

from typing import Any

from shared.connectors import ConnectionParameter, Connector
from shared.oauth._config import oauth_config_for
from shared.oauth._config_model import OAuthConfigError

_SAMPLES: dict[str, Any] = {"int": 1, "bool": True}


def _sample(parameter: ConnectionParameter) -> Any:
    if parameter.default not in (None, ""):
        return parameter.default
    if parameter.allowed_values:
        return parameter.allowed_values[0]
    return _SAMPLES.get(parameter.type, "sample")


def oauth_setup_problem(connector: Connector) -> str | None:
    """Why this (single-scheme) connector's OAuth settings can't work for any connection, or None."""
    if connector.auth.kind != "oauth2":
        return None
    samples = {
        p.name: _sample(p)
        for p in connector.parameters
        if p.user_entered and not p.secret and p.name.lower().startswith("token:")
    }
    try:
        oauth_config_for(connector, samples)
    except OAuthConfigError as error:
        return str(error)
    return None


def _settings_pointer(prefix: str, parameters: tuple[ConnectionParameter, ...]) -> str:
    name = next((p.name for p in parameters if p.type == "oauthsetting"), None)
    if name is None:
        return prefix
    return f"{prefix}/{name.replace('~', '~0').replace('/', '~1')}/oAuthSettings"


def oauth_warnings(connector: Connector) -> list[dict[str, str]]:
    """One {"pointer", "detail"} per OAuth setup (the connector's, or each parameter set's) that can't work."""
    warnings: list[dict[str, str]] = []
    problem = oauth_setup_problem(connector)
    if problem:
        pointer = _settings_pointer("/apiProperties/properties/connectionParameters", connector.parameters)
        warnings.append({"pointer": pointer, "detail": f"OAuth can't work as configured: {problem}."})
    for index, parameter_set in enumerate(connector.parameter_sets):
        problem = oauth_setup_problem(connector.for_parameter_set(parameter_set.name))
        if problem:
            prefix = f"/apiProperties/properties/connectionParameterSets/values/{index}/parameters"
            detail = f"Parameter set {parameter_set.name!r}: OAuth can't work as configured: {problem}."
            warnings.append({"pointer": _settings_pointer(prefix, parameter_set.parameters), "detail": detail})
    return warnings
