"""Connections end to end: creation, validation, ownership, and consistency across Table Storage and Key Vault."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Stack, api_key_connector, host_of, problem

SECRET = "sk-live-" + uuid.uuid4().hex  # recognisable, so we can prove it appears nowhere it mustn't


@pytest.fixture(scope="module")
def connector_id(stack: Stack) -> str:
    connector_id = "conn-tests"
    stack.register(connector_id, *api_key_connector(host_of(stack.backend.url)))
    return connector_id


def test_create_answers_201_with_the_record_and_no_secret(stack: Stack, connector_id: str) -> None:
    alice = stack.client("alice")
    response = alice.post(
        f"{stack.url}/api/connectors/{connector_id}/connections",
        json={"displayName": "Alice's echo", "parameters": {"api_key": SECRET}},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "connectorId", "displayName", "status", "createdAt", "owner"}
    assert body["status"] == "Connected"
    assert body["connectorId"] == connector_id
    assert body["owner"] == stack.principal_id("alice")
    assert response.headers["Location"] == f"/api/connections/{body['id']}"
    assert SECRET not in response.text

    listed = alice.get(f"{stack.url}/api/connections").json()["value"]
    assert body["id"] in [c["id"] for c in listed]
    assert alice.get(f"{stack.url}/api/connections/{body['id']}").json() == {
        **body,
        "permissions": ["manage", "token", "use"],
    }


def test_secret_lives_only_in_key_vault(stack: Stack, connector_id: str) -> None:
    connection = stack.connect(stack.client("alice"), connector_id, {"api_key": SECRET})
    [record] = [e for e in stack.entities("connections") if e["PartitionKey"] == connection["id"]]
    assert SECRET not in repr(record)
    assert record["secretName"] in stack.keyvault_state()["secrets"]
    assert record["secretVersion"]
    for table in ("connections", "connectors", "keys"):
        assert SECRET not in repr(stack.entities(table))
    assert SECRET not in stack.gateway_log()


@pytest.mark.parametrize(
    ("body", "status", "slug", "pointer"),
    [
        ({"displayName": "x", "parameters": {"api_key": 42}}, 400, "invalid-parameters", "/parameters/api_key"),
        ({"displayName": "x", "parameters": {}}, 400, "invalid-parameters", "/parameters/api_key"),
        (
            {"displayName": "x", "parameters": {"api_key": "k", "extra": "v"}},
            400,
            "invalid-parameters",
            "/parameters/extra",
        ),
        ({"displayName": "", "parameters": {"api_key": "k"}}, 400, "invalid-parameters", "/displayName"),
        ({"displayName": "x", "parameters": {"api_key": "k"}, "surprise": 1}, 400, "invalid-parameters", "/surprise"),
        (["not", "an", "object"], 400, "bad-request", None),
    ],
)
def test_bad_parameters_get_a_problem_naming_them(
    stack: Stack, connector_id: str, body: object, status: int, slug: str, pointer: str | None
) -> None:
    before = len(stack.entities("connections"))
    response = stack.client("bob").post(f"{stack.url}/api/connectors/{connector_id}/connections", json=body)
    assert response.status_code == status
    details = problem(response)
    assert details["type"].endswith(slug)
    if pointer:
        assert pointer in [e["pointer"] for e in details["errors"]]
    assert len(stack.entities("connections")) == before  # nothing half-written


def test_bad_json_gets_a_problem(stack: Stack, connector_id: str) -> None:
    response = stack.client("bob").post(
        f"{stack.url}/api/connectors/{connector_id}/connections",
        data=b'{"displayName": "x", "parameters": {',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "line 1" in problem(response)["detail"]


def test_a_secret_value_is_never_echoed_in_a_validation_problem(stack: Stack) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    properties["properties"]["connectionParameters"]["region"] = {
        "type": "string",
        "allowedValues": [{"value": "eu"}, {"value": "us"}],
        "uiDefinition": {"displayName": "Region", "constraints": {"required": "true"}},
    }
    stack.register("with-region", definition, properties)
    response = stack.client("bob").post(
        f"{stack.url}/api/connectors/with-region/connections",
        json={"displayName": "x", "parameters": {"api_key": SECRET, "region": "mars"}},
    )
    assert response.status_code == 400
    details = problem(response)
    assert "/parameters/region" in [e["pointer"] for e in details["errors"]]
    assert SECRET not in response.text


def test_unknown_connector_is_404(stack: Stack) -> None:
    response = stack.client("bob").post(
        f"{stack.url}/api/connectors/no-such-connector/connections", json={"displayName": "x", "parameters": {}}
    )
    assert response.status_code == 404
    problem(response)


def test_other_principals_get_404_everywhere(stack: Stack, connector_id: str) -> None:
    connection = stack.connect(stack.client("alice"), connector_id, {"api_key": SECRET})
    mallory = stack.client("mallory", ("Connectors.Manage",))  # even a maker
    base = f"{stack.url}/api/connections/{connection['id']}"
    for method, url in [("GET", base), ("DELETE", base), ("GET", f"{base}/invoke/x"), ("POST", f"{base}/invoke/")]:
        response = mallory.request(method, url)
        assert response.status_code == 404, (method, url, response.text)
        assert problem(response)["type"].endswith("connection-not-found")  # as if it didn't exist
    assert connection["id"] not in [c["id"] for c in mallory.get(f"{stack.url}/api/connections").json()["value"]]
    assert stack.client("alice").get(base).status_code == 200  # untouched


def test_delete_removes_record_and_secret(stack: Stack, connector_id: str) -> None:
    alice = stack.client("alice")
    connection = stack.connect(alice, connector_id, {"api_key": SECRET})
    [record] = [e for e in stack.entities("connections") if e["PartitionKey"] == connection["id"]]
    assert alice.delete(f"{stack.url}/api/connections/{connection['id']}").status_code == 204
    assert connection["id"] not in [e["PartitionKey"] for e in stack.entities("connections")]
    state = stack.keyvault_state()
    assert record["secretName"] not in state["secrets"]
    assert record["secretName"] not in state["deleted"]  # purged, so no soft-deleted name lingers
    assert alice.get(f"{stack.url}/api/connections/{connection['id']}").status_code == 404


def test_key_vault_outage_during_creation_leaves_nothing_behind(stack: Stack, connector_id: str) -> None:
    carol = f"carol-{uuid.uuid4().hex[:8]}"  # a principal of its own: other tests' connections aren't hers
    before_records = {e["PartitionKey"] for e in stack.entities("connections")}
    before_secrets = stack.keyvault_state()
    stack.keyvault_faults(status=503, count=50, method="PUT")
    try:
        response = stack.client(carol).post(
            f"{stack.url}/api/connectors/{connector_id}/connections",
            json={"displayName": "x", "parameters": {"api_key": SECRET}},
        )
    finally:
        stack.clear_keyvault_faults()
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    problem(response)
    assert {e["PartitionKey"] for e in stack.entities("connections")} == before_records
    assert stack.keyvault_state() == before_secrets
    assert stack.client(carol).get(f"{stack.url}/api/connections").json()["value"] == []


def test_total_outage_leaves_a_pending_record_the_cleanup_timer_finishes(stack: Stack, connector_id: str) -> None:
    dave = f"dave-{uuid.uuid4().hex[:8]}"
    before = {e["PartitionKey"] for e in stack.entities("connections")}
    stack.keyvault_faults(status=503, count=1000)  # every Key Vault call fails, cleanup included
    try:
        response = stack.client(dave).post(
            f"{stack.url}/api/connectors/{connector_id}/connections",
            json={"displayName": "x", "parameters": {"api_key": SECRET}},
        )
    finally:
        stack.clear_keyvault_faults()
    assert response.status_code == 503
    left = [e for e in stack.entities("connections") if e["PartitionKey"] not in before]
    assert [e["status"] for e in left] in ([], ["Deleting"], ["Pending"])  # never Connected
    assert stack.client(dave).request("GET", f"{stack.url}/api/connections").status_code == 200

    assert stack.run_function("cleanup").status_code == 202
    assert [e for e in stack.entities("connections") if e["PartitionKey"] not in before] == []
    for e in left:
        assert e["secretName"] not in stack.keyvault_state()["secrets"]
