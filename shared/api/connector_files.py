"""/connectors/{id}/apiDefinition, /apiProperties, /icon, /script: a paconn download of a connector's files, for
those who may edit it;
/connectors/{id}/validate: a dry run of an upload.

A download returns the file as it was uploaded, byte for byte, except apiProperties when it carried a client
secret: the gateway moved that to Key Vault at upload, and the download is the document as stored, without it.
The validation reads the upload exactly as PUT does and stores nothing: errors and warnings name JSON pointers.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared import problems
from shared.api.connector_upload import DOCUMENTS, FILES, Upload, read_upload
from shared.api.connectors import permissions, require_edit, require_manager, sees
from shared.connector_store import RegisteredConnector
from shared.connectors import (
    EDIT,
    ConnectorError,
    build_connector,
    connector_summary,
    credential_route_changes,
    https_rule_errors,
    validate_connector_id,
)
from shared.invoke import ConnectorRuntime
from shared.oauth import oauth_warnings
from shared.web import Call, endpoint, json_response

CONTENT_TYPES = {"apiDefinition": "application/json", "apiProperties": "application/json"}
FILENAMES = {**DOCUMENTS, **FILES}
MOVED_SECRET = "A client secret: the upload moves it to Key Vault and keeps the file without it."  # noqa: S105


def _download(call: Call, name: str) -> func.HttpResponse:
    # Editors only (owner, `edit` shares, admins): the files may hold what GET never shows (e.g. an internal
    # parameter's default), so those who merely use the connector don't get them.
    registered = call.gateway.connectors.get(call.route("connectorId"))
    require_edit(call, registered)
    ref = registered.files.get(name)
    if ref is None:
        uploaded = "was uploaded before the gateway kept files" if not registered.files else f"has no {name}"
        raise problems.Problem(
            404,
            "file-not-kept",
            "File not kept",
            f"Connector {registered.connector.id!r} {uploaded}; upload it again to download its files.",
        )
    data = call.gateway.connectors.files.get(registered.connector.id, ref)
    return func.HttpResponse(
        data,
        status_code=200,
        headers={
            "Content-Type": CONTENT_TYPES.get(name, "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{FILENAMES[name]}"',
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{ref.sha256}"',
        },
    )


@endpoint
def api_definition(call: Call) -> func.HttpResponse:
    return _download(call, "apiDefinition")


@endpoint
def api_properties(call: Call) -> func.HttpResponse:
    return _download(call, "apiProperties")


@endpoint
def icon(call: Call) -> func.HttpResponse:
    return _download(call, "icon")


@endpoint
def script(call: Call) -> func.HttpResponse:
    return _download(call, "script")


def _problem_errors(problem: problems.Problem) -> list[dict[str, Any]]:
    """A refused upload's problem as validation errors: its own pointers, or one error naming the document."""
    listed = problem.extensions.get("errors")
    if listed:
        return [dict(error) for error in listed]
    document = problem.extensions.get("document")
    pointer = next((f"/{part}" for part, filename in DOCUMENTS.items() if filename == document), "")
    error: dict[str, Any] = {"pointer": pointer, "detail": problem.detail}
    for member in ("line", "column"):
        if member in problem.extensions:
            error[member] = problem.extensions[member]
    return [error]


def _warnings(
    call: Call, upload: Upload, registered: RegisteredConnector, existing: RegisteredConnector | None
) -> list:
    connector = registered.connector
    warnings: list[dict[str, Any]] = [
        {
            "pointer": pointer,
            "detail": "A client secret: the upload moves it to Key Vault and stores the file without it.",
        }
        for pointer in upload.moved_secrets
    ]
    warnings += [*map(dict, connector.warnings), *oauth_warnings(connector)]  # what GET shows after an upload
    if existing is not None:
        changes = credential_route_changes(existing.connector, connector)
        in_use = call.gateway.connections.count_for_connector(connector.id) if changes else 0
        if in_use:
            warnings.append(
                {
                    "pointer": "",
                    "detail": f"Replacing changes the {' and '.join(changes)} while {in_use} connection(s) use it: "
                    "the upload needs ?force=true and moves them to Error.",
                }
            )
    return warnings


@endpoint
def validate(call: Call) -> func.HttpResponse:
    """What PUT would say about this upload, and more, without storing anything: 200 {valid, errors, warnings}."""
    connector_id = call.route("connectorId")
    require_manager(call, connector_id)
    existing = call.gateway.connectors.find(connector_id)
    errors: list[dict[str, Any]] = []
    if existing is not None and EDIT not in permissions(call, existing):
        if sees(call, existing):  # PUT would answer 403; one that is hidden from the caller stays unmentioned
            errors.append({"pointer": "", "detail": f"Connector {connector_id!r} exists and you may not replace it."})
        existing = None  # a connector the caller can't replace is no business of this dry run
    warnings: list[dict[str, Any]] = []
    try:
        validate_connector_id(connector_id)
        upload = read_upload(call.request)
        connector = build_connector(connector_id, upload.api_definition, upload.api_properties, upload.script)
    except ConnectorError as error:
        errors += list(getattr(error, "errors", [])) or [{"pointer": "", "detail": str(error)}]
    except problems.Problem as problem:
        if problem.status != 400:
            raise  # too large, wrong media type: the request itself is wrong, not the connector
        errors += _problem_errors(problem)
    else:
        registered = RegisteredConnector(
            connector, allow_token_retrieval=upload.allow_token_retrieval, policy=None, owner=call.principal.id
        )
        warnings = _warnings(call, upload, registered, existing)
        # What the invoke pipeline can't honour: templates, custom code, left-out operations.
        warnings += [w for w in ConnectorRuntime(connector).warnings if w not in warnings]
        errors += https_rule_errors(connector, call.gateway.settings.proxy_address_policy.allow_loopback)
        if upload.policy is not None and not upload.policy.sandbox_responses and not call.is_admin:
            detail = "Only an admin may upload a connector whose responses aren't sandboxed."
            errors.append({"pointer": "/policy/responses/sandbox", "detail": detail})
        if errors:  # PUT refuses these
            return json_response({"valid": False, "errors": errors, "warnings": warnings})
        result = {"valid": True, "errors": [], "warnings": warnings, "connector": connector_summary(connector)}
        return json_response(result)
    return json_response({"valid": False, "errors": errors, "warnings": warnings})
