"""setvaluefromurl end to end, on Cradl AI (tests/fixtures) pointed only by host and scheme at the recording backend:
its templates fetch a token with the connection's client credentials from the auth host, then call the API with
"Bearer <token>". What each backend request carried proves the order; a failed fetch stops the call with a 502."""

from __future__ import annotations

import base64
import uuid

from tests.e2e.conftest import Stack, problem
from tests.e2e.test_policy_templates import _load, _nothing_received

CRADL = "certified-connectors/Cradl AI"


def _cradl(stack: Stack, connector_id: str, client_credentials: str):
    """Cradl's two literal dynamichosturl hosts (auth.lucidtech.ai, api.lucidtech.ai/v1) become the backend's."""
    definition, properties = _load(CRADL, stack)
    for instance in properties["properties"]["policyTemplateInstances"]:
        parameters = instance["parameters"]
        url = parameters.get("x-ms-apimTemplateParameter.urlTemplate")
        if url:
            parameters["x-ms-apimTemplateParameter.urlTemplate"] = url.replace(
                "https://auth.lucidtech.ai", stack.backend.url
            ).replace("https://api.lucidtech.ai", stack.backend.url)
    summary = stack.register(connector_id, definition, properties)
    caller = stack.client("cradl-user")
    connection = stack.connect(caller, connector_id, {"api_key": client_credentials})
    return caller, f"{stack.url}/api/connections/{connection['id']}/invoke", summary


def test_setvaluefromurl_fetches_the_token_the_request_then_carries(stack: Stack) -> None:
    credentials = base64.b64encode(f"client-{uuid.uuid4().hex}:secret".encode()).decode()
    caller, invoke, summary = _cradl(stack, "tpl-cradl", credentials)
    assert not [w for w in summary["warnings"] if "setvaluefromurl" in w["detail"]]
    token = "tok-" + uuid.uuid4().hex
    stack.backend.respond("/oauth2/token", body={"access_token": token, "expires_in": 3600})
    marker = uuid.uuid4().hex
    stack.backend.respond("/v1/workflows", body={"workflows": []})
    response = caller.get(f"{invoke}/workflows?probe={marker}")
    assert response.status_code == 200, response.text
    assert response.json() == {"workflows": []}
    token_calls = [r for r in stack.backend.requests if r.path == "/oauth2/token"]
    fetched = token_calls[-1]
    assert fetched.method == "POST" and fetched.query == "grant_type=client_credentials"
    assert fetched.header("Authorization") == f"Basic {credentials}"  # its setheader before it
    assert fetched.header("Content-Type") == "application/x-www-form-urlencoded"
    api = next(r for r in stack.backend.requests if marker in r.query)
    assert api.path == "/v1/workflows" and api.header("Authorization") == f"Bearer {token}"
    assert api.header("Content-Type") == "application/json"
    assert stack.backend.requests.index(fetched) < stack.backend.requests.index(api)


def test_a_failed_value_fetch_stops_the_call_without_naming_the_value(stack: Stack) -> None:
    caller, invoke, _ = _cradl(stack, "tpl-cradl-failing", base64.b64encode(b"c:s").decode())
    for answer in ({"status": 401, "body": {"error": "invalid_client"}}, {"body": {"token": "not-where-declared"}}):
        stack.backend.respond("/oauth2/token", **answer)
        marker = uuid.uuid4().hex
        response = caller.get(f"{invoke}/workflows?probe={marker}")
        assert response.status_code == 502, response.text
        assert problem(response)["type"].endswith("template-failed")
        assert "setvaluefromurl" in problem(response)["detail"] and "not-where-declared" not in response.text
        _nothing_received(stack, marker)
