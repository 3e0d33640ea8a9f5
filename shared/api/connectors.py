"""/connectors: makers register paconn connectors; everyone authenticated may read them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from shared import problems
from shared.connections import oauth_config
from shared.connector_store import RegisteredConnector
from shared.connectors import (
    ConnectorDocumentError,
    ConnectorError,
    build_connector,
    connector_summary,
    decode_document,
    validate_connector_id,
)
from shared.json_limits import MAX_DEPTH, nested_deeper_than
from shared.policies import ConnectorPolicy, PolicyError, parse_policy, policy_from_document
from shared.web import Call, endpoint, json_response, read_multipart

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
DOCUMENTS = {"apiDefinition": "apiDefinition.swagger.json", "apiProperties": "apiProperties.json"}
# Besides the two documents: the OAuth client secret (paconn's --secret) or certificate, and gateway options:
# the connector's policy (IP filter, rate limit, quota; shared/policies.py) is JSON, in a multipart part as text.
EXTRAS = ("clientSecret", "clientCertificate", "allowTokenRetrieval", "policy")


@dataclass(frozen=True)
class Upload:
    api_definition: dict
    api_properties: dict
    credentials: dict[str, Any] | None  # goes to Key Vault only
    allow_token_retrieval: bool
    policy: ConnectorPolicy | None


def _document(data: bytes, filename: str) -> dict:
    try:
        return decode_document(data, filename)
    except ConnectorDocumentError as error:
        raise problems.bad_request(
            str(error),
            slug="unreadable-document",
            document=error.filename,
            line=error.line,
            column=error.column,
        ) from None


def _multipart_fields(request: func.HttpRequest) -> dict[str, Any]:
    parts = read_multipart(request)
    fields: dict[str, Any] = {}
    for name, filename in DOCUMENTS.items():
        if name in parts:
            fields[name] = _document(parts[name].data, parts[name].filename or filename)
    for name in EXTRAS:
        if name in parts:
            fields[name] = parts[name].data.decode("utf-8", errors="replace").strip()
    if "allowTokenRetrieval" in fields:
        fields["allowTokenRetrieval"] = fields["allowTokenRetrieval"].lower() == "true"
    if "policy" in fields:
        fields["policy"] = _policy_part(fields["policy"])
    return fields


def _policy_part(text: str) -> Any:
    if not text:
        return None
    try:
        policy = json.loads(text)
    except json.JSONDecodeError as error:
        raise problems.invalid_parameters(
            f"The policy part is not valid JSON: {error.msg} at position {error.pos}.",
            [{"pointer": "/policy", "detail": "must be a JSON object"}],
        ) from None
    except (RecursionError, ValueError):
        policy = None
        too_deep = True
    else:
        too_deep = nested_deeper_than(policy, MAX_DEPTH)
    if too_deep:
        raise problems.invalid_parameters(
            f"The policy part nests deeper than {MAX_DEPTH} levels or holds a number too long to read.",
            [{"pointer": "/policy", "detail": "must be a JSON object"}],
        )
    return policy


def _policy(value: Any) -> ConnectorPolicy | None:
    try:
        return parse_policy(value)
    except PolicyError as error:
        raise problems.invalid_parameters(f"The connector policy is invalid: {error}.", error.errors) from None


def _json_fields(request: func.HttpRequest) -> dict[str, Any]:
    body = _document(request.get_body() or b"", "request body")
    unknown = sorted(set(body) - set(DOCUMENTS) - set(EXTRAS))
    if unknown:
        raise problems.bad_request(f"Unknown field(s) in the body: {', '.join(unknown)}.")
    for part in DOCUMENTS:
        if part in body and not isinstance(body[part], dict):
            raise problems.bad_request(f"{part} must be a JSON object (the content of {DOCUMENTS[part]}).")
    return body


def _certificate_credential(pem: str) -> dict[str, str]:
    """An aadcertificate credential as msal takes it, from a PEM holding the certificate and its private key."""
    data = pem.encode("utf-8")
    try:
        key = serialization.load_pem_private_key(data, password=None)
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise problems.bad_request(
            "clientCertificate must be PEM text with the certificate and its unencrypted private key.",
            slug="invalid-client-certificate",
        ) from None  # the parser's message could quote key material
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - Entra identifies certificates by SHA-1
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def _credentials(fields: dict[str, Any]) -> dict[str, Any] | None:
    credentials: dict[str, Any] = {}
    for name in ("clientSecret", "clientCertificate"):
        value = fields.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise problems.bad_request(f"{name} must be a string.")  # never echo it
        credentials[name] = _certificate_credential(value) if name == "clientCertificate" else value
    if "allowTokenRetrieval" in fields and not isinstance(fields["allowTokenRetrieval"], bool):
        raise problems.bad_request("allowTokenRetrieval must be true or false.")
    return credentials or None


def _read_upload(request: func.HttpRequest) -> Upload:
    if len(request.get_body() or b"") > MAX_UPLOAD_BYTES:
        raise problems.Problem(
            413, "body-too-large", "Body too large", f"Uploads are limited to {MAX_UPLOAD_BYTES} bytes."
        )
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        fields = _multipart_fields(request)
    elif content_type == "application/json" or content_type.endswith("+json"):
        fields = _json_fields(request)
    else:
        raise problems.Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "Send application/json {apiDefinition, apiProperties} or multipart/form-data with those two parts.",
        )
    missing = [part for part in DOCUMENTS if part not in fields]
    if missing:
        raise problems.bad_request(f"Missing {' and '.join(missing)}.", slug="missing-document")
    credentials = _credentials(fields)
    return Upload(
        fields["apiDefinition"],
        fields["apiProperties"],
        credentials,
        fields.get("allowTokenRetrieval", False),
        _policy(fields.get("policy")),
    )


def _summary(call: Call, registered: RegisteredConnector) -> dict[str, Any]:
    summary = {**connector_summary(registered.connector), "policy": registered.policy}
    if registered.connector.auth.kind != "oauth2":
        return summary
    try:
        config = oauth_config(registered)
    except problems.Problem as problem:
        # Real files often leave OAuth settings to the portal: import them, say what's missing.
        summary["oauth"] = {"error": problem.detail, "redirectUrl": call.gateway.signin.redirect_url}
        return summary
    assert config is not None
    summary["oauth"] = {
        "identityProvider": config.identity_provider,
        "clientId": config.client_id,
        "scopes": list(config.scopes),
        "grantType": config.grant_type,
        "redirectUrl": call.gateway.signin.redirect_url,  # register this exact URL with the provider
        "clientSecretStored": bool(registered.secret_version),
        "allowTokenRetrieval": registered.allow_token_retrieval,
    }
    return summary


def _require_scope(call: Call, connector_id: str) -> None:
    grant = call.principal.subscription
    if grant is not None and not grant.permits_connector(connector_id):
        raise problems.forbidden(f"This subscription key is limited to {grant.scope}; it can't change this connector.")


@endpoint
def put(call: Call) -> func.HttpResponse:
    call.require_maker()
    connector_id = call.route("connectorId")
    _require_scope(call, connector_id)
    try:
        validate_connector_id(connector_id)
        upload = _read_upload(call.request)
        connector = build_connector(connector_id, upload.api_definition, upload.api_properties)
    except ConnectorError as error:
        raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
    policy = upload.policy.document if upload.policy else None
    registered, created = call.gateway.connectors.put(
        connector, upload.credentials, upload.allow_token_retrieval, policy
    )
    if not created:
        call.gateway.connections.update_connector_snapshots(registered)
    headers = {"Location": f"/api/connectors/{connector.id}"}
    return json_response(_summary(call, registered), 201 if created else 200, headers)


def sees(call: Call, registered: RegisteredConnector) -> bool:
    """Whether the caller sees the connector: its visibility policy, and the caller's subscription scope."""
    grant = call.principal.subscription
    if grant is not None and not grant.permits_connector(registered.connector.id):
        return False
    policy = policy_from_document(registered.policy)
    return policy is None or policy.visible_to(call.principal.id, call.principal.groups, call.is_maker)


def visible(call: Call, connector_id: str) -> RegisteredConnector:
    """The connector, or 404 for one the caller doesn't see (hidden connectors look absent)."""
    registered = call.gateway.connectors.get(connector_id)
    if not sees(call, registered):
        raise problems.not_found("connector", connector_id)
    return registered


@endpoint
def get(call: Call) -> func.HttpResponse:
    return json_response(_summary(call, visible(call, call.route("connectorId"))))


@endpoint
def list_all(call: Call) -> func.HttpResponse:
    connectors = sorted(call.gateway.connectors.list(), key=lambda r: r.connector.id)
    return json_response({"value": [_summary(call, r) for r in connectors if sees(call, r)]})


@endpoint
def delete(call: Call) -> func.HttpResponse:
    call.require_maker()
    _require_scope(call, call.route("connectorId"))
    registered = call.gateway.connectors.get(call.route("connectorId"))
    # Connections first: a failure leaves the connector in place, so the delete can simply be retried.
    call.gateway.connections.delete_for_connector(registered.connector.id)
    call.gateway.connectors.delete(registered)
    return func.HttpResponse(status_code=204)
