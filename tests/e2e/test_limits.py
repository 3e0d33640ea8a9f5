"""Connector policies and limits end to end: the policy on PUT/GET and in connection snapshots, rate limits
and quotas on invoke with their headers, counters shared by two gateway processes, and their cleanup."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from shared.limits import table_key
from shared.limits._store import read_int
from tests.e2e.conftest import GatewayFactory, Stack, api_key_connector, host_of, problem


def put_connector(stack: Stack, connector_id: str, policy: Any = None, **extra: Any) -> requests.Response:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    body = {"apiDefinition": definition, "apiProperties": properties, **extra}
    if policy is not None:
        body["policy"] = policy
    return stack.maker().put(f"{stack.url}/api/connectors/{connector_id}", json=body)


def limited_connection(stack: Stack, policy: dict, owner: str = "lena") -> tuple[requests.Session, str, str]:
    """A new connector with `policy` and one connection of `owner`: (owner's session, connection id, connector id)."""
    connector_id = "lim-" + uuid.uuid4().hex[:8]
    response = put_connector(stack, connector_id, policy)
    assert response.status_code == 201, response.text
    client = stack.client(owner)
    return client, stack.connect(client, connector_id, {"api_key": "k-" + uuid.uuid4().hex})["id"], connector_id


def invoke_url(base: str, connection_id: str, path: str = "items") -> str:
    return f"{base}/api/connections/{connection_id}/invoke/{path}"


def backend_calls(stack: Stack, connection_path: str) -> int:
    return sum(1 for r in stack.backend.requests if r.path == f"/v1/{connection_path}")


# --- the policy on the connector --------------------------------------------------------------


def test_an_invalid_policy_is_refused_with_pointers_to_each_mistake(stack: Stack) -> None:
    response = put_connector(
        stack,
        "bad-policy",
        {"ipFilter": {"forbid": ["10.0.0.300"]}, "rateLimit": {"calls": 0, "periodSeconds": 60}, "cache": True},
    )
    body = problem(response)
    assert body["status"] == 400
    assert {e["pointer"] for e in body["errors"]} == {
        "/policy/ipFilter/forbid/0",
        "/policy/rateLimit/calls",
        "/policy/cache",
    }
    assert stack.maker().get(f"{stack.url}/api/connectors/bad-policy").status_code == 404  # nothing stored


def test_the_policy_is_stored_shown_and_replaced_with_the_connector(stack: Stack) -> None:
    policy = {"rateLimit": {"calls": 5, "periodSeconds": 60}, "quota": {"calls": 100, "renewalPeriodSeconds": 3600}}
    canonical = {
        "rateLimit": {"calls": 5, "periodSeconds": 60, "key": "connection"},
        "quota": {"calls": 100, "bandwidthBytes": None, "renewalPeriodSeconds": 3600, "key": "connection"},
    }
    created = put_connector(stack, "with-policy", policy)
    assert created.status_code == 201, created.text
    assert created.json()["policy"] == canonical
    assert stack.client("anyone").get(f"{stack.url}/api/connectors/with-policy").json()["policy"] == canonical
    listed = stack.client("anyone").get(f"{stack.url}/api/connectors").json()["value"]
    assert next(c for c in listed if c["id"] == "with-policy")["policy"] == canonical

    # multipart: the policy is a part holding JSON text
    definition, properties = api_key_connector(host_of(stack.backend.url))
    parts = {
        "apiDefinition": ("apiDefinition.swagger.json", json.dumps(definition), "application/json"),
        "apiProperties": ("apiProperties.json", json.dumps(properties), "application/json"),
    }
    multipart_policy = {"ipFilter": {"allow": ["127.0.0.0/8"]}}
    replaced = stack.maker().put(
        f"{stack.url}/api/connectors/with-policy", files=parts, data={"policy": json.dumps(multipart_policy)}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["policy"] == {"ipFilter": {"allow": ["127.0.0.0/8"], "forbid": []}}
    broken = stack.maker().put(f"{stack.url}/api/connectors/with-policy", files=parts, data={"policy": "{calls: 5"})
    assert [e["pointer"] for e in problem(broken)["errors"]] == ["/policy"]

    # PUT replaces the whole connector: without a policy, it has none
    assert put_connector(stack, "with-policy").json()["policy"] is None
    assert stack.maker().get(f"{stack.url}/api/connectors/with-policy").json()["policy"] is None


def test_replacing_a_connector_puts_its_policy_into_existing_connections(stack: Stack) -> None:
    assert put_connector(stack, "late-policy").status_code == 201
    mia = stack.client("mia")
    connection_id = stack.connect(mia, "late-policy", {"api_key": "k"})["id"]
    for _ in range(3):
        assert mia.get(invoke_url(stack.url, connection_id)).status_code == 200

    policy = {"rateLimit": {"calls": 1, "periodSeconds": 60}}
    assert put_connector(stack, "late-policy", policy).status_code == 200
    snapshot = json.loads(stack.connection_record(connection_id)["connector0"])
    assert snapshot["policy"] == {"rateLimit": {"calls": 1, "periodSeconds": 60, "key": "connection"}}
    assert mia.get(invoke_url(stack.url, connection_id)).status_code == 200
    assert mia.get(invoke_url(stack.url, connection_id)).status_code == 429


# --- rate limits and quotas on invoke ---------------------------------------------------------


def test_every_invoke_carries_the_remaining_calls_of_the_connection_limit(stack: Stack) -> None:
    stack.backend.respond("/v1/own-limits", headers={"X-RateLimit-Remaining": "999", "x-ratelimit-limit": "1000"})
    client, connection_id, _ = limited_connection(stack, {"ipFilter": {"forbid": ["10.9.9.9"]}})
    remaining = []
    for _ in range(2):
        response = client.get(invoke_url(stack.url, connection_id, "own-limits"))
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "500"  # the deployment's default, not the backend's
        assert '"connection";q=500;w=60' in response.headers["RateLimit-Policy"]
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [499, 498]


def test_a_connector_rate_limit_refuses_the_call_past_the_limit(stack: Stack) -> None:
    client, connection_id, connector_id = limited_connection(stack, {"rateLimit": {"calls": 3, "periodSeconds": 60}})
    path = f"rate-{connection_id}"
    remaining = []
    for _ in range(3):
        response = client.get(invoke_url(stack.url, connection_id, path))
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Limit"] == "3"  # the tightest limit
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]

    refused = client.get(invoke_url(stack.url, connection_id, path))
    body = problem(refused)
    assert refused.status_code == 429
    assert body["type"].endswith(":rate-limited")
    assert f"connector '{connector_id}'" in body["detail"]
    assert "3 calls per 60 s" in body["detail"]
    # A sliding-window counter frees a slot once enough of the last window's weight has slid out:
    # up to one period plus (1 - (calls-1)/calls) of the next, 80 s here.
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 + 20
    assert body["retry_after_seconds"] == int(refused.headers["Retry-After"])
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert '"connector-connection";q=3;w=60' in refused.headers["RateLimit-Policy"]
    assert backend_calls(stack, path) == 3  # the refused call never reached the backend


def test_a_per_principal_limit_counts_the_principal_across_connections(stack: Stack) -> None:
    policy = {"rateLimit": {"calls": 2, "periodSeconds": 3600, "key": "principal"}}
    # Principals of this test's own: a per-principal counter must not meet another test's calls.
    nina, first, connector_id = limited_connection(stack, policy, owner=f"nina-{uuid.uuid4().hex[:8]}")
    second = stack.connect(nina, connector_id, {"api_key": "k"})["id"]
    assert nina.get(invoke_url(stack.url, first)).status_code == 200
    assert nina.get(invoke_url(stack.url, second)).status_code == 200
    refused = nina.get(invoke_url(stack.url, first))
    assert refused.status_code == 429
    assert "per-principal" in problem(refused)["detail"]
    # Another principal has a counter of its own.
    omar = stack.client(f"omar-{uuid.uuid4().hex[:8]}")
    theirs = stack.connect(omar, connector_id, {"api_key": "k"})["id"]
    assert omar.get(invoke_url(stack.url, theirs)).status_code == 200


def test_a_per_subscription_limit_counts_each_subscription_key_and_keyless_callers_as_their_principal(
    stack: Stack,
) -> None:
    policy = {"rateLimit": {"calls": 1, "periodSeconds": 3600, "key": "subscription"}}
    owner = f"quinn-{uuid.uuid4().hex[:8]}"
    quinn, connection_id, _ = limited_connection(stack, policy, owner=owner)
    url = invoke_url(stack.url, connection_id)
    first_key, second_key = (stack.key(stack.principal_id(owner)) for _ in range(2))  # a subscription each
    with_key = [requests.get(url, headers={"Ocp-Apim-Subscription-Key": key}, timeout=10) for key in (first_key,) * 2]
    assert [r.status_code for r in with_key] == [200, 429]
    assert "per-subscription" in problem(with_key[1])["detail"]
    assert requests.get(url, headers={"Ocp-Apim-Subscription-Key": second_key}, timeout=10).status_code == 200
    assert [quinn.get(url).status_code for _ in range(2)] == [200, 429]  # the token caller: its principal


def test_a_used_up_quota_is_403_with_retry_after(stack: Stack) -> None:
    policy = {"quota": {"calls": 2, "renewalPeriodSeconds": 86400}}
    client, connection_id, _ = limited_connection(stack, policy)
    for _ in range(2):
        assert client.get(invoke_url(stack.url, connection_id)).status_code == 200
    refused = client.get(invoke_url(stack.url, connection_id))
    body = problem(refused)
    assert refused.status_code == 403
    assert body["type"].endswith(":quota-exceeded")
    assert "quota of 2 calls per 86400 s is used up" in body["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400


def test_a_call_the_quota_refuses_uses_none_of_the_rate_limits_budget(stack: Stack) -> None:
    # Per principal: 2 calls an hour; per connection: 1 call a day. Order: connection limit, rate, quota.
    policy = {
        "rateLimit": {"calls": 2, "periodSeconds": 3600, "key": "principal"},
        "quota": {"calls": 1, "renewalPeriodSeconds": 86400, "key": "connection"},
    }
    owner = "gia-" + uuid.uuid4().hex[:6]
    client, first, connector_id = limited_connection(stack, policy, owner=owner)
    second = stack.connect(client, connector_id, {"api_key": "k"})["id"]
    assert client.get(invoke_url(stack.url, first)).status_code == 200
    for _ in range(3):  # each refused by the quota; had they kept the rate limit's count, the third would be 429
        refused = client.get(invoke_url(stack.url, first))
        assert refused.status_code == 403
        assert problem(refused)["type"].endswith(":quota-exceeded")
    assert client.get(invoke_url(stack.url, second)).status_code == 200  # the principal's 2nd counted call

    counters = {(row["PartitionKey"], row["RowKey"]): row for row in stack.entities("limits")}
    principal_key = table_key(f"connector:{connector_id}/principal:{stack.principal_id(owner)}")
    connection_key = table_key(f"connection:{first}")
    counted = [
        read_int(counters[(key, row)], "Current") + read_int(counters[(key, row)], "Previous")
        for key, row in ((principal_key, "rate-3600"), (connection_key, "rate-60"))
    ]
    assert counted == [2, 1]  # only admitted calls count


def test_a_bandwidth_quota_counts_request_and_response_bodies(stack: Stack) -> None:
    policy = {"quota": {"bandwidthBytes": 300, "renewalPeriodSeconds": 3600}}
    client, connection_id, _ = limited_connection(stack, policy)
    first = client.post(invoke_url(stack.url, connection_id), data=b"x" * 100)
    assert first.status_code == 200
    assert 100 + len(first.content) >= 300  # the echo made the response big enough to use up the rest
    refused = client.post(invoke_url(stack.url, connection_id), data=b"y")
    assert refused.status_code == 403
    assert "300 bytes" in problem(refused)["detail"]


def test_the_deployment_connection_limit_applies_without_a_policy(
    stack: Stack, start_gateway_process: GatewayFactory
) -> None:
    limited = start_gateway_process({"LIMIT_CONNECTION_CALLS_PER_MINUTE": "2"})
    client, connection_id, _ = limited_connection(stack, {"ipFilter": {"forbid": ["10.9.9.9"]}})
    assert [client.get(invoke_url(limited, connection_id)).status_code for _ in range(3)] == [200, 200, 429]
    detail = problem(client.get(invoke_url(limited, connection_id)))["detail"]
    assert "The connection rate limit of 2 calls per 60 s is reached" in detail


# --- counters shared by gateway processes -----------------------------------------------------


@pytest.fixture(scope="module")
def second_gateway(start_gateway_process: GatewayFactory) -> str:
    return start_gateway_process({})


def test_two_gateway_processes_share_one_counter(stack: Stack, second_gateway: str) -> None:
    client, connection_id, _ = limited_connection(stack, {"rateLimit": {"calls": 10, "periodSeconds": 3600}})
    path = f"shared-{connection_id}"
    statuses = [
        client.get(invoke_url(base, connection_id, path)).status_code for base in [stack.url, second_gateway] * 8
    ]
    assert statuses == [200] * 10 + [429] * 6
    assert backend_calls(stack, path) == 10


def test_concurrent_calls_through_two_processes_admit_exactly_the_limit(stack: Stack, second_gateway: str) -> None:
    limit = 12
    _, connection_id, _ = limited_connection(stack, {"rateLimit": {"calls": limit, "periodSeconds": 3600}})
    path = f"concurrent-{connection_id}"
    statuses: list[int] = []
    lock = threading.Lock()

    def caller(base: str) -> None:
        session = stack.client("lena")
        for _ in range(8):
            status = session.get(invoke_url(base, connection_id, path)).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=caller, args=(base,)) for base in [stack.url, second_gateway] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [200, 429]
    assert statuses.count(200) == limit
    assert backend_calls(stack, path) == limit


def test_the_cleanup_timer_purges_spent_counters_only(stack: Stack) -> None:
    table = stack.tables.get_table_client("e2elimits")
    now = datetime.now(UTC)
    spent = {"PartitionKey": f"test:{uuid.uuid4().hex}", "RowKey": "rate-60", "ExpiresAt": now - timedelta(minutes=5)}
    live = {"PartitionKey": f"test:{uuid.uuid4().hex}", "RowKey": "rate-60", "ExpiresAt": now + timedelta(hours=1)}
    table.create_entity(spent)
    table.create_entity(live)
    assert stack.run_function("cleanup").status_code == 202  # the dev host answers once the function is done
    keys = {e["PartitionKey"] for e in table.list_entities()}
    assert spent["PartitionKey"] not in keys
    assert live["PartitionKey"] in keys
