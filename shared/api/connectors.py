"""/connectors: makers register paconn connectors; everyone authenticated may read them."""

from __future__ import annotations

import azure.functions as func

from shared import problems
from shared.connectors import (
    ConnectorDocumentError,
    ConnectorError,
    build_connector,
    connector_summary,
    decode_document,
    validate_connector_id,
)
from shared.web import Call, endpoint, json_response

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
DOCUMENTS = {"apiDefinition": "apiDefinition.swagger.json", "apiProperties": "apiProperties.json"}


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


def _multipart_documents(request: func.HttpRequest) -> dict[str, dict]:
    documents = {}
    for part, filename in DOCUMENTS.items():
        if part in request.files:
            upload = request.files[part]
            documents[part] = _document(upload.read(), upload.filename or filename)
        elif part in request.form:
            documents[part] = _document(request.form[part].encode("utf-8"), filename)
    return documents


def _json_documents(request: func.HttpRequest) -> dict[str, dict]:
    body = _document(request.get_body() or b"", "request body")
    unknown = sorted(set(body) - set(DOCUMENTS))
    if unknown:
        raise problems.bad_request(f"Unknown field(s) in the body: {', '.join(unknown)}.")
    for part, value in body.items():
        if not isinstance(value, dict):
            raise problems.bad_request(f"{part} must be a JSON object (the content of {DOCUMENTS[part]}).")
    return body


def _read_upload(request: func.HttpRequest) -> tuple[dict, dict]:
    if len(request.get_body() or b"") > MAX_UPLOAD_BYTES:
        raise problems.Problem(
            413, "body-too-large", "Body too large", f"Uploads are limited to {MAX_UPLOAD_BYTES} bytes."
        )
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        documents = _multipart_documents(request)
    elif content_type == "application/json" or content_type.endswith("+json"):
        documents = _json_documents(request)
    else:
        raise problems.Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "Send application/json {apiDefinition, apiProperties} or multipart/form-data with those two parts.",
        )
    missing = [part for part in DOCUMENTS if part not in documents]
    if missing:
        raise problems.bad_request(f"Missing {' and '.join(missing)}.", slug="missing-document")
    return documents["apiDefinition"], documents["apiProperties"]


@endpoint
def put(call: Call) -> func.HttpResponse:
    call.require_maker()
    connector_id = call.route("connectorId")
    try:
        validate_connector_id(connector_id)
        api_definition, api_properties = _read_upload(call.request)
        connector = build_connector(connector_id, api_definition, api_properties)
    except ConnectorError as error:
        raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
    created = call.gateway.connectors.put(connector)
    if not created:
        call.gateway.connections.update_connector_snapshots(connector)
    headers = {"Location": f"/api/connectors/{connector.id}"}
    return json_response(connector_summary(connector), 201 if created else 200, headers)


@endpoint
def get(call: Call) -> func.HttpResponse:
    return json_response(connector_summary(call.gateway.connectors.get(call.route("connectorId"))))


@endpoint
def list_all(call: Call) -> func.HttpResponse:
    connectors = sorted(call.gateway.connectors.list(), key=lambda c: c.id)
    return json_response({"value": [connector_summary(c) for c in connectors]})


@endpoint
def delete(call: Call) -> func.HttpResponse:
    call.require_maker()
    connector = call.gateway.connectors.get(call.route("connectorId"))
    # Connections first: a failure leaves the connector in place, so the delete can simply be retried.
    call.gateway.connections.delete_for_connector(connector.id)
    call.gateway.connectors.delete(connector.id)
    return func.HttpResponse(status_code=204)
