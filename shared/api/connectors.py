"""/connectors: makers register paconn connectors; everyone authenticated may read those they see.

A connector belongs to the maker who created it. Its owner, admins and those it is shared with to `edit`
replace it, delete it and manage its shares (shared/connectors/_sharing.py); a `use` share lets a
principal or group see it and connect to it whatever its visibility policy says. A caller who can't see a
connector gets 404; one who sees it without `edit` gets 403. A replace that would send existing
connections' credentials somewhere new (backend or auth scheme) needs `?force=true`, and disconnects them.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from shared import problems
from shared.api.connector_upload import read_upload
from shared.connections import oauth_config
from shared.connector_store import RegisteredConnector
from shared.connectors import (
    EDIT,
    Connector,
    ConnectorError,
    build_connector,
    connector_permissions,
    connector_summary,
    credential_route_changes,
    https_rule_errors,
    parse_connector_share,
    validate_connector_id,
    with_connector_share,
)
from shared.oauth import oauth_warnings
from shared.policies import ConnectorPolicy, policy_from_document
from shared.web import Call, endpoint, json_response, read_json

log = logging.getLogger(__name__)

MAX_SHARE_BODY_BYTES = 16 * 1024


def _summary(call: Call, registered: RegisteredConnector) -> dict[str, Any]:
    connector_view = connector_summary(registered.connector)
    runtime = call.gateway.runtimes.of(registered.connector)
    policy = policy_from_document(registered.policy)
    # The connector's own warnings come first in the runtime's; then what the pipeline can't honour.
    summary = {
        **connector_view,
        "warnings": [*runtime.warnings, *oauth_warnings(registered.connector)],
        "policy": registered.policy,
        "owner": registered.owner or None,  # None: stored before connectors had owners; only admins manage it
        "permissions": sorted(permissions(call, registered)),
        "operations": runtime.describe(),
        "passThrough": runtime.passes_undeclared or bool(policy and policy.pass_through),
    }
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


def permissions(call: Call, registered: RegisteredConnector) -> frozenset[str]:
    principal = call.principal
    return connector_permissions(registered.owner, registered.shares, principal.id, principal.groups, call.is_admin)


def sees(call: Call, registered: RegisteredConnector) -> bool:
    """Whether the caller sees the connector: its subscription scope, then a share (or ownership, or being an
    admin), else the connector's visibility policy."""
    grant = call.principal.subscription
    if grant is not None and not grant.permits_connector(registered.connector.id):
        return False
    if permissions(call, registered):
        return True
    policy = policy_from_document(registered.policy)
    return policy is None or policy.visible_to(call.principal.id, call.principal.groups, call.is_maker)


def visible(call: Call, connector_id: str) -> RegisteredConnector:
    """The connector, or 404 for one the caller doesn't see (hidden connectors look absent)."""
    registered = call.gateway.connectors.get(connector_id)
    if not sees(call, registered):
        raise problems.not_found("connector", connector_id)
    return registered


def require_edit(call: Call, registered: RegisteredConnector) -> None:
    """404 unless the caller sees the connector; 403 unless it may edit it (owner, admin, or an `edit` share)."""
    if not sees(call, registered):
        raise problems.not_found("connector", registered.connector.id)
    if EDIT in permissions(call, registered):
        return
    if not registered.owner:
        raise problems.forbidden(
            f"Connector {registered.connector.id!r} predates connector owners: only admins "
            f"(role {call.gateway.settings.admin_role!r}) may replace, delete or share it."
        )
    raise problems.forbidden(
        f"Connector {registered.connector.id!r} belongs to another maker: only its owner, admins and those it is "
        "shared with to edit may replace, delete or share it. Ask its owner to share it with you."
    )


def require_manager(call: Call, connector_id: str) -> None:
    """Makers (and admins) change connectors, within their subscription key's scope."""
    if not call.is_admin:
        call.require_maker()
    _require_scope(call, connector_id)


def _force(call: Call) -> bool:
    value = (call.request.params.get("force") or "false").strip().lower()
    if value not in ("true", "false"):
        raise problems.bad_request("force must be true or false.", slug="invalid-parameters")
    return value == "true"


def _in_use(connector_id: str, connections: int, changes: list[str]) -> problems.Problem:
    return problems.Problem(
        409,
        "connector-in-use",
        "Connector in use",
        f"{connections} connection(s) use connector {connector_id!r}, and this replace changes its "
        f"{' and '.join(changes)}: their credentials would go somewhere their owners never agreed to. Register a new "
        "connector, or replace this one with ?force=true to move those connections to Error.",
        connections=connections,
        changed=changes,
    )


def _require_https_rule(call: Call, connector: Connector) -> None:
    """Credentials only over https; loopback backends only where PROXY_ALLOW_LOOPBACK allows them."""
    errors = https_rule_errors(connector, call.gateway.settings.proxy_address_policy.allow_loopback)
    if not errors:
        return
    if errors[0]["pointer"] == "/apiDefinition/host":
        raise problems.Problem(
            403, "backend-address-forbidden", "Backend address forbidden", errors[0]["detail"], errors=errors
        )
    raise problems.Problem(400, "credentials-need-https", "Credentials need https", errors[0]["detail"], errors=errors)


