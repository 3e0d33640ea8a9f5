"""Operations and policy templates end to end, on real connectors (tests/fixtures) pointed only by host and scheme
at the recording backend: what the backend receives under each template, undeclared operations, custom code."""

from __future__ import annotations

import base64
import uuid
from urllib.parse import parse_qs

import pytest
import requests

from shared.connectors import decode_document
from tests.e2e.conftest import GatewayFactory, Stack, host_of, problem
from tests.support.backend import RecordingBackend
from tests.support.connector_files import CURATED_CONNECTORS, read_connector_files


def _load(name: str, stack: Stack) -> tuple[dict, dict]:
    definition, properties = read_connector_files(CURATED_CONNECTORS / name)
    api_definition = decode_document(definition, "apiDefinition.swagger.json")
    api_definition = {**api_definition, "host": host_of(stack.backend.url), "schemes": ["http"]}
    return api_definition, decode_document(properties, "apiProperties.json")


def _connect(stack: Stack, name: str, connector_id: str, values: dict) -> tuple[requests.Session, str, dict]:
    summary = stack.register(connector_id, *_load(name, stack))
    caller = stack.client("templates-user")
    connection = stack.connect(caller, connector_id, values)
    return caller, f"{stack.url}/api/connections/{connection['id']}/invoke", summary


def _received(stack: Stack, marker: str):
    seen = [r for r in stack.backend.requests if marker in r.path or marker in r.query]
    assert seen, f"the backend received nothing for {marker}"
    return seen[-1]


def _nothing_received(stack: Stack, marker: str) -> None:
    assert not [r for r in stack.backend.requests if marker in r.path or marker in r.query]


def test_dynamichosturl_and_setheader_shape_what_the_backend_receives(stack: Stack) -> None:
    """Cireson: the host comes from the connection's api_url; setheader turns the API key into "Bearer <key>"
    (templates run after the credential, as in Power Platform)."""
    key = "key-" + uuid.uuid4().hex
    caller, invoke, summary = _connect(
        stack,
        "certified-connectors/Cireson Service Manager Portal",
        "tpl-cireson",
        {"api_url": stack.backend.url, "api_key": key},
    )
    assert {t["templateId"] for o in summary["operations"] for t in o["templates"]} == {"dynamichosturl", "setheader"}
    marker = uuid.uuid4().hex
    response = caller.get(f"{invoke}/api/CloudConnector/WorkItems/{marker}")
    assert response.status_code == 200, response.text
    seen = _received(stack, marker)
    assert seen.method == "GET"
    assert seen.path == f"/api/CloudConnector/WorkItems/{marker}"
    assert seen.header("Authorization") == f"Bearer {key}"


@pytest.mark.parametrize(
    ("api_url", "status"),
    [
        ("http://169.254.169.254", None),  # cloud metadata: the address guard refuses it at connect time
        ("http://[fe80::1]", None),  # link-local
        ("http://169.254.169.254.nip.io.example.invalid@127.0.0.1", 400),  # user info: not an origin
        ("http://127.0.0.1/x?y=1", 400),  # a query in a host value
    ],
)
def test_dynamichosturl_values_pass_the_position_check_and_the_address_guard(
    stack: Stack, api_url: str, status: int | None
) -> None:
    connector_id = f"tpl-ssrf-{uuid.uuid4().hex[:8]}"
    caller, invoke, _ = _connect(
        stack, "certified-connectors/Cireson Service Manager Portal", connector_id, {"api_url": api_url, "api_key": "k"}
    )
    marker = uuid.uuid4().hex
    response = caller.get(f"{invoke}/api/CloudConnector/WorkItems/{marker}", timeout=30)
    assert response.status_code >= 400, response.text
    if status is not None:
        assert response.status_code == status
        assert problem(response)["type"].endswith("connection-value-rejected")
    assert api_url not in response.text
    _nothing_received(stack, marker)


