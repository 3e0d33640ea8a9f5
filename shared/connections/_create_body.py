"""What a new connection's body asks for, checked before anything is stored: its display name, post-login
redirect and parameter set, and whether the connector it names can be connected to at all."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shared import problems
from shared.connector_store import RegisteredConnector
from shared.connectors import Connector
from shared.oauth import oauth_setup_problem

MAX_DISPLAY_NAME = 200


def parse_create_body(body: Any, connector: Connector, redirect_allowed: Callable[[str], bool]) -> tuple:
    if not isinstance(body, dict):
        raise problems.bad_request("The body must be a JSON object with displayName and parameters.")
    unknown = sorted(set(body) - {"displayName", "parameters", "postLoginRedirectUrl", "parameterSet"})
    if unknown:
        raise problems.invalid_parameters(
            f"Unknown field(s): {', '.join(unknown)}.",
            [{"pointer": f"/{name}", "detail": "unknown field"} for name in unknown],
        )
    display_name = body.get("displayName", connector.title or connector.id)
    if not isinstance(display_name, str) or not display_name.strip() or len(display_name) > MAX_DISPLAY_NAME:
        raise problems.invalid_parameters(
            "displayName must be a non-empty string.",
            [{"pointer": "/displayName", "detail": f"a string of 1-{MAX_DISPLAY_NAME} characters"}],
        )
    post_login = body.get("postLoginRedirectUrl")
    if post_login is not None and (not isinstance(post_login, str) or not redirect_allowed(post_login)):
        raise problems.invalid_parameters(
            "postLoginRedirectUrl is not on the operator's allowlist (OAUTH_POST_LOGIN_REDIRECTS).",
            [{"pointer": "/postLoginRedirectUrl", "detail": "not an allowed redirect"}],
        )
    return display_name.strip(), body.get("parameters", {}), post_login, body.get("parameterSet")


def _invalid_set(detail: str, connector: Connector) -> problems.Problem:
    names = ", ".join(repr(s.name) for s in connector.parameter_sets) or "none"
    return problems.invalid_parameters(
        f"{detail} (this connector's parameter sets: {names}).", [{"pointer": "/parameterSet", "detail": detail}]
    )


def with_parameter_set(registered: RegisteredConnector, set_name: Any) -> RegisteredConnector:
    """The connector a connection authenticates against: with parameter sets (multi-auth), the one it names,
    seen as if that set were the connector's only connectionParameters; otherwise the connector itself."""
    connector = registered.connector
    if not connector.parameter_sets:
        if set_name is not None:
            raise _invalid_set("This connector has no parameter sets: leave parameterSet out", connector)
        return registered
    if set_name is None:
        raise _invalid_set("This connector offers several ways to connect: name one as parameterSet", connector)
    if not isinstance(set_name, str) or connector.parameter_set(set_name) is None:
        raise _invalid_set("Not a parameter set of this connector", connector)
    return dataclasses.replace(registered, connector=connector.for_parameter_set(set_name))


def require_usable(connector: Connector) -> None:
    """501 for a scheme the gateway can't run, 409 for OAuth settings only the connector's maker can fix."""
    if not connector.auth.supported:
        raise problems.not_implemented(
            f"Connections with {connector.auth.kind} authentication are not supported: {connector.auth.reason}"
        )
    setup_problem = oauth_setup_problem(connector)
    if setup_problem:
        raise problems.Problem(
            409,
            "connector-misconfigured",
            "Connector misconfigured",
            f"This connector's OAuth settings can't work: {setup_problem}. Nothing you enter can fix this: its maker "
            "must correct the connector (the connector's GET lists this under warnings).",
            connectorId=connector.id,
        )
