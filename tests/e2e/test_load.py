"""Load through the dev host: 1,000 invocations from 50 concurrent clients over several connections and
subscriptions, with a slow backend call held open meanwhile. Nothing fails, the slow call holds up nobody,
and after a flush the buffered counts (subscription usage per key slot, audit "used" per connection) add
up exactly to the calls made."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.conftest import MAKER_ROLE, GatewayFactory, Stack, api_key_connector, host_of

CLIENTS = 50
CALLS_PER_CLIENT = 20  # 1,000 in all
SUBSCRIPTIONS = 5
CONNECTIONS_PER_SUBSCRIPTION = 2
SLOTS = ("primary", "secondary")
ADMIN_ROLE = "Connectors.Admin"  # AUTH_ADMIN_ROLE's default: only admins mint keys for other principals


@dataclass(frozen=True)
class Subscriber:
    subscription_id: str
    keys: dict[str, str]  # slot -> key
    connections: list[tuple[str, str]]  # (connection id, its API key)

    def session(self, slot: str) -> requests.Session:
        session = requests.Session()
        session.headers["Ocp-Apim-Subscription-Key"] = self.keys[slot]
        return session


@pytest.fixture(scope="module")
def gateway(start_gateway_process: GatewayFactory) -> str:
    # Tables of its own, so the exact totals count this test's calls only; a read timeout the held call outlives.
    return start_gateway_process(
        {"TABLES_PREFIX": f"load{uuid.uuid4().hex[:8]}", "PROXY_READ_TIMEOUT_SECONDS": "120", "LOG_LEVEL": "WARNING"}
    )


def admin(stack: Stack) -> requests.Session:
    return stack.client("load-admin", (MAKER_ROLE, ADMIN_ROLE))


def subscribe(stack: Stack, gateway: str, connector_id: str, index: int) -> Subscriber:
    response = admin(stack).post(
        f"{gateway}/api/subscriptions", json={"displayName": f"load {index}", "principal": f"load-{index}"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    subscriber = Subscriber(body["id"], {slot: body[f"{slot}Key"] for slot in SLOTS}, [])
    owner = subscriber.session("primary")
    for n in range(CONNECTIONS_PER_SUBSCRIPTION):
        api_key = f"load-key-{index}-{n}-{uuid.uuid4().hex}"
        created = owner.post(
            f"{gateway}/api/connectors/{connector_id}/connections",
            json={"displayName": f"load {index}/{n}", "parameters": {"api_key": api_key}},
        )
        assert created.status_code == 201, created.text
        subscriber.connections.append((created.json()["id"], api_key))
    return subscriber


def test_a_thousand_calls_from_fifty_clients_lose_nothing_and_wait_for_no_slow_call(stack: Stack, gateway: str) -> None:
    run = uuid.uuid4().hex[:8]
    connector_id = f"load-{run}"
    response = stack.maker().put(
        f"{gateway}/api/connectors/{connector_id}",
        json=dict(zip(("apiDefinition", "apiProperties"), api_key_connector(host_of(stack.backend.url)), strict=True)),
    )
    assert response.status_code == 201, response.text
    subscribers = [subscribe(stack, gateway, connector_id, i) for i in range(SUBSCRIPTIONS)]
    # Usage so far: each connection was created with its subscription's primary key.
    usage_expected = Counter({(s.subscription_id, "primary"): CONNECTIONS_PER_SUBSCRIPTION for s in subscribers})

    # The slow call: held open by the backend until released, so "slow" means "still open", not a duration.
    release, arrived = threading.Event(), threading.Event()
    stack.backend.respond(f"/v1/slow-{run}", hold=release, arrived=arrived)
    slow_owner = subscribers[0]
    slow_connection = slow_owner.connections[0][0]
    with ThreadPoolExecutor(max_workers=1) as slow_pool:
        slow = slow_pool.submit(
            slow_owner.session("primary").get, f"{gateway}/api/connections/{slow_connection}/invoke/slow-{run}"
        )
        usage_expected[(slow_owner.subscription_id, "primary")] += 1
        assert arrived.wait(60), "the slow call never reached the backend"

        def client(number: int) -> list[tuple[int, str]]:
            subscriber = subscribers[number % SUBSCRIPTIONS]
            session = subscriber.session(SLOTS[number // SUBSCRIPTIONS % 2])
            outcomes = []
            for call in range(CALLS_PER_CLIENT):
                connection_id, _ = subscriber.connections[call % CONNECTIONS_PER_SUBSCRIPTION]
                url = f"{gateway}/api/connections/{connection_id}/invoke/fast-{run}/{number}/{call}"
                answer = session.get(url)
                outcomes.append((answer.status_code, answer.text if answer.status_code != 200 else ""))
            return outcomes

        try:
            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                results = list(pool.map(client, range(CLIENTS)))
            # Every fast call is done, and the slow one is still held open: it held up none of them.
            assert not slow.done()
        finally:
            release.set()
        assert slow.result().status_code == 200

    failures = [outcome for outcomes in results for outcome in outcomes if outcome[0] != 200]
    assert failures == []
    for number in range(CLIENTS):
        subscriber = subscribers[number % SUBSCRIPTIONS]
        usage_expected[(subscriber.subscription_id, SLOTS[number // SUBSCRIPTIONS % 2])] += CALLS_PER_CLIENT

    # The backend got each call once, with the credential of the connection it was made on.
    fast = [r for r in stack.backend.requests if r.path.startswith(f"/v1/fast-{run}/")]
    assert len(fast) == CLIENTS * CALLS_PER_CLIENT
    assert len({r.path for r in fast}) == CLIENTS * CALLS_PER_CLIENT
    for recorded in fast:
        number, call = (int(part) for part in recorded.path.split("/")[-2:])
        subscriber = subscribers[number % SUBSCRIPTIONS]
        assert recorded.header("X-Api-Key") == subscriber.connections[call % CONNECTIONS_PER_SUBSCRIPTION][1]
        assert recorded.header("Ocp-Apim-Subscription-Key") is None

    # Counts are buffered per instance; the cleanup timer flushes them. Then they add up exactly.
    assert requests.post(f"{gateway}/admin/functions/cleanup", json={"input": ""}, timeout=60).status_code == 202
    for subscriber in subscribers:
        usage = admin(stack).get(f"{gateway}/api/subscriptions/{subscriber.subscription_id}").json()["usage"]
        for slot in SLOTS:
            assert sum(day[slot] for day in usage) == usage_expected[(subscriber.subscription_id, slot)], slot
    used: Counter[str] = Counter()
    for subscriber in subscribers:
        owner = subscriber.session("primary")
        for connection_id, _ in subscriber.connections:
            entries = owner.get(f"{gateway}/api/connections/{connection_id}/audit").json()["value"]
            used[connection_id] = sum(e["count"] for e in entries if e["action"] == "used")
    calls_per_connection = CLIENTS // SUBSCRIPTIONS * CALLS_PER_CLIENT // CONNECTIONS_PER_SUBSCRIPTION
    expected_used = {c: calls_per_connection for s in subscribers for c, _ in s.connections}
    expected_used[slow_connection] += 1
    assert used == expected_used