def test_a_loopback_host_from_a_connection_is_refused_where_loopback_is(
    stack: Stack, start_gateway_process: GatewayFactory
) -> None:
    """As deployed (PROXY_ALLOW_LOOPBACK off): a user naming a loopback host as api_url reaches nothing."""
    strict = start_gateway_process({"PROXY_ALLOW_LOOPBACK": "false"})
    with RecordingBackend() as listener:
        caller, invoke, _ = _connect(
            stack,
            "certified-connectors/Cireson Service Manager Portal",
            "tpl-loopback",
            {"api_url": listener.url, "api_key": "key-" + uuid.uuid4().hex},
        )
        response = caller.get(invoke.replace(stack.url, strict) + "/api/CloudConnector/Users")
        assert response.status_code == 403, response.text
        assert problem(response)["type"].endswith("backend-address-forbidden")
        assert listener.requests == []


def test_setqueryparameter_applies_to_the_operations_it_names(stack: Stack) -> None:
    """Infobip: piIntegrator=89 and piPlatform=5vqd on the operations listed, over the caller's own value."""
    caller, invoke, _ = _connect(stack, "custom-connectors/Infobip", "tpl-infobip", {"username": "u", "password": "p"})
    marker = uuid.uuid4().hex
    response = caller.get(f"{invoke}/account/1/balance?probe={marker}&piIntegrator=caller")
    assert response.status_code == 200, response.text
    seen = _received(stack, marker)
    query = parse_qs(seen.query)
    assert query["piIntegrator"] == ["89"] and query["piPlatform"] == ["5vqd"] and query["probe"] == [marker]
    assert seen.header("Authorization") == "Basic " + base64.b64encode(b"u:p").decode()


def test_routerequesttoendpoint_moves_the_path_with_connection_values_and_path_parameters(stack: Stack) -> None:
    """Almanac: /docs/{doc_id}/accesses/{id} goes to /{workspace}/docs/{doc_id}/accesses/{id} under basePath."""
    caller, invoke, _ = _connect(
        stack, "independent-publisher-connectors/Almanac", "tpl-almanac", {"workspace": "ws42", "api_key": "k"}
    )
    marker = uuid.uuid4().hex
    response = caller.delete(f"{invoke}/docs/12/accesses/34?probe={marker}")
    assert response.status_code == 200, response.text
    seen = _received(stack, marker)
    assert seen.method == "DELETE"
    assert seen.path == "/api/v1/w/ws42/docs/12/accesses/34"
    # A path parameter that isn't of its declared type (integer) never reaches the backend.
    bad = caller.delete(f"{invoke}/docs/abc/accesses/34?probe={marker}-bad")
    assert bad.status_code == 400 and problem(bad)["type"].endswith("path-parameter-invalid")
    _nothing_received(stack, f"{marker}-bad")


def test_undeclared_operations_never_reach_the_backend(stack: Stack) -> None:
    caller, invoke, _ = _connect(
        stack, "independent-publisher-connectors/Almanac", "tpl-undeclared", {"workspace": "ws", "api_key": "k"}
    )
    marker = uuid.uuid4().hex
    for method, path in (
        ("GET", f"/admin/{marker}"),
        ("POST", f"/docs?probe={marker}"),
        ("DELETE", f"/docs?probe={marker}"),
    ):
        response = caller.request(method, f"{invoke}{path}")
        assert response.status_code == 404, (method, path, response.text)
        assert problem(response)["type"].endswith("operation-not-found")
    _nothing_received(stack, marker)


def test_custom_code_operations_answer_501_and_the_script_is_kept(stack: Stack) -> None:
    name = "independent-publisher-connectors/Nationalize.io"
    definition, properties = _load(name, stack)
    script = (CURATED_CONNECTORS / name / "script.csx").read_text()
    body = {"apiDefinition": definition, "apiProperties": properties, "script": script}
    upload = stack.maker().put(f"{stack.url}/api/connectors/tpl-script", json=body)
    assert upload.status_code == 201, upload.text
    summary = upload.json()
    assert summary["customCode"] is True
    assert any(w["pointer"] == "/script" for w in summary["warnings"])
    caller = stack.client("templates-user")
    connection = stack.connect(caller, "tpl-script", {"api_key": "k"})
    marker = uuid.uuid4().hex
    response = caller.get(f"{stack.url}/api/connections/{connection['id']}/invoke/?name={marker}")
    assert response.status_code == 501, response.text
    assert problem(response)["type"].endswith("operation-not-supported")
    assert "custom code" in problem(response)["detail"]
    _nothing_received(stack, marker)
    record = [e for e in stack.entities("connectors") if e["RowKey"] == "tpl-script"]
    assert record and "script" in "".join(str(v) for v in record[0].values())
