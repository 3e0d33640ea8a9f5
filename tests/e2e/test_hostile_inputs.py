"""Inputs that can't hurt: crafted uploads, deep nesting and part floods get a 400/413 problem, never a 500,
and leave nothing behind."""

from __future__ import annotations

import json

import pytest

from shared.json_limits import MAX_DEPTH
from shared.web import MAX_MULTIPART_PARTS
from tests.e2e.conftest import Stack, api_key_connector, host_of, problem

# Each took seconds (8.9 s at 40 KB, 36 s at 80 KB) when the lenient reader went back over the text.
CRAFTED = {
    "quotes-and-backslashes": b'"\\' * 400_000,
    "single-quotes-and-backslashes": b"'\\" * 400_000,
    "escaped-quotes": b'{"a": "' + b'\\"' * 400_000,
    "open-comments": b"/*" * 400_000,
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_upload_is_a_400_naming_the_file_and_health_still_answers(stack: Stack, name: str) -> None:
    definition = CRAFTED[name]
    response = stack.maker().put(
        f"{stack.url}/api/connectors/crafted-{name}",
        files={
            "apiDefinition": ("apiDefinition.swagger.json", definition, "application/json"),
            "apiProperties": ("apiProperties.json", b"{}", "application/json"),
        },
    )
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["type"].endswith(":unreadable-document")
    assert body["document"] == "apiDefinition.swagger.json"
    assert stack.maker().get(f"{stack.url}/api/connectors/crafted-{name}").status_code == 404
    assert stack.client("anyone").get(f"{stack.url}/api/health").status_code == 200


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deeply_nested_json_bodies_are_400_problems(stack: Stack, depth: int) -> None:
    stack.register("nesting", *api_key_connector(host_of(stack.backend.url)))
    before = {e["PartitionKey"] for e in stack.entities("connections")}
    client = stack.client("nester")
    headers = {"Content-Type": "application/json"}
    create = client.post(
        f"{stack.url}/api/connectors/nesting/connections",
        data=f'{{"displayName": "deep", "parameters": {{"api_key": {_nested(depth)}}}}}',
        headers=headers,
    )
    upload = stack.maker().put(
        f"{stack.url}/api/connectors/nesting-upload",
        data=f'{{"apiDefinition": {{"x": {_nested(depth)}}}, "apiProperties": {{}}}}',
        headers=headers,
    )
    # Subscription bodies are capped at 16 KB: 5000 levels still pass the C parser's recursion limit.
    subscription = stack.maker().post(f"{stack.url}/api/subscriptions", data=_nested(min(depth, 5000)), headers=headers)
    for response in (create, upload, subscription):
        assert response.status_code == 400, response.text
        assert "nest" in problem(response)["detail"]
    assert {e["PartitionKey"] for e in stack.entities("connections")} == before
    assert "RecursionError" not in stack.gateway_log()


def test_a_deep_policy_part_is_a_400_problem(stack: Stack) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    response = stack.maker().put(
        f"{stack.url}/api/connectors/deep-policy",
        files={
            "apiDefinition": ("apiDefinition.swagger.json", json.dumps(definition).encode(), "application/json"),
            "apiProperties": ("apiProperties.json", json.dumps(properties).encode(), "application/json"),
            "policy": (None, '{"ipFilter": ' + _nested(100_000) + "}"),
        },
    )
    assert response.status_code == 400, response.text
    assert "nests deeper" in problem(response)["detail"]


def test_too_many_multipart_parts_is_a_413_problem(stack: Stack) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    files = [
        ("apiDefinition", ("apiDefinition.swagger.json", json.dumps(definition).encode(), "application/json")),
        ("apiProperties", ("apiProperties.json", json.dumps(properties).encode(), "application/json")),
    ] + [(f"filler{i}", (None, "x")) for i in range(MAX_MULTIPART_PARTS)]
    response = stack.maker().put(f"{stack.url}/api/connectors/many-parts", files=files)
    assert response.status_code == 413, response.text
    assert problem(response)["type"].endswith(":too-many-parts")
    assert stack.maker().get(f"{stack.url}/api/connectors/many-parts").status_code == 404
    # The same upload within the cap is accepted.
    accepted = stack.maker().put(f"{stack.url}/api/connectors/many-parts", files=files[:MAX_MULTIPART_PARTS])
    assert accepted.status_code == 201, accepted.text
