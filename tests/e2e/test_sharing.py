"""Sharing and the audit log: every principal x endpoint x permission, asserting the exact status."""

from __future__ import annotations

import uuid

import pytest
import requests

from devtools.stack import StackError
from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of, problem

SECRET = "share-secret-" + uuid.uuid4().hex
GROUP = "0d5a7a8e-2f7e-4c1b-9a55-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def shared_connection(stack: Stack) -> str:
    stack.register("share-echo", *api_key_connector(host_of(stack.backend.url)))
    owner = stack.client("sh-owner")
    connection_id = stack.connect(owner, "share-echo", {"api_key": SECRET})["id"]
    base = f"{stack.url}/api/connections/{connection_id}/shares"
    for body in (
        {"principal": stack.principal_id("sh-user"), "permissions": ["use"]},
        {"principal": stack.principal_id("sh-manager"), "permissions": ["manage"]},
        {"group": stack.group_id(GROUP), "permissions": ["use"]},
    ):
        assert owner.post(base, json=body).status_code == 201
    return connection_id


def clients(stack: Stack) -> dict[str, requests.Session]:
    group_member = requests.Session()
    token = stack.issuer.mint({"sub": "sh-member", "groups": [GROUP]})
    group_member.headers["Authorization"] = f"Bearer {token}"
    return {
        "owner": stack.client("sh-owner"),
        "shared-use": stack.client("sh-user"),
        "shared-manage": stack.client("sh-manager"),
        "group-use": group_member,
        "stranger": stack.client("sh-stranger"),
        "maker": stack.client("sh-maker", (MAKER_ROLE,)),
    }


# Expected status per endpoint for each principal (None: the endpoint isn't tried for that principal).
MATRIX = {
    #                        owner shared-use shared-manage group-use stranger maker
    ("GET", ""): (200, 200, 200, 200, 404, 404),
    ("GET", "/invoke/m"): (200, 200, 200, 200, 404, 404),
    ("POST", "/invoke/m"): (200, 200, 200, 200, 404, 404),
    ("GET", "/shares"): (200, 403, 200, 403, 404, 404),
    ("GET", "/audit"): (200, 403, 200, 403, 404, 404),
    ("POST", "/reauthorize"): (409, 403, 409, 403, 404, 404),
    ("GET", "/token"): (403, 403, 403, 403, 404, 404),
}
PRINCIPALS = ("owner", "shared-use", "shared-manage", "group-use", "stranger", "maker")
CASES = [
    (who, method, suffix, statuses[i])
    for (method, suffix), statuses in MATRIX.items()
    for i, who in enumerate(PRINCIPALS)
]


@pytest.mark.parametrize(("who", "method", "suffix", "status"), CASES, ids=[f"{c[0]}-{c[1]}{c[2]}" for c in CASES])
def test_matrix(stack: Stack, shared_connection: str, who: str, method: str, suffix: str, status: int) -> None:
    response = clients(stack)[who].request(method, f"{stack.url}/api/connections/{shared_connection}{suffix}")
    assert response.status_code == status, response.text
    if status >= 400:
        details = problem(response)
        assert shared_connection not in details["detail"] or status == 404
        assert SECRET not in response.text


def test_shared_connections_are_listed_with_the_callers_permissions(stack: Stack, shared_connection: str) -> None:
    for who, permissions in (("shared-use", ["use"]), ("shared-manage", ["manage", "use"]), ("group-use", ["use"])):
        listed = {c["id"]: c for c in clients(stack)[who].get(f"{stack.url}/api/connections").json()["value"]}
        assert listed[shared_connection]["permissions"] == permissions, who
    stranger = clients(stack)["stranger"].get(f"{stack.url}/api/connections").json()["value"]
    assert shared_connection not in [c["id"] for c in stranger]


def test_share_validation_and_owner_only_rules(stack: Stack, shared_connection: str) -> None:
    owner = clients(stack)["owner"]
    base = f"{stack.url}/api/connections/{shared_connection}/shares"
    for body in ({"principal": ""}, {"principal": "x", "group": "y"}, {"principal": "x", "permissions": ["root"]}, []):
        response = owner.post(base, json=body)
        assert response.status_code == 400, body
        problem(response)
    assert owner.post(base, json={"principal": stack.principal_id("sh-owner")}).status_code == 400
    assert clients(stack)["shared-use"].post(base, json={"principal": "anyone"}).status_code == 403


