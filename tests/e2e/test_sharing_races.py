"""Sharing a connection while something else writes its record: the change is retried on the fresh record, or
refused with a 409 problem when the record keeps changing, never a 500.

The interleaving is forced: a second gateway reaches Table Storage through a stand-in that, when that gateway's
conditional write of the shares arrives, first lets a competing share land through the stack's own gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import GatewayFactory, Stack, api_key_connector, host_of, problem
from tests.support.table_standin import TableStandin

SECRET = "race-secret-" + uuid.uuid4().hex
SHARES_WRITE = {"method": "PATCH", "path_regex": "connections"}  # the ETag-conditional merge of the record


@pytest.fixture(scope="module")
def standin(stack: Stack) -> Iterator[TableStandin]:
    with TableStandin(stack.env["TABLES_CONNECTION_STRING"]) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def racing_gateway(stack: Stack, standin: TableStandin, start_gateway_process: GatewayFactory) -> str:
    stack.register("race-echo", *api_key_connector(host_of(stack.backend.url)))
    return start_gateway_process({"TABLES_CONNECTION_STRING": standin.connection_string})


@pytest.fixture(autouse=True)
def _clean(standin: TableStandin) -> Iterator[None]:
    yield
    standin.clear()


def shares_of(session: requests.Session, base: str, connection_id: str) -> dict[str, dict]:
    response = session.get(f"{base}/api/connections/{connection_id}/shares")
    assert response.status_code == 200, response.text
    return {share["principal"]: share for share in response.json()["value"] if "principal" in share}


def competing_share(stack: Stack, owner: requests.Session, connection_id: str, subject: str, seen: list[int]):
    def share() -> None:
        body = {"principal": stack.principal_id(subject), "permissions": ["use"]}
        seen.append(owner.post(f"{stack.url}/api/connections/{connection_id}/shares", json=body).status_code)

    return share


def test_a_share_that_loses_the_race_is_made_on_the_fresh_record(
    stack: Stack, standin: TableStandin, racing_gateway: str
) -> None:
    owner = stack.client("race-owner")
    connection_id = stack.connect(owner, "race-echo", {"api_key": SECRET})["id"]
    competing: list[int] = []
    standin.before(competing_share(stack, owner, connection_id, "race-other", competing), **SHARES_WRITE)
    body = {"principal": stack.principal_id("race-user"), "permissions": ["use"]}
    response = owner.post(f"{racing_gateway}/api/connections/{connection_id}/shares", json=body)
    assert competing == [201]  # the competing share landed between the racing gateway's read and its write
    assert response.status_code == 201, response.text
    shares = shares_of(owner, stack.url, connection_id)
    assert set(shares) == {stack.principal_id("race-user"), stack.principal_id("race-other")}  # neither lost
    assert stack.client("race-user").get(f"{stack.url}/api/connections/{connection_id}").status_code == 200


def test_an_unshare_that_loses_the_race_is_made_on_the_fresh_record(
    stack: Stack, standin: TableStandin, racing_gateway: str
) -> None:
    owner = stack.client("race-owner")
    connection_id = stack.connect(owner, "race-echo", {"api_key": SECRET})["id"]
    doomed = stack.principal_id("race-doomed")
    assert owner.post(f"{stack.url}/api/connections/{connection_id}/shares", json={"principal": doomed}).ok
    share_id = shares_of(owner, stack.url, connection_id)[doomed]["id"]
    competing: list[int] = []
    standin.before(competing_share(stack, owner, connection_id, "race-kept", competing), **SHARES_WRITE)
    response = owner.delete(f"{racing_gateway}/api/connections/{connection_id}/shares/{share_id}")
    assert competing == [201]
    assert response.status_code == 204, response.text
    assert set(shares_of(owner, stack.url, connection_id)) == {stack.principal_id("race-kept")}
    assert stack.client("race-doomed").get(f"{stack.url}/api/connections/{connection_id}").status_code == 404


@pytest.mark.parametrize("change", ["share", "unshare"])
def test_a_record_that_keeps_changing_gets_a_409_problem_and_nothing_changes(
    stack: Stack, standin: TableStandin, racing_gateway: str, change: str
) -> None:
    owner = stack.client("race-owner")
    connection_id = stack.connect(owner, "race-echo", {"api_key": SECRET})["id"]
    existing = stack.principal_id("race-existing")
    assert owner.post(f"{stack.url}/api/connections/{connection_id}/shares", json={"principal": existing}).ok
    share_id = shares_of(owner, stack.url, connection_id)[existing]["id"]
    competing: list[int] = []
    for attempt in range(20):  # more than the gateway tries; left-over rules are cleared after the test
        standin.before(competing_share(stack, owner, connection_id, f"race-busy-{attempt}", competing), **SHARES_WRITE)
    shares = f"{racing_gateway}/api/connections/{connection_id}/shares"
    if change == "share":
        response = owner.post(shares, json={"principal": stack.principal_id("race-refused")})
    else:
        response = owner.delete(f"{shares}/{share_id}")
    assert response.status_code == 409, response.text
    assert problem(response)["type"] == "urn:connector-gateway:problem:connection-changed-meanwhile"
    assert competing and set(competing) == {201}
    after = shares_of(owner, stack.url, connection_id)
    assert existing in after and stack.principal_id("race-refused") not in after
    assert len(after) == 1 + len(competing)  # every competing share kept, nothing of the refused change
    audit = [e for e in stack.entities("audit") if e["PartitionKey"] == connection_id]
    actions = [(e["action"], e.get("detail", "")) for e in audit]
    assert ("unshared", existing) not in actions
    assert not [a for a in actions if "race-refused" in a[1]]
