"""JSON Schemas (OpenAPI 3.1 components) of the gateway's request and response bodies.

The members listed are the ones the handlers emit; objects stay open (more members may come), so a
client reads what it knows. `Problem` is RFC 9457 as shared/problems.py and shared/web.py emit it.
"""

from __future__ import annotations

from typing import Any

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_STRINGS = {"type": "array", "items": _STRING}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _list_of(schema: str) -> dict[str, Any]:
    return _object({"value": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}}, ("value",))


_ERROR = _object(
    {
        "pointer": {"type": "string", "description": "JSON pointer (RFC 6901) to what is wrong."},
        "detail": _STRING,
    },
    ("detail",),
)

SCHEMAS: dict[str, Any] = {
    "Problem": {
        **_object(
            {
                "type": {
                    "type": "string",
                    "format": "uri",
                    "description": "`urn:connector-gateway:problem:<slug>`; the responses list the slugs.",
                },
                "title": _STRING,
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": _STRING,
                "correlationId": {
                    "type": "string",
                    "description": "The request's correlation id, also in the X-Correlation-Id header and the logs.",
                },
                "errors": {"type": "array", "items": _ERROR, "description": "What is wrong, where (400s)."},
            },
            ("type", "title", "status", "detail"),
        ),
        "description": "RFC 9457 problem details. Some problems add members, e.g. `checks` and `version` "
        "(not-ready), `connections` and `changed` (connector-in-use), `backendStatus` and `operationId` "
        "(test-connection-failed).",
    },
    "Health": _object({"status": {"const": "healthy"}}, ("status",)),
    "Readiness": _object(
        {"status": {"const": "ready"}, "version": _STRING, "checks": {"type": "object"}}, ("status", "checks")
    ),
    "OpenApiDocument": _object({"openapi": _STRING, "paths": {"type": "object"}}, ("openapi", "paths")),
    "SwaggerDocument": _object({"swagger": {"const": "2.0"}, "paths": {"type": "object"}}, ("swagger", "paths")),
    "Html": {"type": "string"},
    "Passthrough": {"description": "Any body: forwarded to the backend as it is."},
    "ConnectorUpload": _object(
        {
            "apiDefinition": {"description": "apiDefinition.swagger.json: a JSON object, or its text."},
            "apiProperties": {"description": "apiProperties.json: a JSON object, or its text."},
            "policy": {"type": "object", "description": "The connector's front door policy (see README)."},
            "clientSecret": {"type": "string", "description": "OAuth client secret; goes to Key Vault only."},
            "allowTokenRetrieval": {"type": "boolean"},
            "script": {"type": "string", "description": "script.csx: kept; the operations it handles answer 501."},
        },
        ("apiDefinition", "apiProperties"),
    ),
    "ConnectorUploadParts": _object(
        {
            "apiDefinition": {"type": "string", "contentMediaType": "application/json"},
            "apiProperties": {"type": "string", "contentMediaType": "application/json"},
            "policy": {"type": "string", "contentMediaType": "application/json"},
            "clientSecret": _STRING,
            "clientCertificate": _STRING,
            "icon": {"type": "string", "contentMediaType": "image/png", "description": "Kept for downloads."},
            "script": {
                "type": "string",
                "description": "script.csx (custom code): kept for downloads; the operations it handles answer 501.",
            },
        },
        ("apiDefinition", "apiProperties"),
    ),
    "PaconnFile": {"description": "A paconn JSON file, byte for byte as uploaded (it may hold comments or a BOM)."},
    "Binary": {"type": "string", "contentMediaType": "application/octet-stream"},
    "Zip": {"type": "string", "contentMediaType": "application/zip"},
    "PointedIssue": _object({"pointer": _STRING, "detail": _STRING, "line": {"type": "integer"}}),
    "Validation": _object(
        {
            "valid": {"type": "boolean"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/PointedIssue"}},
            "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/PointedIssue"}},
            "connector": {"type": "object", "description": "What the connector would be, when valid."},
        },
        ("valid", "errors", "warnings"),
    ),
    "ConnectionUpdate": _object(
        {
            "displayName": _STRING,
            "parameters": {"type": "object", "description": "New values, merged over the current ones."},
        }
    ),
    "Connector": _object(
        {
            "id": _STRING,
            "title": _NULLABLE_STRING,
            "description": _NULLABLE_STRING,
            "backendUrl": _STRING,
            "authentication": {"type": "object"},
            "supported": {"type": "boolean"},
            "reason": {"type": "string", "description": "Why it is not supported; present when supported is false."},
            "parameters": {"type": "array", "items": {"type": "object"}},
            "parameterSets": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Multi-auth connectors: each set's name, displayName, authentication, parameters.",
            },
            "testConnection": _object({"operationId": _STRING}),
            "operations": {
                "type": "array",
                "items": {"type": "object"},
                "description": "The swagger's operations: operationId, method, path, summary, parameters, trigger, "
                "notificationUrl, visibility, the templates that apply, supported and unsupportedReasons.",
            },
            "passThrough": {"type": "boolean", "description": "Whether undeclared paths are forwarded too."},
            "customCode": {"type": "boolean", "description": "Whether script.csx came with it (it can't run here)."},
            "warnings": {"type": "array", "items": _ERROR, "description": "What can't work as uploaded, where."},
            "policy": {"type": ["object", "null"]},
            "owner": _NULLABLE_STRING,
            "permissions": _STRINGS,
            "oauth": {"type": "object", "description": "OAuth connectors: provider, client id, scopes, redirectUrl."},
        },
        ("id", "backendUrl", "authentication", "parameters", "permissions"),
    ),
    "ConnectorList": _list_of("Connector"),
    "ShareRequest": _object(
        {"principal": _STRING, "group": _STRING, "permissions": _STRINGS},
    ),
    "ConnectorShare": _object({"id": _STRING, "principal": _STRING, "group": _STRING, "permissions": _STRINGS}),
    "ConnectorShareList": _list_of("ConnectorShare"),
    "Share": _object({"id": _STRING, "principal": _STRING, "group": _STRING, "permissions": _STRINGS}),
    "ShareList": _list_of("Share"),
    "ConnectionRequest": _object(
        {
            "displayName": _STRING,
            "parameterSet": {
                "type": "string",
                "description": "Multi-auth connectors (and only those): the name of the parameter set to connect with.",
            },
            "parameters": {"type": "object", "description": "Values by the connector's connection parameter names."},
            "postLoginRedirectUrl": _STRING,
        }
    ),
    "ReauthorizeRequest": _object({"postLoginRedirectUrl": _STRING}),
    "Connection": _object(
        {
            "id": _STRING,
            "connectorId": _STRING,
            "displayName": _STRING,
            "status": _STRING,
            "createdAt": _STRING,
            "owner": _STRING,
            "permissions": _STRINGS,
            "loginUrl": _STRING,
        },
        ("id",),
    ),
    "ConnectionList": _list_of("Connection"),
    "Token": _object({"accessToken": _STRING, "expiresAt": {}}),
    "AuditList": _list_of("AuditEntry"),
    "AuditEntry": {"type": "object"},
    # Subscription bodies are read strictly (shared/api/subscriptions.py): unknown members are refused.
    "SubscriptionRequest": {
        **_object(
            {
                "displayName": _STRING,
                "principal": {"type": "string", "description": "Admins only: whom the keys are for."},
                "roles": _STRINGS,
                "scope": {"type": "string", "description": "`all`, `connector:{id}` or `connection:{id}`."},
            },
            ("displayName",),
        ),
        "additionalProperties": False,
    },
    "SubscriptionChange": {
        **_object({"displayName": _STRING, "state": {"enum": ["active", "suspended", "cancelled"]}, "scope": _STRING}),
        "additionalProperties": False,
        "minProperties": 1,
    },
    "RegenerateRequest": {
        **_object({"key": {"enum": ["primary", "secondary"]}}, ("key",)),
        "additionalProperties": False,
    },
    "Subscription": _object(
        {
            "id": _STRING,
            "displayName": _STRING,
            "principal": _STRING,
            "roles": _STRINGS,
            "scope": _STRING,
            "state": _STRING,
            "createdAt": _NULLABLE_STRING,
            "stateChangedAt": _NULLABLE_STRING,
            "createdBy": _NULLABLE_STRING,
            "primaryKeyId": _NULLABLE_STRING,
            "secondaryKeyId": _NULLABLE_STRING,
            "usage": {"type": "array", "items": {"type": "object"}},
        },
        ("id", "displayName", "principal", "scope", "state"),
    ),
    "SubscriptionWithKeys": {
        "allOf": [{"$ref": "#/components/schemas/Subscription"}],
        "properties": {"primaryKey": _STRING, "secondaryKey": _STRING},
        "description": "Key values appear only here, with Cache-Control: no-store.",
    },
    "SubscriptionList": _list_of("Subscription"),
    "SigninConfirmation": _object({"csrf": _STRING}),
}
