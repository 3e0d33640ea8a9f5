"""The /subscriptions handlers, called as the Functions host calls them, with a stub gateway
(fixed callers) around a real SubscriptionKeyStore on Azurite."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

import shared.web
from shared.api import subscriptions as api
from shared.callers import Authentication, Principal, SubscriptionGrant, SubscriptionKeyStore
from shared.settings import Settings
from tests.support.azurite import azurite_tables
from tests.support.key_tables import fresh_table

MAKER_ROLE = "Connectors.Manage"
ADMIN_ROLE = "Connectors.Admin"
CALLERS = {
    "admin": Authentication(Principal("admin", frozenset({MAKER_ROLE, ADMIN_ROLE}), "Admin", "user")),
    "maker": Authentication(Principal("maker", frozenset({MAKER_ROLE}), "Maker", "user")),
    "other-maker": Authentication(Principal("other-maker", frozenset({MAKER_ROLE}), "Other", "user")),
    "user": Authentication(Principal("user", frozenset(), "User", "user")),
    "scoped-maker": Authentication(
        Principal("bot", frozenset({MAKER_ROLE}), "Bot", "key"), subscription=SubscriptionGrant("s1", "connector:x")
    ),
}


class StubCallers:
    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], fallback: Principal | None = None
    ) -> Authentication:
        return CALLERS[headers["x-caller"]]


@dataclass
class StubGateway:
    settings: Settings
    keys: SubscriptionKeyStore
    callers: StubCallers


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as running:
        yield running


@pytest.fixture
def store(azurite, monkeypatch) -> SubscriptionKeyStore:
    settings = Settings.from_env({"KEY_VAULT_URL": "https://vault.example", "TABLES_CONNECTION_STRING": azurite})
    keys = SubscriptionKeyStore(fresh_table(azurite))
    monkeypatch.setattr(shared.web, "gateway", lambda: StubGateway(settings, keys, StubCallers()))
    return keys


def call(
    handler, method: str, body: Any = None, *, subscription_id: str = "", caller: str = "admin"
) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    request = func.HttpRequest(
        method,
        f"http://localhost/api/subscriptions/{subscription_id}",
        headers={"x-caller": caller},
        params={},
        route_params={"subscriptionId": subscription_id} if subscription_id else {},
        body=raw,
    )
    return handler(request)


def payload(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def problem(response: func.HttpResponse, status: int) -> dict:
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    body = payload(response)
    assert body["status"] == status
    return body


def created(body: dict | None = None, caller: str = "admin") -> dict:
    body = body or {"displayName": "CI", "principal": "svc|ci", "roles": [MAKER_ROLE]}
    response = call(api.create, "POST", body, caller=caller)
    assert response.status_code == 201, response.get_body()
    return payload(response)


def test_create_returns_both_keys_once(store):
    response = call(api.create, "POST", {"displayName": "CI", "principal": "svc|ci", "scope": "connector:github"})

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = payload(response)
    assert response.headers["Location"] == f"/api/subscriptions/{body['id']}"
    assert (body["displayName"], body["principal"], body["roles"], body["scope"], body["state"]) == (
        "CI",
        "svc|ci",
        [],
        "connector:github",
        "active",
    )
    for slot in ("primary", "secondary"):
        record = store.find(body[f"{slot}Key"])
        assert record.slot == slot and record.key_id == body[f"{slot}KeyId"]


def test_list_and_get_never_show_keys(store):
    sub = created()
    store.usage.record(sub["id"], "primary")
    store.usage.flush()

    listed = call(api.list_all, "GET")
    fetched = call(api.get, "GET", subscription_id=sub["id"])

    assert [item["id"] for item in payload(listed)["value"]] == [sub["id"]]
    details = payload(fetched)
    assert details["state"] == "active" and details["primaryKeyId"] == sub["primaryKeyId"]
    assert [(day["primary"], day["secondary"]) for day in details["usage"]] == [(1, 0)]
    for response in (listed, fetched):
        text = response.get_body().decode()
        assert sub["primaryKey"] not in text and sub["secondaryKey"] not in text
    for view in (details, *payload(listed)["value"]):
        assert not {"primaryKey", "secondaryKey"} & set(view)


def test_state_changes_and_cancelled_is_final(store):
    sub = created()

    suspended = call(api.update, "PATCH", {"state": "suspended"}, subscription_id=sub["id"])
    assert payload(suspended)["state"] == "suspended" and store.find(sub["primaryKey"]) is None
    renamed = call(api.update, "PATCH", {"state": "active", "displayName": "CI 2"}, subscription_id=sub["id"])
    assert (payload(renamed)["state"], payload(renamed)["displayName"]) == ("active", "CI 2")
    assert call(api.update, "PATCH", {"state": "cancelled"}, subscription_id=sub["id"]).status_code == 200

    conflict = problem(call(api.update, "PATCH", {"state": "active"}, subscription_id=sub["id"]), 409)
    assert "cancelled" in conflict["detail"]
    problem(call(api.regenerate, "POST", {"key": "primary"}, subscription_id=sub["id"]), 409)


def test_regenerate_returns_the_new_value_once(store):
    sub = created()

    response = call(api.regenerate, "POST", {"key": "secondary"}, subscription_id=sub["id"])

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = payload(response)
    assert "primaryKey" not in body
    assert store.find(body["secondaryKey"]).slot == "secondary"
    assert store.find(sub["secondaryKey"]) is None and store.find(sub["primaryKey"]) is not None
    assert body["secondaryKeyId"] != sub["secondaryKeyId"]


def test_delete(store):
    sub = created()
    assert call(api.delete, "DELETE", subscription_id=sub["id"]).status_code == 204
    assert store.find(sub["primaryKey"]) is None
    problem(call(api.get, "GET", subscription_id=sub["id"]), 404)
    problem(call(api.delete, "DELETE", subscription_id=sub["id"]), 404)


@pytest.mark.parametrize("subscription_id", ["abcdefghijklmnopqrstuvwx", "..%2Fx", "a/b"])
def test_unknown_ids_are_404(store, subscription_id):
    body = problem(call(api.get, "GET", subscription_id=subscription_id), 404)
    assert body["type"].endswith("subscription-not-found")
    problem(call(api.update, "PATCH", {"state": "active"}, subscription_id=subscription_id), 404)


@pytest.mark.parametrize("caller", ["user", "scoped-maker"])
def test_only_unrestricted_makers_manage_subscriptions(store, caller):
    sub = created()
    for handler, method, body in [
        (api.create, "POST", {"displayName": "x", "principal": "p"}),
        (api.list_all, "GET", None),
        (api.get, "GET", None),
        (api.update, "PATCH", {"state": "suspended"}),
        (api.regenerate, "POST", {"key": "primary"}),
        (api.delete, "DELETE", None),
    ]:
        problem(call(handler, method, body, subscription_id=sub["id"], caller=caller), 403)
    assert store.find(sub["primaryKey"]) is not None
    assert len(store.list_subscriptions()) == 1


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({}, ["/displayName"]),
        ({"displayName": " ", "principal": "p"}, ["/displayName"]),
        ({"displayName": "n", "principal": 7}, ["/principal"]),
        ({"displayName": "n", "principal": "p", "roles": "admin"}, ["/roles"]),
        ({"displayName": "n", "principal": "p", "roles": ["a,b"]}, ["/roles"]),
        ({"displayName": "n", "principal": "p", "scope": "api:x"}, ["/scope"]),
        ({"displayName": "n", "principal": "p", "primaryKey": "mine-mine-mine-mine"}, ["/primaryKey"]),
    ],
)
def test_create_validation_names_each_bad_member(store, body, pointers):
    found = problem(call(api.create, "POST", body), 400)
    assert found["type"].endswith("invalid-parameters")
    assert sorted(error["pointer"] for error in found["errors"]) == pointers
    assert store.list_subscriptions() == []


@pytest.mark.parametrize(
    ("body", "slug"),
    [(b"", "invalid-json"), (b"{nope", "invalid-json"), (b"[1]", "invalid-json"), (b"x" * 20000, "body-too-large")],
)
def test_create_needs_a_json_object(store, body, slug):
    response = call(api.create, "POST", body)
    assert payload(response)["type"].endswith(slug)
    assert response.status_code in (400, 413)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"state": "paused"}, "/state"),
        ({"scope": "connection:"}, "/scope"),
        ({"displayName": ""}, "/displayName"),
        ({"principal": "someone-else"}, "/principal"),
    ],
)
def test_update_validation(store, body, pointer):
    sub = created()
    found = problem(call(api.update, "PATCH", body, subscription_id=sub["id"]), 400)
    assert [error["pointer"] for error in found["errors"]] == [pointer]


def test_update_needs_a_change(store):
    sub = created()
    assert "at least one" in problem(call(api.update, "PATCH", {}, subscription_id=sub["id"]), 400)["detail"]


@pytest.mark.parametrize("body", [{}, {"key": "tertiary"}, {"key": "primary", "value": "chosen-by-me-1234"}])
def test_regenerate_validation(store, body):
    sub = created()
    found = problem(call(api.regenerate, "POST", body, subscription_id=sub["id"]), 400)
    assert found["errors"] and all(error["pointer"] in ("/key", "/value") for error in found["errors"])
    assert store.find(sub["primaryKey"]) is not None


# --- who may mint and manage which subscription ---


def test_a_maker_mints_for_themself_without_naming_a_principal(store):
    sub = created({"displayName": "laptop", "roles": [MAKER_ROLE]}, caller="maker")
    assert (sub["principal"], sub["roles"], sub["createdBy"]) == ("maker", [MAKER_ROLE], "maker")
    record = store.find(sub["primaryKey"])
    assert (record.principal_id, record.created_by, record.principal().minted_by) == ("maker", "maker", None)


def test_a_maker_cant_mint_for_another_principal_and_nothing_is_stored(store):
    body = {"displayName": "x", "principal": "victim"}
    found = problem(call(api.create, "POST", body, caller="maker"), 403)
    assert found["type"] == "urn:connector-gateway:problem:forbidden" and ADMIN_ROLE in found["detail"]
    assert store.list_subscriptions() == [] and store.list() == []


def test_a_maker_cant_mint_roles_they_dont_hold(store):
    body = {"displayName": "x", "roles": [MAKER_ROLE, ADMIN_ROLE]}
    found = problem(call(api.create, "POST", body, caller="maker"), 403)
    assert found["type"] == "urn:connector-gateway:problem:forbidden" and ADMIN_ROLE in found["detail"]
    assert store.list_subscriptions() == []


def test_an_admin_mints_for_anyone_and_the_key_remembers_the_admin(store):
    sub = created({"displayName": "for maker", "principal": "maker", "roles": [ADMIN_ROLE]})
    assert (sub["principal"], sub["createdBy"]) == ("maker", "admin")
    principal = store.find(sub["secondaryKey"]).principal()
    assert (principal.id, principal.roles, principal.minted_by) == ("maker", {ADMIN_ROLE}, "admin")


def test_a_maker_sees_and_manages_only_their_own_subscriptions(store):
    theirs = created({"displayName": "other", "roles": []}, caller="other-maker")
    mine = created({"displayName": "mine", "roles": []}, caller="maker")
    listed = payload(call(api.list_all, "GET", caller="maker"))["value"]
    assert [item["id"] for item in listed] == [mine["id"]]
    for handler, method, body in [
        (api.get, "GET", None),
        (api.update, "PATCH", {"state": "suspended"}),
        (api.regenerate, "POST", {"key": "primary"}),
        (api.delete, "DELETE", None),
    ]:
        found = problem(call(handler, method, body, subscription_id=theirs["id"], caller="maker"), 404)
        assert found["type"].endswith("subscription-not-found")
    assert store.find(theirs["primaryKey"]) is not None and store.find(theirs["secondaryKey"]) is not None
    assert (
        call(api.update, "PATCH", {"state": "suspended"}, subscription_id=mine["id"], caller="maker").status_code == 200
    )
    assert {item["id"] for item in payload(call(api.list_all, "GET"))["value"]} == {theirs["id"], mine["id"]}
