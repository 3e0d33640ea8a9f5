"""Key Vault secrets REST protocol: routes, request bodies, response shapes, paging. Pure functions.

Shapes follow the service: SecretBundle (with value) for get/set, without value for update,
recover, delete and deleted gets; SecretItem lists with `nextLink` and `$skiptoken`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devtools.keyvault_emulator._store import (
    RECOVERABLE_DAYS,
    SecretProperties,
    SecretStore,
    SecretView,
    VaultError,
    bad_parameter,
)

DEFAULT_PAGE_SIZE = 25
_SECONDS_PER_DAY = 86400
_API_VERSION = re.compile(r"7\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?")
_NAME = r"(?P<name>[^/]+)"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: Mapping[str, str]
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, document: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(document).encode(), headers)


def error_response(error: VaultError, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.inner_code:
        detail["innererror"] = {"code": error.inner_code}
    return json_response(error.status, {"error": detail}, headers)


# -- response shapes -------------------------------------------------------------------------------------------


def _attributes(view: SecretView) -> dict[str, Any]:
    version = view.version
    attributes: dict[str, Any] = {
        "enabled": version.enabled,
        "created": version.created,
        "updated": version.updated,
        "recoveryLevel": view.recovery_level,
        "recoverableDays": RECOVERABLE_DAYS,
    }
    if version.not_before is not None:
        attributes["nbf"] = version.not_before
    if version.expires is not None:
        attributes["exp"] = version.expires
    return attributes


def render_secret(base_url: str, view: SecretView, *, with_value: bool = False, versioned_id: bool = True) -> dict:
    """SecretBundle (with_value) or SecretItem; adds the deleted-secret members when the view is deleted."""
    version = view.version
    secret_id = f"{base_url}secrets/{view.name}"
    document: dict[str, Any] = {"id": f"{secret_id}/{version.version}" if versioned_id else secret_id}
    if with_value:
        document["value"] = version.value
    document["attributes"] = _attributes(view)
    if version.content_type is not None:
        document["contentType"] = version.content_type
    if version.tags is not None:
        document["tags"] = version.tags
    if view.deleted_date is not None:
        document["recoveryId"] = f"{base_url}deletedsecrets/{view.name}"
        document["deletedDate"] = view.deleted_date
        document["scheduledPurgeDate"] = view.deleted_date + RECOVERABLE_DAYS * _SECONDS_PER_DAY
    return document


def render_page(
    base_url: str, request: Request, views: list[SecretView], page_key: Callable[[SecretView], str], **render: bool
) -> dict:
    """One page of a list; `page_key` orders the items and is what the continuation token remembers."""
    size = _page_size(request.query.get("maxresults"))
    after = _decode_token(request.query.get("$skiptoken"))
    keyed = ((page_key(v), v) for v in views)
    ordered = sorted((kv for kv in keyed if after is None or kv[0] > after), key=lambda kv: kv[0])
    page = ordered[:size]
    next_link = None
    if len(ordered) > size:
        token = base64.urlsafe_b64encode(page[-1][0].encode()).decode().rstrip("=")
        api_version = request.query.get("api-version", "")
        next_link = (
            f"{base_url}{request.path.lstrip('/')}?api-version={api_version}&$skiptoken={token}&maxresults={size}"
        )
    return {"value": [render_secret(base_url, v, **render) for _, v in page], "nextLink": next_link}


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= DEFAULT_PAGE_SIZE:
        raise bad_parameter(f"invalid maxresults {raw[:20]!r}: must be an integer from 1 to {DEFAULT_PAGE_SIZE}.")
    return int(raw)


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise bad_parameter("The $skiptoken is not valid.") from None


# -- request checks and bodies ---------------------------------------------------------------------------------


def check_api_version(query: Mapping[str, str]) -> None:
    version = query.get("api-version")
    if version is None:
        raise bad_parameter("The api-version query parameter (?api-version=) is required for all requests.")
    if not _API_VERSION.fullmatch(version):
        raise bad_parameter(f"The specified version ({version[:40]}) is not recognized.")


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        raise bad_parameter("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise bad_parameter("The request body must be a JSON object.")
    return document


def _typed(document: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = document.get(key)
    # bool is an int in Python; a JSON true is not a valid timestamp.
    if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
        raise bad_parameter(f"Property '{key}' must be {what}.")
    return value


def parse_properties(document: Mapping[str, Any]) -> SecretProperties:
    tags = _typed(document, "tags", dict, "an object of strings")
    if tags is not None and not all(isinstance(v, str) for v in tags.values()):
        raise bad_parameter("Property 'tags' must be an object of strings.")
    attributes = _typed(document, "attributes", dict, "an object") or {}
    not_before = _typed(attributes, "nbf", (int, float), "a number of seconds since the epoch")
    expires = _typed(attributes, "exp", (int, float), "a number of seconds since the epoch")
    return SecretProperties(
        content_type=_typed(document, "contentType", str, "a string"),
        tags=tags,
        enabled=_typed(attributes, "enabled", bool, "a boolean"),
        not_before=None if not_before is None else int(not_before),
        expires=None if expires is None else int(expires),
    )


# -- routes ----------------------------------------------------------------------------------------------------

Handler = Callable[[SecretStore, Request, Mapping[str, str], str], Response]


def _set_secret(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    document = parse_json_object(request.body)
    value = document.get("value")
    if not isinstance(value, str):
        raise bad_parameter("Property 'value' is required and must be a string.")
    view = store.set(params["name"], value, parse_properties(document))
    return json_response(200, render_secret(base_url, view, with_value=True))


def _get_secret(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    view = store.get(params["name"], params.get("version"))
    if not view.version.enabled:
        raise VaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
    return json_response(200, render_secret(base_url, view, with_value=True))


def _update_secret(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    changes = parse_properties(parse_json_object(request.body))
    view = store.update(params["name"], params.get("version"), changes)
    return json_response(200, render_secret(base_url, view))


def _list_secrets(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    page = render_page(base_url, request, store.list_latest(), lambda v: v.name.lower(), versioned_id=False)
    return json_response(200, page)


def _list_versions(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    views = store.list_versions(params["name"])
    return json_response(200, render_page(base_url, request, views, lambda v: f"{v.version.created:012d}.{v.version}"))


def _delete_secret(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    return json_response(200, render_secret(base_url, store.delete(params["name"])))


def _list_deleted(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    page = render_page(base_url, request, store.list_deleted(), lambda v: v.name.lower(), versioned_id=False)
    return json_response(200, page)


def _get_deleted(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    return json_response(200, render_secret(base_url, store.get_deleted(params["name"])))


def _purge_deleted(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    store.purge(params["name"])
    return Response(204)


def _recover_deleted(store: SecretStore, request: Request, params: Mapping[str, str], base_url: str) -> Response:
    return json_response(200, render_secret(base_url, store.recover(params["name"])))


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    label: str  # the REST template, used to count requests
    handler: Handler


def _route(method: str, template: str, handler: Handler) -> Route:
    regex = template.replace("{name}", _NAME).replace("/{version}", "(?:/(?P<version>[^/]*))?")
    return Route(method, re.compile(regex), f"{method} {template}", handler)


ROUTES = (
    _route("PUT", "/secrets/{name}", _set_secret),
    _route("GET", "/secrets", _list_secrets),
    _route("GET", "/secrets/{name}/versions", _list_versions),
    _route("GET", "/secrets/{name}/{version}", _get_secret),
    _route("PATCH", "/secrets/{name}/{version}", _update_secret),
    _route("DELETE", "/secrets/{name}", _delete_secret),
    _route("GET", "/deletedsecrets", _list_deleted),
    _route("GET", "/deletedsecrets/{name}", _get_deleted),
    _route("DELETE", "/deletedsecrets/{name}", _purge_deleted),
    _route("POST", "/deletedsecrets/{name}/recover", _recover_deleted),
)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request, with its path parameters; None if nothing matches."""
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if route.method == method and found:
            return route, {k: v for k, v in found.groupdict().items() if v is not None}
    return None


def path_is_known(path: str) -> bool:
    return any(route.pattern.fullmatch(path) for route in ROUTES)