def _require_admin_for_unsandboxed(call: Call, policy: ConnectorPolicy | None) -> None:
    """Unsandboxed responses run the backend's script on the gateway's origin, next to the sign-in pages: it could
    open one in the victim's browser, read its CSRF token and finish the attacker's sign-in with the victim's
    account. Only an admin hands the origin to a backend, on every upload (a replace may change the backend)."""
    if policy is None or policy.sandbox_responses or call.is_admin:
        return
    raise problems.forbidden(
        '"responses": {"sandbox": false} serves the backend\'s pages with script on the gateway\'s origin; only '
        f"an admin (role {call.gateway.settings.admin_role!r}) may upload a connector with it."
    )


@endpoint
def put(call: Call) -> func.HttpResponse:
    connector_id = call.route("connectorId")
    require_manager(call, connector_id)
    force = _force(call)
    try:
        validate_connector_id(connector_id)
    except ConnectorError as error:
        raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
    existing = call.gateway.connectors.find(connector_id)
    if existing is not None:
        require_edit(call, existing)  # before reading the upload: a hijacker learns nothing from it
    try:
        upload = read_upload(call.request)
        connector = build_connector(connector_id, upload.api_definition, upload.api_properties, upload.script)
    except ConnectorError as error:
        raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
    _require_https_rule(call, connector)
    _require_admin_for_unsandboxed(call, upload.policy)
    policy = upload.policy.document if upload.policy else None
    changes = credential_route_changes(existing.connector, connector) if existing else []
    if changes:
        in_use = call.gateway.connections.count_for_connector(connector_id)
        if in_use and not force:
            raise _in_use(connector_id, in_use, changes)
        # Before the connector changes: from here on none of them sends its credential anywhere.
        call.gateway.connections.disconnect_for_connector(connector_id)
    registered = call.gateway.connectors.put(
        connector,
        upload.credentials,
        upload.allow_token_retrieval,
        policy,
        existing=existing,
        owner=call.principal.id,
        files=upload.files,
    )
    if existing is not None:
        # New snapshots for all; with `changes`, also Error for any created since the disconnect above.
        call.gateway.connections.update_connector_snapshots(registered, disconnect=bool(changes))
    headers = {"Location": f"/api/connectors/{connector.id}"}
    return json_response(_summary(call, registered), 200 if existing else 201, headers)


@endpoint
def get(call: Call) -> func.HttpResponse:
    return json_response(_summary(call, visible(call, call.route("connectorId"))))


@endpoint
def list_all(call: Call) -> func.HttpResponse:
    connectors = sorted(call.gateway.connectors.list(), key=lambda r: r.connector.id)
    return json_response({"value": [_summary(call, r) for r in connectors if sees(call, r)]})


@endpoint
def delete(call: Call) -> func.HttpResponse:
    require_manager(call, call.route("connectorId"))
    registered = call.gateway.connectors.get(call.route("connectorId"))
    require_edit(call, registered)
    # Connections first: a failure leaves the connector in place, so the delete can simply be retried.
    call.gateway.connections.delete_for_connector(registered.connector.id)
    call.gateway.connectors.delete(registered)
    return func.HttpResponse(status_code=204)


def _editable(call: Call) -> RegisteredConnector:
    connector_id = call.route("connectorId")
    require_manager(call, connector_id)
    registered = call.gateway.connectors.get(connector_id)
    require_edit(call, registered)
    return registered


@endpoint
def list_shares(call: Call) -> func.HttpResponse:
    return json_response({"value": [share.to_json() for share in _editable(call).shares]})


@endpoint
def share(call: Call) -> func.HttpResponse:
    """Share with a principal or an Entra group: {"principal"|"group": id, "permissions": [use, edit]}."""
    registered = _editable(call)
    try:
        added = parse_connector_share(read_json(call.request, MAX_SHARE_BODY_BYTES))
        shares = with_connector_share(registered.shares, added, registered.owner)
    except ConnectorError as error:
        raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
    call.gateway.connectors.set_shares(registered, shares)
    log.info("connector %s shared with %s (%s)", registered.connector.id, added.grantee, ", ".join(added.permissions))
    return json_response(added.to_json(), 201)


@endpoint
def unshare(call: Call) -> func.HttpResponse:
    registered = _editable(call)
    share_id = call.route("shareId")
    kept = tuple(share for share in registered.shares if share.id != share_id)
    if len(kept) == len(registered.shares):
        raise problems.not_found("share", share_id)
    call.gateway.connectors.set_shares(registered, kept)
    log.info("connector %s: share %s removed", registered.connector.id, share_id)
    return func.HttpResponse(status_code=204)
