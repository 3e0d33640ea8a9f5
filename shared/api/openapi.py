"""GET /api/openapi.json: the gateway's own API as OpenAPI 3.1, generated from the routes function_app.py registers.

Paths, methods and path parameters come from the registrations (shared/api/routing.py); summaries, bodies
and problems from shared/api/catalog.py; the schemas of the bodies from shared/api/_openapi_schemas.py.
Security schemes follow the settings (subscription key header and query names, the JWT's header).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import azure.functions as func

from shared.api._openapi_schemas import SCHEMAS
from shared.api.catalog import CALLER, HTML, OPERATIONS, PATH_PARAMETERS, Operation
from shared.api.routing import GatewayApp, RegisteredRoute
from shared.gateway import gateway
from shared.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX
from shared.settings import Settings
from shared.version import VERSION
from shared.web import anonymous_endpoint, json_response

ROUTE_PREFIX = "api"  # host.json's extensions.http.routePrefix (a test keeps them equal)
# {name}, {name?}, {name:constraint}, {*name}: the Functions host's route template parameters.
_TEMPLATE_PARAMETER = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
_SECURITY_BY_KEY = [{"subscriptionKey": []}, {"subscriptionKeyQuery": []}, {"bearer": []}]
_STATUS_TEXT = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    501: "Not implemented",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def openapi_path(route: str) -> str:
    """`connections/{connectionId}/invoke/{*path}` -> `/api/connections/{connectionId}/invoke/{path}`."""
    return "/" + "/".join(part for part in (ROUTE_PREFIX, _TEMPLATE_PARAMETER.sub(r"{\1}", route)) if part)


def _path_parameters(route: str) -> list[dict[str, Any]]:
    parameters = []
    for name in _TEMPLATE_PARAMETER.findall(route):
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": PATH_PARAMETERS.get(name, name),
                "schema": {"type": "string"},
            }
        )
    return parameters


# Every answer, the backend's through invoke included, carries the request's correlation id (shared/web.py).
_HEADERS = {"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}}
_COMPONENT_HEADERS = {
    "CorrelationId": {
        "required": True,
        "description": "The request's correlation id: the caller's traceparent trace id or x-ms-client-request-id, "
        "else minted. Problems carry it as `correlationId`; the gateway's log lines too.",
        "schema": {"type": "string", "minLength": 1},
    }
}


# Headers a problem of that status carries besides the correlation id.
_PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "required": True,
            "description": 'RFC 6750 challenge: `Bearer realm="connector-gateway"`, with `error` when a credential was '
            "sent and refused.",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {"description": "Seconds until a call may succeed.", "schema": {"type": "string"}},
    },
    503: {
        "Retry-After": {
            "required": True,
            "description": "Seconds until the stores may answer again.",
            "schema": {"type": "string"},
        }
    },
}


def _problem_response(status: int, slugs: Iterable[str], operation: Operation) -> dict[str, Any]:
    types = sorted({PROBLEM_TYPE_PREFIX + slug for slug in slugs})
    description = f"{_STATUS_TEXT.get(status, 'Problem')}: " + ", ".join(f"`{t}`" for t in types)
    content: dict[str, Any] = {PROBLEM_CONTENT_TYPE: {"schema": _ref("Problem")}}
    headers = {**_HEADERS, **_PROBLEM_HEADERS.get(status, {})}
    if operation.html_errors:
        content[HTML] = {"schema": _ref("Html")}
    if operation.passthrough:
        # The backend may answer with the same status, in its own shape and headers.
        description += "; or the backend's own answer with this status, as it is"
        content["*/*"] = {}
        headers = {
            name: {**header, "required": False} if "required" in header else header for name, header in headers.items()
        }
    return {"description": description, "headers": headers, "content": content}


def _merged_problems(operation: Operation) -> dict[int, set[str]]:
    merged: dict[int, set[str]] = {}
    for problems in (operation.access.problems, operation.problems):
        for status, slugs in problems.items():
            merged.setdefault(status, set()).update(slugs)
    return merged


def _ref(schema: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema}"}


def _operation(route: RegisteredRoute, method: str, operation: Operation) -> dict[str, Any]:
    single = len(route.methods) == 1
    document: dict[str, Any] = {
        "operationId": route.function_name if single else f"{route.function_name}_{method.lower()}",
        "summary": operation.summary,
        "tags": [route.route.split("/", 1)[0]],
        "description": f"Who: {operation.access.who}. {operation.description}".strip(),
        "parameters": _path_parameters(route.route)
        + [
            {
                "name": query.name,
                "in": "query",
                "required": False,
                "description": query.description,
                "schema": {"type": "string", **({"enum": list(query.enum)} if query.enum else {})},
            }
            for query in operation.query
        ],
        "security": _SECURITY_BY_KEY if operation.access.authenticated else [],
    }
    if operation.body is not None and method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        document["requestBody"] = {
            "required": operation.body.required,
            "content": {media: {"schema": _ref(schema)} for media, schema in operation.body.content.items()},
        }
    responses: dict[str, Any] = {}
    for status, reply in operation.replies.items():
        responses[str(status)] = {"description": reply.description, "headers": _HEADERS}
        if reply.schema:
            responses[str(status)]["content"] = {reply.media: {"schema": _ref(reply.schema)}}
    for status, slugs in sorted(_merged_problems(operation).items()):
        responses[str(status)] = _problem_response(status, slugs, operation)
    if operation.passthrough:
        responses["default"] = {
            "description": "The backend's response, as it answered (any status and media type).",
            "headers": _HEADERS,
        }
    document["responses"] = responses
    return document


def _fallback(route: RegisteredRoute) -> Operation:
    """A registered route nobody described yet: in the document all the same, with the edge's problems."""
    return Operation(
        f"{route.function_name} (not yet described in shared/api/catalog.py)", CALLER, {}, passthrough=True
    )


def _security_schemes(settings: Settings) -> dict[str, Any]:
    if settings.token_header.lower() == "authorization":
        bearer: dict[str, Any] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    else:
        bearer = {"type": "apiKey", "in": "header", "name": settings.token_header}
    return {
        "subscriptionKey": {"type": "apiKey", "in": "header", "name": settings.subscription_key_header},
        "subscriptionKeyQuery": {"type": "apiKey", "in": "query", "name": settings.subscription_key_query},
        "bearer": {**bearer, "description": "An OIDC JWT from one of the trusted issuers (AUTH_OIDC_*)."},
    }


def build_document(routes: Iterable[RegisteredRoute], settings: Settings) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = OPERATIONS.get(route.function_name) or _fallback(route)
        item = paths.setdefault(openapi_path(route.route), {})
        for method in route.methods:
            item[method.lower()] = _operation(route, method, operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Connector gateway",
            "version": VERSION,
            "description": "Management and invoke API of the connector gateway. Every error is an RFC 9457 "
            "`application/problem+json` body (`Problem`).",
        },
        "servers": [{"url": settings.public_url.rstrip("/")}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS,
            "headers": _COMPONENT_HEADERS,
            "securitySchemes": _security_schemes(settings),
        },
    }


def serve(request: func.HttpRequest, app: GatewayApp) -> func.HttpResponse:
    @anonymous_endpoint
    def document(_: func.HttpRequest) -> func.HttpResponse:
        return json_response(build_document(app.http_routes, gateway().settings))

    return document(request)
