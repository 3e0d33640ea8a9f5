"""Connector visibility: everyone, makers only, or listed principals and groups. Hidden connectors look absent."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.conftest import Stack, api_key_connector, host_of, problem

GROUP = "vis-group-" + uuid.uuid4().hex[:8]


def register_with_policy(stack: Stack, connector_id: str, policy: dict) -> requests.Response:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    body = {"apiDefinition": definition, "apiProperties": properties, "policy": policy}
    return stack.maker().put(f"{stack.url}/api/connectors/{connector_id}", json=body)


@pytest.fixture(scope="module")
def hidden(stack: Stack) -> None:
    assert register_with_policy(stack, "vis-makers", {"visibility": {"audience": "makers"}}).status_code == 201
    listed = {
        "visibility": {
            "audience": "listed",
            "principals": [stack.principal_id("vis-ann")],
            "groups": [stack.group_id(GROUP)],
        }
    }
    assert register_with_policy(stack, "vis-listed", listed).status_code == 201


def group_member(stack: Stack) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.issuer.mint({'sub': 'vis-member', 'groups': [GROUP]})}"
    return session


@pytest.mark.parametrize(
    ("who", "connector_id", "sees"),
    [
        ("maker", "vis-makers", True),
        ("bob", "vis-makers", False),
        ("maker", "vis-listed", True),
        ("ann", "vis-listed", True),
        ("member", "vis-listed", True),
        ("bob", "vis-listed", False),
    ],
)
def test_who_sees_which_connector(stack: Stack, hidden: None, who: str, connector_id: str, sees: bool) -> None:
    client = {"maker": stack.maker(), "ann": stack.client("vis-ann"), "bob": stack.client("vis-bob")}.get(who) or (
        group_member(stack)
    )
    shown = client.get(f"{stack.url}/api/connectors/{connector_id}")
    listed = [c["id"] for c in client.get(f"{stack.url}/api/connectors").json()["value"]]
    created = client.post(
        f"{stack.url}/api/connectors/{connector_id}/connections",
        json={"displayName": "x", "parameters": {"api_key": "k"}},
    )
    if sees:
        assert (shown.status_code, created.status_code) == (200, 201)
        assert connector_id in listed
    else:
        assert (shown.status_code, created.status_code) == (404, 404)
        assert connector_id not in listed
        problem(shown)


def test_bad_visibility_gets_a_problem_naming_the_field(stack: Stack) -> None:
    response = register_with_policy(stack, "vis-bad", {"visibility": {"audience": "friends"}})
    assert response.status_code == 400
    assert "/policy/visibility/audience" in [e["pointer"] for e in problem(response)["errors"]]
    response = register_with_policy(stack, "vis-bad", {"visibility": {"audience": "makers", "principals": ["x"]}})
    assert response.status_code == 400
    assert stack.maker().get(f"{stack.url}/api/connectors/vis-bad").status_code == 404
