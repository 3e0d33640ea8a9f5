"""Trust boundaries of proxied calls end to end: backend content stays off the gateway's origin, the gateway's
cookies and credentials never reach a backend, and a backend can't hold a call open or flood the instance."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import MAKER_ROLE, GatewayFactory, Stack, api_key_connector, host_of, problem
from tests.support.stream_backend import StreamingBackend

KEY = "key-" + uuid.uuid4().hex
MIB = 1 << 20
PROBLEM = "urn:connector-gateway:problem:"
ADMIN_ROLE = "Connectors.Admin"  # AUTH_ADMIN_ROLE's default


def _connect(stack: Stack, connector_id: str, host: str, policy: dict | None = None) -> tuple[requests.Session, str]:
    definition, properties = api_key_connector(host)
    body = {"apiDefinition": definition, "apiProperties": properties, **({"policy": policy} if policy else {})}
    # Turning the sandbox off is an admin's call (test_attacks.py has why).
    uploader = stack.client("boundary-admin", (MAKER_ROLE, ADMIN_ROLE)) if policy else stack.maker()
    response = uploader.put(f"{stack.url}/api/connectors/{connector_id}", json=body)
    assert response.status_code in (200, 201), response.text
    caller = stack.client("boundary-caller")
    return caller, stack.connect(caller, connector_id, {"api_key": KEY})["id"]


@pytest.fixture(scope="module")
def echo(stack: Stack) -> tuple[requests.Session, str]:
    return _connect(stack, "boundary-echo", host_of(stack.backend.url))


def test_backend_html_is_sandboxed_on_the_gateways_origin(stack: Stack, echo: tuple[requests.Session, str]) -> None:
    caller, connection_id = echo
    stack.backend.respond(
        "/v1/page",
        headers={"Content-Type": "text/html", "X-Content-Type-Options": "sniff-away", "Content-Security-Policy": "a"},
        body="<script>fetch('/api/connections')</script>",
    )
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/page")
    assert response.status_code == 200
    policies = [policy.strip() for policy in response.headers["Content-Security-Policy"].split(",")]
    assert policies == ["a", "sandbox"]  # the backend's own policy stays; both are enforced
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_connector_policy_can_opt_out_of_the_sandbox(stack: Stack) -> None:
    caller, connection_id = _connect(
        stack, "boundary-webapp", host_of(stack.backend.url), policy={"responses": {"sandbox": False}}
    )
    stack.backend.respond("/v1/app", headers={"Content-Type": "text/html"}, body="<p>app</p>")
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/app")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers
    assert "X-Content-Type-Options" not in response.headers


def test_the_gateways_cookies_never_reach_the_backend(stack: Stack, echo: tuple[requests.Session, str]) -> None:
    caller, connection_id = echo
    cookies = "__Host-cg-signin=gateway-secret; backend=kept; __host-CG-other=also-ours; theme=dark"
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/cookies", headers={"Cookie": cookies})
    assert response.status_code == 200
    seen = stack.backend.requests[-1]
    assert seen.header("Cookie") == "backend=kept; theme=dark"
    only_ours = caller.get(
        f"{stack.url}/api/connections/{connection_id}/invoke/cookies", headers={"Cookie": "__Host-cg-signin=x"}
    )
    assert only_ours.status_code == 200
    assert stack.backend.requests[-1].header("Cookie") is None


@pytest.mark.parametrize("name", ["subscription-key", "Subscription-Key", "SUBSCRIPTION-KEY", "subscription%2Dkey"])
def test_every_case_of_the_subscription_key_parameter_is_stripped(stack: Stack, name: str) -> None:
    key = stack.key("boundary-key-caller")
    caller = requests.Session()
    caller.headers["Ocp-Apim-Subscription-Key"] = key  # authenticated by the header; the query holds another
    definition, properties = api_key_connector(host_of(stack.backend.url))
    stack.register("boundary-keys", definition, properties)
    connection_id = stack.connect(caller, "boundary-keys", {"api_key": KEY})["id"]
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/q?{name}={key}&keep=1")
    assert response.status_code == 200, response.text
    seen = stack.backend.requests[-1]
    assert seen.target == "/v1/q?keep=1"
    assert key not in repr(seen.headers)
    assert key not in stack.gateway_log()


@pytest.fixture(scope="module")
def streaming() -> Iterator[StreamingBackend]:
    with StreamingBackend() as backend:
        yield backend


@pytest.fixture(scope="module")
def limited_gateway(start_gateway_process: GatewayFactory) -> str:
    # The stack's read timeout is 1 s: each dripped byte comes well within it; only the total deadline ends a drip.
    return start_gateway_process({"PROXY_TOTAL_TIMEOUT": "2", "PROXY_MAX_RESPONSE_BYTES": str(MIB)})


def test_a_dripping_backend_is_cut_off_at_the_total_timeout(
    stack: Stack, streaming: StreamingBackend, limited_gateway: str
) -> None:
    caller, connection_id = _connect(stack, "boundary-drip", host_of(streaming.url))
    response = caller.get(f"{limited_gateway}/api/connections/{connection_id}/invoke/drip", timeout=60)
    body = problem(response)
    assert response.status_code == 504
    assert body["type"] == PROBLEM + "backend-timeout"
    assert "did not finish its response within 2 s" in body["detail"]
    assert streaming.disconnected.wait(30)  # the gateway hung up on the backend


@pytest.mark.parametrize("kind", ["big", "declared"])
def test_a_response_past_the_cap_gets_502_and_is_not_read_whole(
    stack: Stack, streaming: StreamingBackend, limited_gateway: str, kind: str
) -> None:
    caller, connection_id = _connect(stack, f"boundary-{kind}", host_of(streaming.url))
    streaming.disconnected.clear()
    finished = streaming.finished
    response = caller.get(f"{limited_gateway}/api/connections/{connection_id}/invoke/{kind}/{16 * MIB}", timeout=60)
    body = problem(response)
    assert response.status_code == 502
    assert body["type"] == PROBLEM + "backend-response-too-large"
    assert streaming.disconnected.wait(30)
    assert streaming.finished == finished  # the backend never got to write its whole answer
    within = caller.get(f"{limited_gateway}/api/connections/{connection_id}/invoke/big/{MIB}", timeout=60)
    assert (within.status_code, len(within.content)) == (200, MIB)
