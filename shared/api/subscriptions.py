"""/subscriptions: makers manage subscriptions, like Azure API Management's (two keys, a scope, a state).

Who may do what: a maker manages their own subscriptions only (principal = themself): they mint keys
for themself with at most the roles they hold (so never an admin key unless they are an admin), and
anyone else's subscription is 404 to them. Admins (AUTH_ADMIN_ROLE) mint keys for any principal with
any roles and see and manage every subscription. Each subscription records who created it, so audit
rows of calls made with an admin-minted key name both the key's principal and the admin.

Key values appear in exactly two responses: creation (both keys) and regeneration (the new one),
each with Cache-Control: no-store. Everything else shows key ids only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import azure.functions as func

from shared import problems
from shared.callers import (
    ALL_SCOPE,
    KeySlot,
    Principal,
    StateConflict,
    Subscription,
    SubscriptionKeyStore,
    SubscriptionNotFound,
    SubscriptionState,
    checked_principal_id,
    checked_text,
    normalized_roles,
    parse_scope,
    parse_slot,
    parse_state,
    subscription_view,
)
from shared.stores.errors import translate_errors
from shared.web import Call, endpoint, json_response, read_json

MAX_BODY_BYTES = 16 * 1024
USAGE_DAYS = 30
NO_STORE = {"Cache-Control": "no-store"}
T = TypeVar("T")


# --- request bodies (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequest:
    display_name: str
    principal_id: str | None  # None: the caller's own principal
    roles: frozenset[str]
    scope: str


@dataclass(frozen=True)
class ChangeRequest:
    state: SubscriptionState | None = None
    display_name: str | None = None
    scope: str | None = None


class _Fields:
    """Reads members of a JSON object, collecting one RFC 9457 `errors` entry per bad member."""

    def __init__(self, body: Any, allowed: set[str]) -> None:
        if not isinstance(body, dict):
            raise problems.bad_request("The body must be a JSON object.", slug="invalid-json")
        self.body = body
        self.errors = [
            {"pointer": f"/{name}", "detail": f"Unknown member; allowed are {', '.join(sorted(allowed))}."}
            for name in body
            if name not in allowed
        ]

    def read(self, name: str, parse: Callable[[Any], T], default: T) -> T:
        if name not in self.body:
            return default
        try:
            return parse(self.body[name])
        except ValueError as error:
            self.errors.append({"pointer": f"/{name}", "detail": str(error)})
            return default

    def require(self, name: str, what: str) -> None:
        if name not in self.body:
            self.errors.append({"pointer": f"/{name}", "detail": f"A {what} is required."})

    def raise_if_invalid(self, detail: str) -> None:
        if self.errors:
            raise problems.invalid_parameters(detail, self.errors)


def _display_name(raw: Any) -> str:
    return checked_text(raw, "display name")


def _principal(raw: Any) -> str:
    return checked_principal_id(raw)


def _roles(raw: Any) -> frozenset[str]:
    if not isinstance(raw, list):
        raise ValueError("Roles are a list of strings.")
    return normalized_roles(raw)


def parse_create(body: Any) -> CreateRequest:
    fields = _Fields(body, {"displayName", "principal", "roles", "scope"})
    fields.require("displayName", "display name")
    request = CreateRequest(
        display_name=fields.read("displayName", _display_name, ""),
        principal_id=fields.read("principal", _principal, None),
        roles=fields.read("roles", _roles, frozenset()),
        scope=fields.read("scope", parse_scope, ALL_SCOPE),
    )
    fields.raise_if_invalid("The subscription can't be created as described.")
    return request


def parse_change(body: Any) -> ChangeRequest:
    fields = _Fields(body, {"state", "displayName", "scope"})
    request = ChangeRequest(
        state=fields.read("state", parse_state, None),
        display_name=fields.read("displayName", _display_name, None),
        scope=fields.read("scope", parse_scope, None),
    )
    fields.raise_if_invalid("The subscription can't be changed as described.")
    if request == ChangeRequest():
        raise problems.bad_request("Send at least one of state, displayName and scope.")
    return request


def parse_regenerate(body: Any) -> KeySlot:
    fields = _Fields(body, {"key"})
    fields.require("key", "key ('primary' or 'secondary')")
    slot = fields.read("key", parse_slot, "primary")
    fields.raise_if_invalid("The key to regenerate is missing or unknown.")
    return slot


# --- who may manage which subscription -----------------------------------------------------


def _store(call: Call) -> SubscriptionKeyStore:
    """Makers and admins only, and not through a key limited to one connector or connection."""
    settings = call.gateway.settings
    if not (call.is_maker or call.is_admin):
        raise problems.forbidden(
            f"Only makers (role {settings.maker_role!r}) and admins (role {settings.admin_role!r})"
            " may manage subscriptions."
        )
    grant = call.auth.subscription
    if grant is not None and not grant.is_unrestricted:
        raise problems.forbidden("A subscription key with a limited scope can't manage subscriptions.")
    return call.gateway.keys


def check_mintable(request: CreateRequest, principal: Principal, is_admin: bool, admin_role: str) -> str:
    """The principal the new subscription is for; 403 when the caller may not mint it (pure)."""
    owner = request.principal_id or principal.id
    if is_admin:
        return owner
    if owner != principal.id:
        raise problems.forbidden(
            f"Only admins (role {admin_role!r}) may create a subscription for another principal;"
            " leave out 'principal' to create one for yourself."
        )
    missing = sorted(request.roles - principal.roles)
    if missing:
        raise problems.forbidden(f"A subscription can't carry roles you don't hold yourself: {', '.join(missing)}.")
    return owner


def _owned(call: Call, store: SubscriptionKeyStore) -> Subscription:
    """The route's subscription when the caller may manage it; another principal's is 404 to a non-admin."""
    subscription_id = call.route("subscriptionId")
    subscription = store.get_subscription(subscription_id)
    if not call.is_admin and subscription.principal_id != call.principal.id:
        raise SubscriptionNotFound(subscription_id)
    return subscription


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        with translate_errors("Table Storage"):
            yield
    except SubscriptionNotFound as missing:
        raise problems.not_found("subscription", missing.subscription_id) from None
    except StateConflict as conflict:
        raise problems.Problem(409, "subscription-state-conflict", "Conflict", str(conflict)) from None


def _location(subscription_id: str) -> dict[str, str]:
    return {"Location": f"/api/subscriptions/{subscription_id}"}


@endpoint
def create(call: Call) -> func.HttpResponse:
    store = _store(call)
    request = parse_create(read_json(call.request, MAX_BODY_BYTES))
    owner = check_mintable(request, call.principal, call.is_admin, call.gateway.settings.admin_role)
    with _store_errors():
        created = store.create_subscription(
            request.display_name, owner, request.roles, request.scope, created_by=call.principal.id
        )
    body = {
        **subscription_view(created.subscription),
        "primaryKey": created.primary_value,
        "secondaryKey": created.secondary_value,
    }
    return json_response(body, 201, {**_location(created.subscription.id), **NO_STORE})


@endpoint
def list_all(call: Call) -> func.HttpResponse:
    """An admin sees every subscription, anyone else their own."""
    store = _store(call)
    with _store_errors():
        subscriptions = store.list_subscriptions()
    if not call.is_admin:
        subscriptions = [sub for sub in subscriptions if sub.principal_id == call.principal.id]
    return json_response({"value": [subscription_view(sub) for sub in subscriptions]})


@endpoint
def get(call: Call) -> func.HttpResponse:
    store = _store(call)
    with _store_errors():
        subscription = _owned(call, store)
        usage = store.usage.daily(subscription.id, USAGE_DAYS)
    return json_response({**subscription_view(subscription), "usage": [day.to_json() for day in usage]})


# The owner of a subscription never changes, so checking it before the change can't be raced.


@endpoint
def update(call: Call) -> func.HttpResponse:
    store = _store(call)
    change = parse_change(read_json(call.request, MAX_BODY_BYTES))
    with _store_errors():
        subscription = _owned(call, store)
        changed = store.update_subscription(
            subscription.id, state=change.state, display_name=change.display_name, scope=change.scope
        )
    return json_response(subscription_view(changed))


@endpoint
def regenerate(call: Call) -> func.HttpResponse:
    store = _store(call)
    slot = parse_regenerate(read_json(call.request, MAX_BODY_BYTES))
    with _store_errors():
        changed, value = store.regenerate_key(_owned(call, store).id, slot)
    return json_response({**subscription_view(changed), f"{slot}Key": value}, headers=NO_STORE)


@endpoint
def delete(call: Call) -> func.HttpResponse:
    store = _store(call)
    with _store_errors():
        store.delete_subscription(_owned(call, store).id)
    return func.HttpResponse(status_code=204)
