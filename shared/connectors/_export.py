"""A connector's swagger rewritten to call one connection through the gateway: what a flow imports.

Pure. From the apiDefinition as uploaded and the connector the gateway built from it:
- `host`, `schemes` and `basePath` point at the connection's invoke route. An invocation's `{path}` is relative
  to the connector's basePath (shared/invoke/_match.py), so the paths stay as declared and the basePath is the
  invoke route itself: `{basePath}{path}` is then exactly what the gateway matches.
- The connector's own credentials go: its `securityDefinitions` and `security` (document and operations), and
  every parameter that would carry one (its API key header or query parameter, `Authorization` for basic and
  OAuth, the gateway's own key and token names, which the gateway strips before forwarding anyway).
- The gateway's authentication comes instead (`GatewayAuth`): the subscription key header, and Entra ID
  OAuth 2.0 when one of the trusted issuers is an Entra tenant.
- Only the operations the gateway kept and can honour stay (unsupported templates and custom code answer 501,
  entries it couldn't read as operations are 404): a flow can't pick an action that can't run. A reference to
  a left-out operation (`x-ms-dynamic-*`, `x-ms-capabilities.testConnection`) goes with it.
Everything else a flow designer reads (operationIds, summaries, parameters, `x-ms-visibility`,
`x-ms-dynamic-values`, `x-ms-dynamic-schema`, `x-ms-trigger`, `x-ms-notification-url`, definitions) is kept,
but for the maker's own schema mistakes, which _export_normalise.py repairs so that the document imports.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.connectors._export_normalise import normalise
from shared.connectors._export_walk import one_of
from shared.connectors._model import AuthScheme, Connector
from shared.connectors._operations import HTTP_METHODS

SUBSCRIPTION_KEY = "subscriptionKey"
ENTRA = "entraId"
# Extensions that name another operation of the same connector: they go when that operation does.
_OPERATION_REFERENCES = (
    "x-ms-dynamic-values",
    "x-ms-dynamic-schema",
    "x-ms-dynamic-list",
    "x-ms-dynamic-properties",
    "x-ms-dynamic-tree",
)
# Entra ID's sign-in hosts (public and national clouds); sts.windows.net is the v1 token issuer.
_ENTRA_HOSTS = {
    "login.microsoftonline.com": "login.microsoftonline.com",
    "sts.windows.net": "login.microsoftonline.com",
    "login.microsoftonline.us": "login.microsoftonline.us",
    "login.partner.microsoftonline.cn": "login.partner.microsoftonline.cn",
}
_TENANT = re.compile(r"[0-9A-Za-z][0-9A-Za-z.-]{0,254}")


@dataclass(frozen=True)
class EntraSignIn:
    """Entra ID OAuth 2.0 (authorization code) for a trusted issuer: where a flow's connection signs in."""

    tenant: str
    authority_host: str
    scopes: tuple[str, ...]

    @property
    def authorization_url(self) -> str:
        return f"https://{self.authority_host}/{self.tenant}/oauth2/v2.0/authorize"

    @property
    def token_url(self) -> str:
        return f"https://{self.authority_host}/{self.tenant}/oauth2/v2.0/token"


def entra_sign_in(issuers: Iterable[str], audiences: Iterable[str]) -> EntraSignIn | None:
    """The first trusted issuer that is an Entra tenant (`https://login.microsoftonline.com/{tenant}/v2.0`,
    `https://sts.windows.net/{tenant}/`), with a `.default` scope per accepted audience; None when none is."""
    scopes = tuple(f"{audience.rstrip('/')}/.default" for audience in audiences if audience)
    for issuer in issuers:
        parts = urlsplit(issuer)
        authority = _ENTRA_HOSTS.get((parts.hostname or "").lower())
        tenant = parts.path.strip("/").split("/", 1)[0]
        if parts.scheme == "https" and authority and _TENANT.fullmatch(tenant) and scopes:
            return EntraSignIn(tenant, authority, scopes)
    return None


@dataclass(frozen=True)
class GatewayAuth:
    """How callers authenticate to the gateway, as the exported documents declare it."""

    subscription_key_header: str
    entra: EntraSignIn | None
    # Names the gateway takes its own credentials from (and strips before forwarding): never an operation's.
    gateway_headers: tuple[str, ...] = ()
    gateway_query: tuple[str, ...] = ()

    def security_definitions(self) -> dict[str, Any]:
        definitions: dict[str, Any] = {
            SUBSCRIPTION_KEY: {
                "type": "apiKey",
                "in": "header",
                "name": self.subscription_key_header,
                "description": "A connector gateway subscription key.",
            }
        }
        if self.entra is not None:
            definitions[ENTRA] = {
                "type": "oauth2",
                "flow": "accessCode",
                "authorizationUrl": self.entra.authorization_url,
                "tokenUrl": self.entra.token_url,
                "scopes": {scope: "Call the connector gateway." for scope in self.entra.scopes},
                "description": "Entra ID: a token for the connector gateway.",
            }
        return definitions

    def security(self) -> list[dict[str, list[str]]]:
        return [{name: []} for name in self.security_definitions()]


