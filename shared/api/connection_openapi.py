"""/connections/{id}/openapi and /connections/{id}/paconn: the connection's connector as a flow imports it.

The swagger the maker uploaded, rewritten (shared/connectors/_export.py) to call this connection through the
gateway with the gateway's authentication: as one OpenAPI 2.0 document (Logic Apps, Power Automate "import an
OpenAPI file"), or as a zip of paconn files (`paconn create` / `connector-gateway create`). For those who may
use the connection: what they get is what they can already call, without any credential of the connector.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import azure.functions as func

from shared import problems
from shared.api.openapi import ROUTE_PREFIX
from shared.connectors import SUBSCRIPTION_KEY, GatewayAuth, decode_document, entra_sign_in, export_swagger
from shared.settings import Settings
from shared.web import Call, endpoint, json_response

API_DEFINITION = "apiDefinition.swagger.json"
API_PROPERTIES = "apiProperties.json"
# apiProperties members that describe the connector for people; the rest (its connection parameters, policy
# templates, custom code, OAuth settings) belong to the backend's credentials, which the gateway holds.
_DESCRIPTIVE = ("iconBrandColor", "capabilities", "publisher", "stackOwner")


def gateway_auth(settings: Settings) -> GatewayAuth:
    return GatewayAuth(
        subscription_key_header=settings.subscription_key_header,
        entra=entra_sign_in((*settings.oidc_issuers, *settings.oidc_static_issuers), settings.oidc_audiences),
        gateway_headers=(settings.token_header,) if settings.token_header.lower() != "authorization" else (),
        gateway_query=(settings.subscription_key_query, settings.token_query),
    )


def _exported(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the rewritten swagger, the uploaded apiProperties) of the connection's connector."""
    connection_id = call.route("connectionId")
    connection = call.gateway.connections.get(call.principal, connection_id)  # 404/403 unless it may use it
    registered = call.gateway.connectors.get(connection["connectorId"])
    connector = registered.connector
    documents = {}
    for name, filename in (("apiDefinition", API_DEFINITION), ("apiProperties", API_PROPERTIES)):
        ref = registered.files.get(name)
        if ref is None:
            raise problems.Problem(
                404,
                "file-not-kept",
                "File not kept",
                f"Connector {connector.id!r} was uploaded before the gateway kept its files; its maker uploads it "
                "again to export its connections' OpenAPI.",
            )
        documents[name] = decode_document(call.gateway.connectors.files.get(connector.id, ref), filename)
    runtime = call.gateway.runtimes.get(connector.id, connector.runtime_version)
    unsupported = {o.operation_id for o in connector.operations if runtime.plan(o.operation_id).unsupported}
    settings = call.gateway.settings
    invoke_path = f"/{ROUTE_PREFIX}/connections/{connection['id']}/invoke"
    swagger = export_swagger(
        documents["apiDefinition"], connector, unsupported, settings.public_url, invoke_path, gateway_auth(settings)
    )
    return swagger, documents["apiProperties"]


def paconn_properties(uploaded: dict[str, Any], auth: GatewayAuth) -> dict[str, Any]:
    """apiProperties.json for the exported swagger: one connection parameter, the gateway's subscription key
    (paconn connectors have one authentication; Entra ID sign-in needs the maker's own app registration)."""
    source = uploaded.get("properties") if isinstance(uploaded.get("properties"), dict) else {}
    properties: dict[str, Any] = {key: source[key] for key in _DESCRIPTIVE if key in source}
    properties["connectionParameters"] = {
        "api_key": {
            "type": "securestring",
            "uiDefinition": {
                "displayName": f"Subscription key ({auth.subscription_key_header})",
                "description": "A connector gateway subscription key.",
                "tooltip": "Ask the gateway's maker or admin for a subscription key.",
                "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
            },
        }
    }
    return {"properties": properties}


@endpoint
def openapi(call: Call) -> func.HttpResponse:
    swagger, _ = _exported(call)
    return json_response(swagger, headers={"Cache-Control": "no-store"})


@endpoint
def paconn(call: Call) -> func.HttpResponse:
    swagger, uploaded = _exported(call)
    auth = gateway_auth(call.gateway.settings)
    # paconn connectors authenticate one way: the subscription key.
    swagger["securityDefinitions"] = {SUBSCRIPTION_KEY: swagger["securityDefinitions"][SUBSCRIPTION_KEY]}
    swagger["security"] = [{SUBSCRIPTION_KEY: []}]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as files:
        files.writestr(API_DEFINITION, json.dumps(swagger, indent=2))
        files.writestr(API_PROPERTIES, json.dumps(paconn_properties(uploaded, auth), indent=2))
    return func.HttpResponse(
        archive.getvalue(),
        status_code=200,
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{call.route("connectionId")}-paconn.zip"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
