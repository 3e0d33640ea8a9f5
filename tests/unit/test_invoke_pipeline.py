"""The invoke pipeline's stages without a network: operation matching, the runtime's plans, and the stage order
(nothing past a refusing stage runs: no credential for an undeclared or unsupported operation)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

import shared.connectors._operations as operations_module
from shared.callers import Principal
from shared.connections import ConnectionTarget, Credential
from shared.connectors import build_connector, connector_from_record, connector_to_record
from shared.invoke import (
    STAGES,
    ConnectorRuntime,
    ConnectorRuntimes,
    Environment,
    ForwardLimits,
    IncomingCall,
    rewrite_next_link,
    run,
)
from shared.invoke._forward import backend_url
from shared.invoke._runtime import NOTHING_DECLARED, UNKNOWN_OPERATIONS
from shared.problems import Problem
from shared.templates import CallerResponse
from tests.support.connector_files import make_api_definition, make_api_properties

P = "x-ms-apimTemplateParameter."
PATHS = {
    "/items": {"get": {"operationId": "ListItems", "summary": "List"}},
    "/items/{id}": {
        "get": {"operationId": "GetItem", "parameters": [{"name": "id", "in": "path", "type": "integer"}]},
        "delete": {"operationId": "DeleteItem", "parameters": [{"name": "id", "in": "path", "type": "integer"}]},
    },
    "/items/special": {"get": {"operationId": "Special"}},
    "/me/tasks('{task_id}')": {
        "get": {"operationId": "GetTask", "parameters": [{"name": "task_id", "in": "path", "type": "string"}]}
    },
    "/hooks": {
        "post": {
            "operationId": "Subscribe",
            "x-ms-trigger": "single",
            "parameters": [
                {"name": "body", "in": "body", "schema": {"properties": {"url": {"x-ms-notification-url": True}}}},
                {"name": "callback", "in": "query", "type": "string", "x-ms-notification-url": True},
            ],
        }
    },
}
X_MS_PATHS = {"/run?op=a": {"post": {"operationId": "RunA"}}, "/run?op=b": {"post": {"operationId": "RunB"}}}


def _connector(templates: list | None = None, script: str | None = None, **properties: Any):
    definition = make_api_definition(paths=PATHS, **{"x-ms-paths": X_MS_PATHS})
    return build_connector(
        "items", definition, make_api_properties(policyTemplateInstances=templates or [], **properties), script
    )


def test_operations_are_kept_with_what_flows_see() -> None:
    connector = _connector()
    by_id = {o.operation_id: o for o in connector.operations}
    assert set(by_id) == {"ListItems", "GetItem", "DeleteItem", "Special", "GetTask", "Subscribe", "RunA", "RunB"}
    assert by_id["Subscribe"].trigger == "single" and by_id["Subscribe"].notification_url
    assert by_id["ListItems"].summary == "List" and by_id["GetItem"].method == "GET"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected", "values"),
    [
        ("GET", "/items", "", "ListItems", {}),
        ("GET", "/items/", "", "ListItems", {}),
        ("GET", "/items/7", "", "GetItem", {"id": "7"}),
        ("DELETE", "/items/7", "", "DeleteItem", {"id": "7"}),
        ("GET", "/items/special", "", "Special", {}),  # the literal path beats the template
        ("GET", "/me/tasks('a%20b')", "", "GetTask", {"task_id": "a%20b"}),
        ("POST", "/run", "op=b&x=1", "RunB", {}),
        ("POST", "/run", "x=1", None, {}),
        ("PUT", "/items", "", None, {}),
        ("GET", "/items/7/more", "", None, {}),
        ("GET", "/other", "", None, {}),
    ],
)
def test_calls_match_their_operation(method: str, path: str, query: str, expected: str | None, values: dict) -> None:
    matched = ConnectorRuntime(_connector()).table.match(method, path, query)
    assert (matched.operation.operation_id if matched else None) == expected
    if matched:
        assert dict(matched.path_values) == values


def test_path_parameters_are_decoded_once_and_checked_against_their_type() -> None:
    table = ConnectorRuntime(_connector()).table
    with pytest.raises(Problem) as caught:
        table.match("GET", "/items/abc", "")
    assert caught.value.status == 400 and "integer" in caught.value.detail
    assert table.match("GET", "/me/tasks('a%252F')", "").decoded["task_id"] == "a%2F"  # once, not twice


def test_custom_code_marks_its_operations_unsupported() -> None:
    runtime = ConnectorRuntime(_connector(script="public class Script {}", scriptOperations=["GetItem"]))
    assert runtime.plan("GetItem").unsupported and not runtime.plan("ListItems").unsupported
    everything = ConnectorRuntime(_connector(script="public class Script {}"))
    assert all(o["unsupportedReasons"] for o in everything.describe())
    assert [w["pointer"] for w in everything.warnings] == ["/script"]


def test_templates_scope_to_their_operations_and_sections() -> None:
    runtime = ConnectorRuntime(
        _connector(
            [
                {"templateId": "setheader", "parameters": {P + "name": "X-All", P + "value": "1"}},
                {
                    "templateId": "SetQueryParameter",
                    "parameters": {P + "name": "q", P + "value": "1", "x-ms-apimTemplate-operationName": ["GetItem"]},
                },
                {
                    "templateId": "setheader",
                    "parameters": {P + "name": "X-R", P + "value": "1", "x-ms-apimTemplate-policySection": "Response"},
                },
                {"templateId": "stringreplace", "parameters": {"x-ms-apimTemplate-operationName": ["DeleteItem"]}},
            ]
        )
    )
    assert [i.index for i in runtime.plan("GetItem").request] == [0, 1]
    assert [i.index for i in runtime.plan("ListItems").request] == [0]
    assert [i.index for i in runtime.plan("ListItems").response] == [2]
    assert "stringreplace" in runtime.plan("DeleteItem").unsupported[0]
    assert [i.index for i in runtime.plan(None).request] == [0]  # a pass-through call: unscoped templates only


# -- the stages in order, with fakes --------------------------------------------------------------------


@dataclass
class FakeConnections:
    connector: Any
    policy: dict | None = None
    credentials: list[str] = field(default_factory=list)

    def target(self, principal: Principal, connection_id: str) -> ConnectionTarget:
        return ConnectionTarget(
            connection_id,
            "items",
            "https://api.example.com/v1",
            self.policy,
            {},
            self.connector.runtime_version,
            {"tenant": "t1"},
        )

    def credential(self, principal: Principal, target: ConnectionTarget) -> Credential:
        self.credentials.append(target.id)
        return Credential(None, values={"tenant": "t1"})


class FakeLimits:
    def hit(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no limit is configured")


def _environment(connections: FakeConnections, reads: list[str]) -> Environment:
    def read(connector_id: str) -> Any:
        reads.append(connector_id)
        return connections.connector

    return Environment(
        connections=connections,  # type: ignore[arg-type]
        runtimes=ConnectorRuntimes(read),
        rate_limiter=FakeLimits(),  # type: ignore[arg-type]
        quotas=FakeLimits(),  # type: ignore[arg-type]
        backend=None,  # type: ignore[arg-type]  # forward isn't run here
        limits=ForwardLimits(1024, 1, 1, 1, 1024),
        connection_calls_per_minute=0,
    )


def _call(method: str, path: str, query: str = "") -> IncomingCall:
    principal = Principal("p1", frozenset(), "p1", "user")
    return IncomingCall(principal, "c1", method, path, query, {"Accept": "*/*"}, b"", None, "https")


UP_TO_TEMPLATES = STAGES[:6]


def test_a_declared_call_is_shaped_by_its_templates_and_the_runtime_is_read_once() -> None:
    connector = _connector(
        [
            {
                "templateId": "setheader",
                "parameters": {P + "name": "X-Tenant", P + "value": "@connectionParameters('tenant')"},
            }
        ]
    )
    connections, reads = FakeConnections(connector), []
    env = _environment(connections, reads)
    for _ in range(3):
        done = run(_call("GET", "/items/7"), env, UP_TO_TEMPLATES)
    assert reads == ["items"]  # one connector read, then the cache
    assert done.operation_id == "GetItem"
    assert done.request.headers["X-Tenant"] == "t1" and done.request.path == "/items/7"


@pytest.mark.parametrize(
    ("connector", "path", "status"),
    [
        (_connector(), "/undeclared", 404),
        (_connector(script="class Script {}"), "/items", 501),
        (_connector([{"templateId": "updatenextlink", "parameters": {}}]), "/items", 501),
    ],
)
def test_refused_calls_get_no_credential(connector: Any, path: str, status: int) -> None:
    connections = FakeConnections(connector)
    with pytest.raises(Problem) as caught:
        run(_call("GET", path), _environment(connections, []), UP_TO_TEMPLATES)
    assert caught.value.status == status
    assert connections.credentials == []


def test_pass_through_is_opt_in_by_policy_and_an_upload_without_operations_has_nothing_callable() -> None:
    connections = FakeConnections(_connector(), policy={"operations": {"passThrough": True}})
    done = run(_call("GET", "/undeclared"), _environment(connections, []), UP_TO_TEMPLATES)
    assert done.matched is None and done.request.path == "/undeclared"

    bare = FakeConnections(build_connector("items", make_api_definition(), make_api_properties()))
    with pytest.raises(Problem) as caught:
        run(_call("GET", "/anything"), _environment(bare, []), UP_TO_TEMPLATES)
    assert (caught.value.status, caught.value.slug) == (404, "operation-not-found")
    assert bare.credentials == []
    [warning] = ConnectorRuntime(bare.connector).warnings
    assert warning == {"pointer": "/apiDefinition/paths", "detail": NOTHING_DECLARED}
    assert "operations.passThrough: true" in warning["detail"]

    opted_in = FakeConnections(bare.connector, policy={"operations": {"passThrough": True}})
    assert run(_call("GET", "/anything"), _environment(opted_in, []), UP_TO_TEMPLATES).matched is None


def test_a_connector_stored_before_operations_were_kept_passes_through_until_re_uploaded() -> None:
    uploaded = build_connector("items", make_api_definition(), make_api_properties())
    record = connector_to_record(uploaded)
    del record["operations"]  # as records were stored before operations were kept
    legacy = connector_from_record(record)
    assert legacy.operations_unknown and not uploaded.operations_unknown
    assert legacy.runtime_version != uploaded.runtime_version  # a cached legacy table never serves the upload
    assert "operations" not in connector_to_record(legacy)  # rewriting the record keeps it what it was
    assert connector_from_record(connector_to_record(uploaded)).operations_unknown is False

    connections = FakeConnections(legacy)
    assert run(_call("GET", "/anything"), _environment(connections, []), UP_TO_TEMPLATES).matched is None
    [warning] = ConnectorRuntime(legacy).warnings
    assert warning == {"pointer": "/apiDefinition/paths", "detail": UNKNOWN_OPERATIONS}
    assert "Re-upload to enforce operations" in warning["detail"]


def test_the_pass_through_policy_parses_and_defaults_to_declared_operations_only() -> None:
    from shared.policies import PolicyError, parse_policy

    policy = parse_policy({"operations": {"passThrough": True}})
    assert policy is not None and policy.pass_through and policy.document == {"operations": {"passThrough": True}}
    assert parse_policy({"operations": {"passThrough": False}}) is None  # the default needs no entry
    with pytest.raises(PolicyError) as caught:
        parse_policy({"operations": {"passThrough": "yes", "other": 1}})
    assert {e["pointer"] for e in caught.value.errors} == {"/policy/operations/other", "/policy/operations/passThrough"}


def test_a_connector_already_read_fills_the_same_cache() -> None:
    connector, reads = _connector(), []
    runtimes = ConnectorRuntimes(lambda connector_id: reads.append(connector_id) or connector)
    assert runtimes.of(connector) is runtimes.get("items", connector.runtime_version)
    assert reads == []


def test_a_paging_link_is_mapped_or_removed_and_other_bodies_pass() -> None:
    def mapping(link: str) -> str | None:
        return "https://gw/next" if link.startswith("https://api/") else None

    response = CallerResponse(200, [], b'{"value":[1],"@odata.nextLink":"https://api/v1?p=2"}')
    rewrite_next_link(response, "@odata.nextLink", mapping)
    assert json.loads(response.body) == {"value": [1], "@odata.nextLink": "https://gw/next"}
    response = CallerResponse(200, [], b'{"nextLink":"https://elsewhere/p2"}')
    rewrite_next_link(response, "nextLink", mapping)
    assert json.loads(response.body) == {}
    for body, headers in ((b"<html/>", []), (b'{"nextLink":"https://elsewhere"}', [("Content-Encoding", "gzip")])):
        untouched = CallerResponse(200, headers, body)
        rewrite_next_link(untouched, "nextLink", mapping)
        assert untouched.body == body

    with pytest.raises(Problem, match="deeper"):
        rewrite_next_link(CallerResponse(200, [], b"[" * 100_000 + b"]" * 100_000), "nextLink", mapping)


def test_updatenextlink_adds_its_property_to_the_paging_links_of_the_operations_it_names() -> None:
    templates = [
        {
            "templateId": "updatenextlink",
            "parameters": {
                P + "nextLinkPropertyName": "@odata.nextLink",
                "x-ms-apimTemplate-operationName": ["GetItem"],
            },
        }
    ]
    connections = FakeConnections(_connector(templates))
    done = run(_call("GET", "/items/7"), _environment(connections, []), UP_TO_TEMPLATES)
    assert done.next_link_names() == ("@odata.nextLink",)
    assert done.request.headers["Accept-Encoding"] == "identity"
    other = run(_call("GET", "/items"), _environment(connections, []), UP_TO_TEMPLATES)
    assert other.next_link_names() == ()  # ListItems: not named by the template, not x-ms-pageable


def test_a_callback_url_in_the_body_schema_makes_a_webhook_operation() -> None:
    """Most real webhook triggers (Stormboard, CiviQ, SignNow) flag a property of their body, often through
    `#/definitions`; AtBot's and Signi's callback actions have no x-ms-trigger at all."""
    callback = {"type": "object", "properties": {"target": {"type": "string", "x-ms-notification-url": "true"}}}
    definitions = {
        "Hook": {"type": "object", "properties": {"subscription": {"$ref": "#/definitions/Callback"}}},
        "Callback": callback,
        "Loop": {"type": "object", "properties": {"self": {"$ref": "#/definitions/Loop"}}},
    }

    def operation(schema: dict) -> Any:
        path = {"post": {"operationId": "Op", "parameters": [{"name": "b", "in": "body", "schema": schema}]}}
        definition = make_api_definition(paths={"/hooks": path}, definitions=definitions)
        (found,) = build_connector("hooks", definition, make_api_properties(), None).operations
        return found

    assert operation({"$ref": "#/definitions/Hook"}).notification_url
    assert operation({"type": "array", "items": callback}).notification_url
    assert not operation({"$ref": "#/definitions/Loop"}).notification_url  # a recursive schema ends
    assert not operation({"type": "object", "properties": {"target": {"type": "string"}}}).notification_url


def test_a_thousand_operations_over_one_huge_body_schema_dont_read_it_a_thousand_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hostile upload: every operation's body refers to one schema of many properties. Each operation looks at
    a bounded number of schemas (real bodies: under 150), not the whole schema once per operation."""
    looked = [0]
    flagged = operations_module._is_notification_url

    def counted(node: dict) -> bool:
        looked[0] += 1
        return flagged(node)

    monkeypatch.setattr(operations_module, "_is_notification_url", counted)
    huge = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(20_000)}}
    body = [{"name": "b", "in": "body", "schema": {"$ref": "#/definitions/Huge"}}]
    paths = {f"/op{n}": {"post": {"operationId": f"Op{n}", "parameters": body}} for n in range(100)}
    definition = make_api_definition(paths=paths, definitions={"Huge": huge})
    operations = build_connector("huge", definition, make_api_properties(), None).operations
    assert len(operations) == 100 and not any(operation.notification_url for operation in operations)
    assert looked[0] <= 100 * 1002  # each operation: its parameter, then at most 1000 schemas of its body


def test_the_polling_marker_never_reaches_any_backend() -> None:
    """`gateway-poll` is the gateway's own, dropped on every call: a polling trigger's next page may land on an
    operation without the template."""
    done = run(
        _call("GET", "/items", "gateway-poll=next&page=2"),
        _environment(FakeConnections(_connector()), []),
        UP_TO_TEMPLATES,
    )
    assert done.operation_id == "ListItems" and backend_url(done).endswith("/items?page=2")