def _credential_slots(connector: Connector, api_definition: dict[str, Any], auth: GatewayAuth) -> set[tuple[str, str]]:
    """(location, lower-case name) of every parameter that would carry a credential."""
    slots: set[tuple[str, str]] = {
        ("header", name.lower()) for name in (auth.subscription_key_header, *auth.gateway_headers)
    }
    slots |= {("query", name.lower()) for name in auth.gateway_query if name}
    schemes: list[AuthScheme] = [connector.auth, *(s.auth for s in connector.parameter_sets)]
    for scheme in schemes:
        if scheme.kind == "apiKey" and scheme.key_name and scheme.location:
            slots.add((scheme.location, scheme.key_name.lower()))
        elif scheme.kind in ("basic", "oauth2", "windows"):
            slots.add(("header", "authorization"))
    definitions = api_definition.get("securityDefinitions")
    for definition in definitions.values() if isinstance(definitions, dict) else ():
        if not isinstance(definition, dict):
            continue
        if definition.get("type") == "apiKey" and isinstance(definition.get("name"), str):
            slots.add((str(definition.get("in")), definition["name"].lower()))
        elif definition.get("type") in ("basic", "oauth2"):
            slots.add(("header", "authorization"))
    return slots


def _is_credential(parameter: Any, slots: set[tuple[str, str]]) -> bool:
    if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
        return False
    return (str(parameter.get("in")), parameter["name"].lower()) in slots


def _without_credentials(parameters: Any, credential_refs: set[str], slots: set[tuple[str, str]]) -> Any:
    """The list without credential parameters, whether declared in place or referred to (`#/parameters/x`)."""
    if not isinstance(parameters, list):
        return parameters
    return [
        parameter
        for parameter in parameters
        if not _is_credential(parameter, slots)
        and not (isinstance(parameter, dict) and one_of(parameter.get("$ref"), credential_refs))
    ]


def _drop_references(node: Any, dropped: set[str]) -> None:
    """Remove x-ms-dynamic-* extensions that name a left-out operation, anywhere in the document."""
    if isinstance(node, dict):
        for key in _OPERATION_REFERENCES:
            if key in node and _names_operation(node[key], dropped):
                del node[key]
        for value in node.values():
            _drop_references(value, dropped)
    elif isinstance(node, list):
        for value in node:
            _drop_references(value, dropped)


def _names_operation(extension: Any, dropped: set[str]) -> bool:
    if isinstance(extension, dict):
        named = one_of(extension.get("operationId"), dropped)
        return named or any(_names_operation(v, dropped) for v in extension.values())
    return False


def export_swagger(
    api_definition: dict[str, Any],
    connector: Connector,
    unsupported: set[str],
    gateway_url: str,
    invoke_path: str,
    auth: GatewayAuth,
) -> dict[str, Any]:
    """The connection's swagger: `gateway_url` is the gateway's public base URL, `invoke_path` the connection's
    invoke route below it (`/api/connections/{id}/invoke`), `unsupported` the operationIds that answer 501."""
    document = copy.deepcopy(api_definition)
    public = urlsplit(gateway_url)
    document["host"] = public.netloc
    document["schemes"] = [public.scheme]
    document["basePath"] = public.path.rstrip("/") + invoke_path
    document.pop("securityDefinitions", None)
    document["securityDefinitions"] = auth.security_definitions()
    document["security"] = auth.security()

    slots = _credential_slots(connector, api_definition, auth)
    raw_shared = document.get("parameters")
    shared = raw_shared if isinstance(raw_shared, dict) else {}
    credential_names = [name for name, parameter in shared.items() if _is_credential(parameter, slots)]
    credential_refs = {f"#/parameters/{name}" for name in credential_names}
    for name in credential_names:
        del shared[name]

    runnable = {(o.path, o.method) for o in connector.operations if o.operation_id not in unsupported}
    kept_ids = {o.operation_id for o in connector.operations if o.operation_id not in unsupported}
    dropped: set[str] = set()
    for container in ("paths", "x-ms-paths"):
        items = document.get(container)
        if not isinstance(items, dict):
            continue
        for path in list(items):
            item = items[path]
            if not isinstance(item, dict):
                del items[path]
                continue
            for method in [m for m in item if m.lower() in HTTP_METHODS]:
                operation = item[method]
                if (path, method.upper()) not in runnable or not isinstance(operation, dict):
                    if isinstance(operation, dict) and isinstance(operation.get("operationId"), str):
                        dropped.add(operation["operationId"])
                    del item[method]
                    continue
                operation.pop("security", None)
                operation["parameters"] = _without_credentials(operation.get("parameters"), credential_refs, slots)
                if not operation["parameters"]:
                    del operation["parameters"]
            if "parameters" in item:
                item["parameters"] = _without_credentials(item["parameters"], credential_refs, slots)
                if not item["parameters"]:
                    del item["parameters"]
            if not any(m.lower() in HTTP_METHODS for m in item):
                del items[path]
    document.setdefault("paths", {})
    dropped -= kept_ids  # a duplicate operationId the gateway left out doesn't take the kept one's references
    _drop_references(document, dropped)
    capabilities = document.get("x-ms-capabilities")
    test = capabilities.get("testConnection") if isinstance(capabilities, dict) else None
    if isinstance(test, dict) and not one_of(test.get("operationId"), kept_ids):
        del capabilities["testConnection"]
    normalise(document)
    return document