def test_manager_can_share_and_revoke_and_the_revoked_lose_access(stack: Stack, shared_connection: str) -> None:
    manager = clients(stack)["shared-manage"]
    base = f"{stack.url}/api/connections/{shared_connection}/shares"
    friend = stack.client("sh-friend")
    invoke = f"{stack.url}/api/connections/{shared_connection}/invoke/friend"
    assert friend.get(invoke).status_code == 404
    share = manager.post(base, json={"principal": stack.principal_id("sh-friend"), "permissions": ["use"]}).json()
    assert friend.get(invoke).status_code == 200
    assert manager.delete(f"{base}/{share['id']}").status_code == 204
    assert friend.get(invoke).status_code == 404
    assert shared_connection not in [c["id"] for c in friend.get(f"{stack.url}/api/connections").json()["value"]]
    assert manager.delete(f"{base}/{share['id']}").status_code == 404


def test_audit_log_records_who_did_what_with_use_aggregated(stack: Stack, shared_connection: str) -> None:
    user = clients(stack)["shared-use"]
    for _ in range(5):
        assert user.get(f"{stack.url}/api/connections/{shared_connection}/invoke/audited").status_code == 200
    entries = clients(stack)["owner"].get(f"{stack.url}/api/connections/{shared_connection}/audit").json()["value"]
    actions = [e["action"] for e in entries]
    assert "created" in actions
    assert actions.count("shared") >= 3
    uses = [e for e in entries if e["action"] == "used" and e["principal"] == stack.principal_id("sh-user")]
    assert len(uses) == 1  # one aggregated row, not one per call
    assert uses[0]["count"] >= 5
    assert SECRET not in repr(entries)
    assert SECRET not in repr(stack.entities("audit"))
    assert SECRET not in repr(stack.entities("grants"))


def test_delete_by_a_manager_is_audited_and_removes_the_grants(stack: Stack) -> None:
    owner = stack.client("sh-owner2")
    connection_id = stack.connect(owner, "share-echo", {"api_key": SECRET})["id"]
    manager = stack.client("sh-manager2")
    shares = f"{stack.url}/api/connections/{connection_id}/shares"
    assert owner.post(shares, json={"principal": stack.principal_id("sh-manager2"), "permissions": ["manage"]}).ok
    assert clients(stack)["shared-use"].delete(f"{stack.url}/api/connections/{connection_id}").status_code == 404
    assert manager.delete(f"{stack.url}/api/connections/{connection_id}").status_code == 204
    assert connection_id not in [e["RowKey"] for e in stack.entities("grants")]
    deleted = [e for e in stack.entities("audit") if e["PartitionKey"] == connection_id and e["action"] == "deleted"]
    assert [e["principal"] for e in deleted] == [stack.principal_id("sh-manager2")]


def test_principals_and_groups_live_in_distinct_namespaces(stack: Stack, shared_connection: str) -> None:
    """A subscription key's principal is chosen by whoever mints it: one named like a group grantee would match that
    group's shares. So neither the API nor the operator's CLI mints one, and no share names a principal that way."""
    group_form = f"group:{stack.group_id(GROUP)}"
    admin = stack.client("sh-admin", (MAKER_ROLE, "Connectors.Admin"))
    minted = admin.post(f"{stack.url}/api/subscriptions", json={"displayName": "g", "principal": group_form})
    assert minted.status_code == 400, minted.text
    assert [e["pointer"] for e in problem(minted)["errors"]] == ["/principal"]
    with pytest.raises(StackError, match="group"):
        stack.key(group_form)
    assert not [e for e in stack.entities("keys") if e.get("principal") == group_form]

    owner = clients(stack)["owner"]
    before = owner.get(f"{stack.url}/api/connections/{shared_connection}/shares").json()["value"]
    refused = owner.post(f"{stack.url}/api/connections/{shared_connection}/shares", json={"principal": group_form})
    assert refused.status_code == 400, refused.text
    assert [e["pointer"] for e in problem(refused)["errors"]] == ["/principal"]
    assert owner.get(f"{stack.url}/api/connections/{shared_connection}/shares").json()["value"] == before

    connector_shares = f"{stack.url}/api/connectors/share-echo/shares"  # share-echo's owner is the stack's maker
    refused = stack.maker().post(connector_shares, json={"principal": group_form})
    assert refused.status_code == 400, refused.text
    assert "/principal" in [e["pointer"] for e in problem(refused)["errors"]]
    assert group_form not in repr(stack.maker().get(connector_shares).json())
