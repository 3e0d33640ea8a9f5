"""/connections: a user's connections to connectors. Everyone sees only their own."""

from __future__ import annotations

import azure.functions as func

from shared.api.connectors import visible
from shared.web import Call, endpoint, json_response, read_json

MAX_CREATE_BODY_BYTES = 256 * 1024


@endpoint
def create(call: Call) -> func.HttpResponse:
    connector = visible(call, call.route("connectorId"))
    body = read_json(call.request, MAX_CREATE_BODY_BYTES)
    stored = call.gateway.connectors

    def connector_unchanged() -> bool:  # asked once the record exists: see ConnectionService.create
        current = stored.find(connector.connector.id)
        return current is not None and current.etag == connector.etag

    connection = call.gateway.connections.create(call.principal, connector, body, connector_unchanged)
    return json_response(connection, 201, {"Location": f"/api/connections/{connection['id']}"})


@endpoint
def list_own(call: Call) -> func.HttpResponse:
    return json_response({"value": call.gateway.connections.list(call.principal)})


@endpoint
def get(call: Call) -> func.HttpResponse:
    return json_response(call.gateway.connections.get(call.principal, call.route("connectionId")))


@endpoint
def update(call: Call) -> func.HttpResponse:
    """PATCH {"displayName"?, "parameters"?}: parameters are merged over the current values and validated as at
    creation; secret values become a new Key Vault version and the old one is disabled."""
    body = read_json(call.request, MAX_CREATE_BODY_BYTES)
    stored = call.gateway.connectors
    connection = call.gateway.connections.update(call.principal, call.route("connectionId"), body, stored.find)
    return json_response(connection)


@endpoint
def delete(call: Call) -> func.HttpResponse:
    call.gateway.connections.delete(call.principal, call.route("connectionId"))
    return func.HttpResponse(status_code=204)


@endpoint
def reauthorize(call: Call) -> func.HttpResponse:
    """A new loginUrl for the same connection id ("Fix connection"), so flows using it don't change."""
    body = read_json(call.request, MAX_CREATE_BODY_BYTES) if (call.request.get_body() or b"").strip() else {}
    return json_response(call.gateway.connections.reauthorize(call.principal, call.route("connectionId"), body))


@endpoint
def token(call: Call) -> func.HttpResponse:
    body = call.gateway.connections.token(call.principal, call.route("connectionId"))
    return json_response(body, headers={"Cache-Control": "no-store"})


@endpoint
def list_shares(call: Call) -> func.HttpResponse:
    return json_response({"value": call.gateway.connections.shares(call.principal, call.route("connectionId"))})


@endpoint
def share(call: Call) -> func.HttpResponse:
    """Share with a principal or an Entra group: {"principal"|"group": id, "permissions": [use, manage, token]}."""
    body = read_json(call.request, MAX_CREATE_BODY_BYTES)
    shared = call.gateway.connections.share(call.principal, call.route("connectionId"), body)
    return json_response(shared, 201)


@endpoint
def unshare(call: Call) -> func.HttpResponse:
    call.gateway.connections.unshare(call.principal, call.route("connectionId"), call.route("shareId"))
    return func.HttpResponse(status_code=204)


@endpoint
def audit(call: Call) -> func.HttpResponse:
    return json_response({"value": call.gateway.connections.audit_entries(call.principal, call.route("connectionId"))})
