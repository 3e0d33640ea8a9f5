"""PATCH /api/connections/{id}: a new display name, or a rotated credential that the very next invoke carries."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from shared.connectors import decode_document
from tests.e2e.conftest import Stack, api_key_connector, host_of, problem
from tests.support.backend import RecordingBackend
from tests.support.connector_files import CURATED_CONNECTORS, read_connector_files

OLD = "sk-old-" + uuid.uuid4().hex
NEW = "sk-new-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def connector_id(stack: Stack) -> str:
    stack.register("patch-tests", *api_key_connector(host_of(stack.backend.url)))
    return "patch-tests"


def _invoke_key(stack: Stack, client, connection_id: str) -> str | None:
    stack.backend.clear()
    response = client.get(f"{stack.url}/api/connections/{connection_id}/invoke/ping")
    assert response.status_code == 200, response.text
    return stack.backend.requests[-1].header("X-Api-Key")


def test_patch_rotates_the_credential_and_the_next_invoke_carries_it(stack: Stack, connector_id: str) -> None:
    alice = stack.client("alice")
    connection = stack.connect(alice, connector_id, {"api_key": OLD})
    connection_id = connection["id"]
    assert _invoke_key(stack, alice, connection_id) == OLD  # the gateway now caches (secret name, old version)
    before = stack.connection_record(connection_id)

    response = alice.patch(f"{stack.url}/api/connections/{connection_id}", json={"parameters": {"api_key": NEW}})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Connected"
    assert OLD not in response.text and NEW not in response.text

    after = stack.connection_record(connection_id)
    assert after["secretName"] == before["secretName"]
    assert after["secretVersion"] != before["secretVersion"]
    assert stack.keyvault_secret(after["secretName"], after["secretVersion"])["values"] == {"api_key": NEW}
    with pytest.raises(HttpResponseError) as refused:  # the old version is disabled: Key Vault won't read it
        stack.keyvault_secret(before["secretName"], before["secretVersion"])
    assert refused.value.status_code == 403

    # The cache is keyed by (name, version) and the record names the new version: the old key can't come back.
    assert _invoke_key(stack, alice, connection_id) == NEW
    assert _invoke_key(stack, alice, connection_id) == NEW

    audit = alice.get(f"{stack.url}/api/connections/{connection_id}/audit").json()["value"]
    updated = [entry for entry in audit if entry["action"] == "updated"]
    assert len(updated) == 1
    assert "api_key" in updated[0]["detail"]
    for table in ("connections", "connectors", "audit"):
        assert NEW not in repr(stack.entities(table)) and OLD not in repr(stack.entities(table))
    assert NEW not in stack.gateway_log() and OLD not in stack.gateway_log()


def test_patch_renames_without_a_new_secret_version(stack: Stack, connector_id: str) -> None:
    alice = stack.client("alice")
    connection_id = stack.connect(alice, connector_id, {"api_key": "k-" + uuid.uuid4().hex})["id"]
    before = stack.connection_record(connection_id)
    response = alice.patch(f"{stack.url}/api/connections/{connection_id}", json={"displayName": "  Renamed  "})
    assert response.status_code == 200, response.text
    assert response.json()["displayName"] == "Renamed"
    assert response.json()["permissions"] == ["manage", "token", "use"]
    after = stack.connection_record(connection_id)
    assert after["secretVersion"] == before["secretVersion"]
    assert alice.get(f"{stack.url}/api/connections/{connection_id}").json()["displayName"] == "Renamed"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"parameters": {"api_key": 42}}, "/parameters/api_key"),
        ({"parameters": {"api_key": None}}, "/parameters/api_key"),
        ({"parameters": {"surprise": "x"}}, "/parameters/surprise"),
        ({"displayName": ""}, "/displayName"),
        ({"owner": "mallory"}, "/owner"),
        ({}, ""),
    ],
)
def test_bad_patches_change_nothing(stack: Stack, connector_id: str, body: dict, pointer: str) -> None:
    alice = stack.client("alice")
    secret = "k-" + uuid.uuid4().hex
    connection_id = stack.connect(alice, connector_id, {"api_key": secret})["id"]
    before = stack.connection_record(connection_id)
    response = alice.patch(f"{stack.url}/api/connections/{connection_id}", json=body)
    assert response.status_code == 400
    details = problem(response)
    assert details["type"].endswith("invalid-parameters")
    assert pointer in [error["pointer"] for error in details["errors"]]
    after = stack.connection_record(connection_id)
    assert (after["secretVersion"], after["displayName"], after["owner"]) == (
        before["secretVersion"],
        before["displayName"],
        before["owner"],
    )
    assert _invoke_key(stack, alice, connection_id) == secret


def test_only_owners_and_managers_patch(stack: Stack, connector_id: str) -> None:
    alice, bob, carol = stack.client("alice"), stack.client("bob"), stack.client("carol")
    secret = "k-" + uuid.uuid4().hex
    connection_id = stack.connect(alice, connector_id, {"api_key": secret})["id"]
    url = f"{stack.url}/api/connections/{connection_id}"
    for grantee, permissions in (("bob", ["use"]), ("carol", ["use", "manage"])):
        shared = alice.post(
            f"{url}/shares", json={"principal": stack.principal_id(grantee), "permissions": permissions}
        )
        assert shared.status_code == 201, shared.text

    refused = bob.patch(url, json={"parameters": {"api_key": "bob-was-here"}})
    assert refused.status_code == 403
    assert problem(refused)["type"].endswith("forbidden")
    stranger = stack.client("mallory").patch(url, json={"displayName": "mine"})
    assert stranger.status_code == 404
    assert _invoke_key(stack, alice, connection_id) == secret

    managed = carol.patch(url, json={"parameters": {"api_key": "carol-rotated"}})
    assert managed.status_code == 200, managed.text
    assert _invoke_key(stack, alice, connection_id) == "carol-rotated"
    actors = [e["principal"] for e in alice.get(f"{url}/audit").json()["value"] if e["action"] == "updated"]
    assert actors == [stack.principal_id("carol")]


def test_patch_runs_the_test_connection_and_a_refused_key_changes_nothing(stack: Stack) -> None:
    """App Power Forms declares a test operation: creation calls it, and so does a PATCH of the key."""
    raw_definition, raw_properties = read_connector_files(
        CURATED_CONNECTORS / "certified-connectors" / "App Power Forms"
    )
    definition = decode_document(raw_definition, "apiDefinition.swagger.json")
    properties = decode_document(raw_properties, "apiProperties.json")
    with RecordingBackend() as backend:
        definition["host"], definition["schemes"] = host_of(backend.url), ["http"]
        stack.register("patch-forms", definition, properties)
        backend.respond("/api/MetadataTestConnection", status=200, body={"ok": True})
        alice = stack.client("alice")
        connection_id = stack.connect(alice, "patch-forms", {"api_key": OLD})["id"]
        before = stack.connection_record(connection_id)

        refused = "refused-" + uuid.uuid4().hex
        backend.respond("/api/MetadataTestConnection", status=401, body={"error": "bad key"})
        backend.clear()
        response = alice.patch(
            f"{stack.url}/api/connections/{connection_id}", json={"parameters": {"api_key": refused}}
        )
        assert response.status_code == 400, response.text
        assert problem(response)["type"].endswith("test-connection-failed")
        assert [r.header("api-key") for r in backend.requests] == [refused]
        assert stack.connection_record(connection_id)["secretVersion"] == before["secretVersion"]
        assert refused not in str(stack.entities("connections"))

        backend.respond("/api/MetadataTestConnection", status=200, body={"ok": True})
        backend.clear()
        accepted = alice.patch(f"{stack.url}/api/connections/{connection_id}", json={"parameters": {"api_key": NEW}})
        assert accepted.status_code == 200, accepted.text
        assert [r.header("api-key") for r in backend.requests] == [NEW]
