"""What the OpenAPI document says about each HTTP function beyond its route: summary, who, bodies, problems.

Keyed by the function's name in function_app.py. The route, methods and path parameters come from the
registration itself (shared/api/routing.py), never from here. A function without an entry is still in the
document, with only the problems its kind of endpoint always can answer; tests/unit/test_openapi.py
asks for an entry for every registered route, and refuses entries for routes that don't exist.

Problems are listed by status with the problem types (`urn:connector-gateway:problem:<slug>`) each status
carries; every one of them is an RFC 9457 `application/problem+json` body (components/schemas/Problem).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Problems = Mapping[int, tuple[str, ...]]

JSON = "application/json"
HTML = "text/html"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"

INTERNAL: Problems = {500: ("internal-error", "misconfigured")}
# Table Storage or Key Vault (or an OIDC issuer's discovery) didn't answer in time.
STORES: Problems = {503: ("dependency-unavailable",)}
JSON_BODY: Problems = {400: ("invalid-json",), 413: ("body-too-large",)}


@dataclass(frozen=True)
class Access:
    """Who may call, the credential it takes and the problems the HTTP edge itself answers with."""

    who: str
    authenticated: bool
    problems: Problems


PUBLIC = Access("anyone, without credentials or front door checks", False, INTERNAL)
BROWSER = Access(
    "a browser: no credential, but the deployment's IP filter", False, {403: ("ip-forbidden",), **STORES, **INTERNAL}
)
CALLER = Access(
    "an authenticated caller (OIDC bearer JWT or subscription key), after the IP filter and client certificate",
    True,
    {
        401: ("unauthenticated",),
        403: (
            "forbidden",
            "ip-forbidden",
            "client-certificate-required",
            "client-certificate-rejected",
            "invalid-client-certificate",
        ),
        **STORES,
        **INTERNAL,
    },
)


@dataclass(frozen=True)
class Body:
    """A request body: a component schema name per media type."""

    content: Mapping[str, str]
    required: bool = True


@dataclass(frozen=True)
class Reply:
    """A successful response: description, and its component schema and media type (None: no body)."""

    description: str
    schema: str | None = None
    media: str = JSON


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    summary: str
    access: Access
    replies: Mapping[int, Reply]
    problems: Problems = field(default_factory=dict)
    body: Body | None = None
    query: tuple[Query, ...] = ()
    description: str = ""
    # True for the invoke passthrough: any status and media type may come back from the backend.
    passthrough: bool = False
    # True for the sign-in pages: a browser (Accept: text/html) gets its refusals as error pages.
    html_errors: bool = False


NO_CONTENT = {204: Reply("Done; no body.")}
NOT_FOUND_CONNECTOR: Problems = {404: ("connector-not-found",)}
NOT_FOUND_CONNECTION: Problems = {404: ("connection-not-found",)}
NOT_FOUND_SUBSCRIPTION: Problems = {404: ("subscription-not-found",)}
INVALID = ("invalid-parameters",)
CONNECTOR_UPLOAD = Body({JSON: "ConnectorUpload", MULTIPART: "ConnectorUploadParts"})
SIGNIN_STATE = {400: ("invalid-oauth-state", "bad-request"), 403: ("signin-browser-mismatch", "ip-forbidden")}

PATH_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "connectorId": "Connector id: 1-64 letters, digits, `-` and `_`, starting with a letter or digit.",
        "connectionId": "Connection id, as creating the connection returned it.",
        "subscriptionId": "Subscription id, as creating the subscription returned it.",
        "shareId": "Share id, as the share listing returns it.",
        "ticket": "The single-use sign-in ticket of a connection's loginUrl.",
        "path": "The rest of the URL path (it may hold `/`), relative to the connector's basePath: it must match"
        " one of the connector's declared operations (unless its policy opts into pass-through).",
    }
)

OPERATIONS: Mapping[str, Operation] = MappingProxyType(
    {
        "health_check": Operation(
            "Liveness: answers without touching a store", PUBLIC, {200: Reply("Alive.", "Health")}
        ),
        "health_ready": Operation(
            "Readiness: Table Storage and Key Vault each answer within 3 s",
            PUBLIC,
            {200: Reply("Ready.", "Readiness")},
            {503: ("not-ready",)},
        ),
        "openapi_document": Operation(
            "This document: the management and invoke API, generated from the routes the app registers",
            BROWSER,
            {200: Reply("OpenAPI 3.1 document.", "OpenApiDocument")},
        ),
        "connectors_list": Operation(
            "The connectors the caller sees", CALLER, {200: Reply("Connectors.", "ConnectorList")}
        ),
        "connector_put": Operation(
            "Create (the caller owns it) or replace a connector from paconn files",
            CALLER,
            {201: Reply("Created.", "Connector"), 200: Reply("Replaced.", "Connector")},
            {
                400: (
                    *INVALID,
                    "invalid-json",
                    "invalid-multipart",
                    "missing-document",
                    "unreadable-document",
                    "credentials-need-https",
                ),
                403: ("backend-address-forbidden",),
                404: ("connector-not-found",),
                409: ("connector-in-use", "connector-changed", "connector-id-taken"),
                413: ("body-too-large", "too-many-parts", "connector-too-large"),
                415: ("unsupported-media-type",),
            },
            CONNECTOR_UPLOAD,
            (
                Query(
                    "force",
                    "`true` replaces even when connections would send credentials elsewhere.",
                    ("true", "false"),
                ),
            ),
            "Makers only; replacing needs the owner, an `edit` share or an admin.",
        ),
        "connector_get": Operation(
            "One connector", CALLER, {200: Reply("The connector.", "Connector")}, NOT_FOUND_CONNECTOR
        ),
        "connector_delete": Operation(
            "Delete a connector, its connections and their secrets", CALLER, NO_CONTENT, NOT_FOUND_CONNECTOR
        ),
        "connector_api_definition": Operation(
            "The connector's apiDefinition.swagger.json, byte for byte as uploaded (a paconn download)",
            CALLER,
            {200: Reply("The file as uploaded.", "PaconnFile")},
            {404: ("connector-not-found", "file-not-kept"), 500: ("stored-file-damaged",)},
        ),
        "connector_api_properties": Operation(
            "The connector's apiProperties.json as uploaded; without client secrets (moved to Key Vault at upload)",
            CALLER,
            {200: Reply("The file as uploaded, or as stored when it carried a client secret.", "PaconnFile")},
            {404: ("connector-not-found", "file-not-kept"), 500: ("stored-file-damaged",)},
        ),
        "connector_icon": Operation(
            "The connector's icon as uploaded (the `icon` part)",
            CALLER,
            {200: Reply("The icon.", "Binary", "application/octet-stream")},
            {404: ("connector-not-found", "file-not-kept"), 500: ("stored-file-damaged",)},
        ),
        "connector_script": Operation(
            "The connector's custom code as uploaded (the `script` part)",
            CALLER,
            {200: Reply("The script.", "Binary", "application/octet-stream")},
            {404: ("connector-not-found", "file-not-kept"), 500: ("stored-file-damaged",)},
        ),
        "connector_validate": Operation(
            "A dry run of an upload: what PUT would refuse, and warnings, with JSON pointers; stores nothing",
            CALLER,
            {200: Reply("The verdict: valid, errors, warnings.", "Validation")},
            {
                400: ("invalid-json", "invalid-multipart"),
                413: ("body-too-large", "too-many-parts"),
                415: ("unsupported-media-type",),
            },
            CONNECTOR_UPLOAD,
            description="Makers only. Errors that PUT would answer with a 400 come back as `errors`, not a problem.",
        ),
        "connector_shares": Operation(
            "The connector's shares", CALLER, {200: Reply("Shares.", "ConnectorShareList")}, NOT_FOUND_CONNECTOR
        ),
        "connector_share": Operation(
            "Share the connector with a principal or group, to `use` or `edit`",
            CALLER,
            {201: Reply("Shared.", "ConnectorShare")},
            {**NOT_FOUND_CONNECTOR, **JSON_BODY, 400: ("invalid-json", *INVALID)},
            Body({JSON: "ShareRequest"}),
        ),
        "connector_unshare": Operation(
            "Remove a share", CALLER, NO_CONTENT, {404: ("connector-not-found", "share-not-found")}
        ),
        "connection_create": Operation(
            "Create a connection to a connector; its credentials go to Key Vault",
            CALLER,
            {201: Reply("Created (or Unauthenticated with a loginUrl, for OAuth sign-in).", "Connection")},
            {
                **NOT_FOUND_CONNECTOR,
                **JSON_BODY,
                400: ("invalid-json", *INVALID, "bad-request", "test-connection-failed", "path-rejected"),
                403: ("backend-address-forbidden",),
                409: ("connector-changed", "connector-misconfigured"),
                501: ("not-implemented",),
                502: (
                    "token-request-failed",
                    "test-connection-failed",
                    "backend-unreachable",
                    "backend-response-too-large",
                ),
                504: ("backend-timeout",),
            },
            Body({JSON: "ConnectionRequest"}),
        ),
        "connections_list": Operation(
            "The caller's own and shared connections", CALLER, {200: Reply("Connections.", "ConnectionList")}
        ),
        "connection_get": Operation(
            "One connection", CALLER, {200: Reply("The connection.", "Connection")}, NOT_FOUND_CONNECTION
        ),
        "connection_update": Operation(
            "Rename a connection, or change its non-OAuth parameter values (a new Key Vault secret version)",
            CALLER,
            {200: Reply("The changed connection.", "Connection")},
            {
                **NOT_FOUND_CONNECTION,
                **JSON_BODY,
                400: ("invalid-json", "bad-request", *INVALID),
                409: (
                    "oauth-connection",
                    "connection-not-connected",
                    "connection-not-ready",
                    "connection-changed",
                ),
            },
            Body({JSON: "ConnectionUpdate"}),
            description="Owners and managers. Parameters are merged over the current values and validated as at "
            "creation; the old secret version is disabled. OAuth connections reauthorize instead.",
        ),
        "connection_delete": Operation(
            "Delete a connection: revoke OAuth tokens, delete its secret and record",
            CALLER,
            NO_CONTENT,
            NOT_FOUND_CONNECTION,
        ),
        "connection_reauthorize": Operation(
            "A new loginUrl for an OAuth connection",
            CALLER,
            {200: Reply("The new sign-in.", "Connection")},
            {**NOT_FOUND_CONNECTION, **JSON_BODY, 400: ("invalid-json", *INVALID), 409: ("not-reauthorizable",)},
            Body({JSON: "ReauthorizeRequest"}, required=False),
        ),
        "connection_openapi_document": Operation(
            "The connection's OpenAPI 2.0: the connector's swagger rewritten to call this connection through the "
            "gateway, with the gateway's authentication, to import into a flow",
            CALLER,
            {200: Reply("The OpenAPI 2.0 (swagger) document.", "SwaggerDocument")},
            {**NOT_FOUND_CONNECTION, 404: ("connection-not-found", "connector-not-found", "file-not-kept")},
            description="Those who may use the connection. Only operations the gateway can honour are listed; "
            "the connector's own credentials are left out.",
        ),
        "connection_paconn_files": Operation(
            "The connection's OpenAPI as paconn files (apiDefinition.swagger.json + apiProperties.json, zipped) "
            "authenticating with a gateway subscription key",
            CALLER,
            {200: Reply("A zip of the two paconn files.", "Zip", "application/zip")},
            {**NOT_FOUND_CONNECTION, 404: ("connection-not-found", "connector-not-found", "file-not-kept")},
        ),
        "connection_token": Operation(
            "The connection's current access token, where the connector allows it",
            CALLER,
            {200: Reply("The token.", "Token")},
            {
                **NOT_FOUND_CONNECTION,
                400: ("bad-request",),
                409: ("connection-needs-reauthorization", "connection-not-ready", "connector-changed"),
                502: ("token-request-failed",),
            },
        ),
        "connection_shares": Operation(
            "The connection's shares", CALLER, {200: Reply("Shares.", "ShareList")}, NOT_FOUND_CONNECTION
        ),
        "connection_share": Operation(
            "Share the connection with a principal or group, to `use`, `manage` or `token`",
            CALLER,
            {201: Reply("Shared.", "Share")},
            {
                **NOT_FOUND_CONNECTION,
                **JSON_BODY,
                400: ("invalid-json", *INVALID),
                409: ("connection-changed-meanwhile",),
            },
            Body({JSON: "ShareRequest"}),
        ),
        "connection_unshare": Operation(
            "Remove a share",
            CALLER,
            NO_CONTENT,
            {404: ("connection-not-found", "share-not-found"), 409: ("connection-changed-meanwhile",)},
        ),
        "connection_audit": Operation(
            "The connection's audit log", CALLER, {200: Reply("Audit rows.", "AuditList")}, NOT_FOUND_CONNECTION
        ),
        "subscription_create": Operation(
            "Create a subscription; both key values appear only in this answer",
            CALLER,
            {201: Reply("Created, with both keys.", "SubscriptionWithKeys")},
            {**JSON_BODY, 400: ("invalid-json", *INVALID)},
            Body({JSON: "SubscriptionRequest"}),
        ),
        "subscriptions_list": Operation(
            "The caller's subscriptions (an admin's: all)", CALLER, {200: Reply("Subscriptions.", "SubscriptionList")}
        ),
        "subscription_get": Operation(
            "One subscription with its daily usage",
            CALLER,
            {200: Reply("The subscription.", "Subscription")},
            NOT_FOUND_SUBSCRIPTION,
        ),
        "subscription_update": Operation(
            "Change a subscription's state, display name or scope",
            CALLER,
            {200: Reply("Changed.", "Subscription")},
            {
                **NOT_FOUND_SUBSCRIPTION,
                **JSON_BODY,
                400: ("invalid-json", *INVALID),
                409: ("subscription-state-conflict",),
            },
            Body({JSON: "SubscriptionChange"}),
        ),
        "subscription_delete": Operation("Delete a subscription", CALLER, NO_CONTENT, NOT_FOUND_SUBSCRIPTION),
        "subscription_regenerate": Operation(
            "Regenerate one key; its new value appears only in this answer",
            CALLER,
            {200: Reply("Regenerated.", "SubscriptionWithKeys")},
            {
                **NOT_FOUND_SUBSCRIPTION,
                **JSON_BODY,
                400: ("invalid-json", *INVALID),
                409: ("subscription-state-conflict",),
            },
            Body({JSON: "RegenerateRequest"}),
        ),
        "oauth_start": Operation(
            "The sign-in start page of a loginUrl, bound to this browser by a cookie",
            BROWSER,
            {200: Reply("The page.", "Html", HTML)},
            {**SIGNIN_STATE, 404: ("signin-not-found",)},
            description="Browsers (`Accept: text/html`) get error pages; other clients get problems.",
            html_errors=True,
        ),
        "oauth_confirm": Operation(
            "Confirm the sign-in (CSRF token + cookie): 303 to the identity provider",
            BROWSER,
            {303: Reply("On to the identity provider.")},
            {
                **SIGNIN_STATE,
                400: ("invalid-oauth-state", "bad-request", "invalid-form"),
                403: ("signin-browser-mismatch", "signin-confirmation-required", "ip-forbidden"),
                413: ("body-too-large",),
            },
            Body({FORM: "SigninConfirmation"}, required=False),
            html_errors=True,
        ),
        "oauth_callback": Operation(
            "The identity provider's redirect: completes a sign-in",
            BROWSER,
            {200: Reply("Connected.", "Html", HTML), 302: Reply("On to the connection's postLoginRedirectUrl.")},
            {**SIGNIN_STATE, 502: ("token-request-failed",)},
            query=(Query("state", "The sign-in's state."), Query("code", "The authorization code.")),
            html_errors=True,
        ),
        "connection_invoke": Operation(
            "Call the connector's backend with the connection's credential injected",
            CALLER,
            {},
            {
                404: ("connection-not-found", "operation-not-found", "connector-not-found"),
                400: (
                    "path-rejected",
                    "header-rejected",
                    "path-parameter-invalid",
                    "connection-value-rejected",
                    "bad-header",
                ),
                403: ("backend-address-forbidden", "quota-exceeded"),
                409: (
                    "connection-needs-reauthorization",
                    "connection-not-ready",
                    "connector-changed",
                    "connector-misconfigured",
                ),
                413: ("body-too-large",),
                429: ("rate-limited",),
                501: ("not-implemented", "operation-not-supported"),
                502: (
                    "backend-unreachable",
                    "backend-error",
                    "backend-response-too-large",
                    "token-request-failed",
                    "template-failed",
                    "backend-answer-unreadable",
                ),
                504: ("backend-timeout",),
            },
            Body({"*/*": "Passthrough"}, required=False),
            description="Whatever the backend answers comes back as it is (any status and media type); the "
            "gateway's own refusals are problems.",
            passthrough=True,
        ),
    }
)
