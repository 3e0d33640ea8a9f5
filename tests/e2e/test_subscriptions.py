"""Subscriptions end to end: keys, rotation, state and scope, through the admin API and the proxy."""

from __future__ import annotations

import requests

from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of, problem

ADMIN_ROLE = "Connectors.Admin"  # AUTH_ADMIN_ROLE's default


def keyed(value: str) -> requests.Session:
    session = requests.Session()
    session.headers["Ocp-Apim-Subscription-Key"] = value
    return session


def admin(stack: Stack) -> requests.Session:
    """An admin: only admins mint keys for other principals and manage every subscription."""
    return stack.client("subs-admin", (MAKER_ROLE, ADMIN_ROLE))


def create_subscription(stack: Stack, principal: str, scope: str = "all") -> dict:
    response = admin(stack).post(
        f"{stack.url}/api/subscriptions",
        json={"displayName": f"{principal} app", "principal": principal, "scope": scope},
    )
    assert response.status_code == 201, response.text
    assert response.headers.get("Cache-Control") == "no-store"
    return response.json()


def test_keys_rotate_one_at_a_time_and_state_gates_both(stack: Stack) -> None:
    subscription = create_subscription(stack, "svc-rotation")
    primary, secondary = subscription["primaryKey"], subscription["secondaryKey"]
    listing = f"{stack.url}/api/connections"
    assert keyed(primary).get(listing).status_code == 200
    assert keyed(secondary).get(listing).status_code == 200
    url = f"{stack.url}/api/subscriptions/{subscription['id']}"
    shown = admin(stack).get(url).text
    assert primary not in shown and secondary not in shown  # values only at creation and regeneration
    assert primary not in repr(stack.entities("keys"))

    regenerated = admin(stack).post(f"{url}/regenerate", json={"key": "primary"}).json()
    assert keyed(primary).get(listing).status_code == 401
    assert keyed(secondary).get(listing).status_code == 200  # the other key kept working throughout
    assert keyed(regenerated["primaryKey"]).get(listing).status_code == 200

    assert admin(stack).patch(url, json={"state": "suspended"}).status_code == 200
    for value in (regenerated["primaryKey"], secondary):
        response = keyed(value).get(listing)
        assert response.status_code == 401
        assert "suspended" in problem(response)["detail"]
    assert admin(stack).patch(url, json={"state": "active"}).status_code == 200
    assert keyed(secondary).get(listing).status_code == 200
    assert admin(stack).patch(url, json={"state": "cancelled"}).status_code == 200
    assert keyed(secondary).get(listing).status_code == 401
    final = admin(stack).patch(url, json={"state": "active"})
    assert final.status_code == 409
    problem(final)


def test_only_makers_manage_subscriptions_and_bad_input_gets_a_problem(stack: Stack) -> None:
    response = stack.client("not-a-maker").post(f"{stack.url}/api/subscriptions", json={"principal": "x"})
    assert response.status_code == 403
    for body in ({"principal": ""}, {"principal": "x", "scope": "everything"}, {"principal": "x", "colour": 1}):
        bad = stack.maker().post(f"{stack.url}/api/subscriptions", json={"displayName": "d", **body})
        assert bad.status_code == 400, body
        problem(bad)


def test_scope_limits_what_a_key_reaches(stack: Stack) -> None:
    stack.register("scoped-a", *api_key_connector(host_of(stack.backend.url)))
    stack.register("scoped-b", *api_key_connector(host_of(stack.backend.url)))
    connector_scoped = create_subscription(stack, "svc-scoped", scope="connector:scoped-a")
    caller = keyed(connector_scoped["primaryKey"])
    mine_a = stack.connect(caller, "scoped-a", {"api_key": "k"})["id"]
    refused = caller.post(
        f"{stack.url}/api/connectors/scoped-b/connections", json={"displayName": "x", "parameters": {"api_key": "k"}}
    )
    assert refused.status_code == 404  # a connector-scoped key sees no other connector
    problem(refused)
    assert [c["id"] for c in caller.get(f"{stack.url}/api/connectors").json()["value"]] == ["scoped-a"]
    assert caller.get(f"{stack.url}/api/connections/{mine_a}/invoke/in-scope").status_code == 200

    # Same principal, an unrestricted key: it makes a connection of the other connector...
    unrestricted = keyed(create_subscription(stack, "svc-scoped")["primaryKey"])
    mine_b = stack.connect(unrestricted, "scoped-b", {"api_key": "k"})["id"]
    # ...which the connector-scoped key can't reach, though it's the owner's.
    assert caller.get(f"{stack.url}/api/connections/{mine_b}/invoke/out-of-scope").status_code == 403
    assert mine_b not in [c["id"] for c in caller.get(f"{stack.url}/api/connections").json()["value"]]

    connection_scoped = keyed(create_subscription(stack, "svc-scoped", scope=f"connection:{mine_b}")["primaryKey"])
    assert connection_scoped.get(f"{stack.url}/api/connections/{mine_b}/invoke/exact").status_code == 200
    assert connection_scoped.get(f"{stack.url}/api/connections/{mine_a}/invoke/other").status_code == 403
