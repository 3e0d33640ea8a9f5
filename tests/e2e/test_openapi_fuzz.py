"""schemathesis against the running gateway, driven by the document the gateway serves at /api/openapi.json.

Every operation of the document is exercised with a maker's subscription key: data that fits the document
and data that doesn't, with made-up ids and, where the path names a connector, connection or subscription,
with ids of the maker's own that exist (fresh for each operation). No answer may be a 5xx, and every answer
must be one the document describes (status, media type, headers, body schema); data the document rules out
must get a 4xx (but from the validate dry run, see below). Nothing is excluded:
- the invoke passthrough is exercised too; with no connection of this maker it answers the gateway's own
  problems (404 and friends), and the document says any status may come back from a real backend;
- the OAuth start page and callback are exercised with made-up tickets and states: problems, or error pages.

Bounded for 2 shared cores: a fixed number of examples per operation, derandomized so a run can be repeated.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.api.openapi import openapi_path
from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of, problem
from tests.support.backend import RecordingBackend

pytestmark = pytest.mark.e2e
KEY_HEADER = "Ocp-Apim-Subscription-Key"  # the default AUTH_SUBSCRIPTION_KEY_HEADER
EXAMPLES_PER_OPERATION = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # data the document rules out gets a 4xx
]
# The validate dry run answers an upload PUT would refuse with 200 {"valid": false, "errors": [...]}: that's
# what it is for, so data the document rules out isn't a 4xx there. Every other check still applies to it.
ANSWERS_INVALID_DATA_WITH_200 = {"connector_validate"}


@pytest.fixture(scope="module")
def maker_key(stack: Stack) -> str:
    return stack.key("schemathesis-maker", (MAKER_ROLE,))


@pytest.fixture(scope="module")
def gateway_api(stack: Stack):
    return schemathesis.openapi.from_url(f"{stack.url}/api/openapi.json", timeout=30)


def _registered_operations() -> list[tuple[str, str]]:
    """(path, method) of every HTTP route function_app.py registers: the document must have each of them."""
    import function_app

    return [(openapi_path(route.route), method) for route in function_app.app.http_routes for method in route.methods]


@pytest.fixture(scope="module")
def fuzz_backend() -> Iterator[RecordingBackend]:
    # Its own backend: invoked paths and bodies are schemathesis's, and no other test should see them.
    backend = RecordingBackend()
    # A backend's own refusal, in its own shape: a 401 page without a challenge. The document must allow it
    # (the gateway's 401 problems always challenge), as it allows any other answer a backend gives.
    backend.respond("/v1", 401, {"Content-Type": "text/html"}, "<p>who are you?</p>")
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture
def existing(stack: Stack, maker_key: str, fuzz_backend: RecordingBackend) -> dict[str, str]:
    """Ids of things that exist, the maker's own: a connector, a connection to it and a second subscription
    (not the one whose key the test uses, which an example may cancel or regenerate)."""
    session = requests.Session()
    session.headers[KEY_HEADER] = maker_key
    connector_id = f"fuzz-{uuid.uuid4().hex[:8]}"
    definition, properties = api_key_connector(host_of(fuzz_backend.url))
    created = session.put(
        f"{stack.url}/api/connectors/{connector_id}",
        json={"apiDefinition": definition, "apiProperties": properties},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    connection = session.post(
        f"{stack.url}/api/connectors/{connector_id}/connections",
        json={"displayName": "fuzzed", "parameters": {"api_key": "fuzz-" + uuid.uuid4().hex}},
        timeout=30,
    )
    assert connection.status_code == 201, connection.text
    subscription = session.post(f"{stack.url}/api/subscriptions", json={"displayName": "fuzzed"}, timeout=30)
    assert subscription.status_code == 201, subscription.text
    return {
        "connectorId": connector_id,
        "connectionId": connection.json()["id"],
        "subscriptionId": subscription.json()["id"],
    }


def _rounds(path_parameters: dict[str, str]) -> list[tuple[GenerationMode, dict[str, str] | None]]:
    """Data that fits the document and data that doesn't. Where the path names something that exists, with
    its real ids (so handlers get past their 404 to the body, and 200 bodies are checked too), and once with
    made-up ids; otherwise with whatever the document allows."""
    if not path_parameters:
        return [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
    return [
        (GenerationMode.POSITIVE, None),
        (GenerationMode.POSITIVE, path_parameters),
        (GenerationMode.NEGATIVE, path_parameters),
    ]


@pytest.mark.parametrize(("path", "method"), _registered_operations(), ids=lambda value: value)
def test_the_gateway_answers_as_its_document_says(
    request: pytest.FixtureRequest, gateway_api, stack: Stack, maker_key: str, path: str, method: str
) -> None:
    operation = gateway_api[path][method]
    operation_id = operation.definition.raw["operationId"]
    checks = [c for c in CHECKS if not (c is negative_data_rejection and operation_id in ANSWERS_INVALID_DATA_WITH_200)]
    headers = {KEY_HEADER: maker_key}
    names = [name for name in ("connectorId", "connectionId", "subscriptionId") if "{" + name + "}" in path]
    known = {name: request.getfixturevalue("existing")[name] for name in names} if names else {}

    for mode, path_parameters in _rounds(known):

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize="OPENAPI_FUZZ_EXAMPLES" not in os.environ,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case) -> None:
            case.call_and_validate(base_url=stack.url, headers=headers, checks=checks, timeout=30)

        try:
            answers_as_documented()
        except Unsatisfiable:
            # Hypothesis proved no input breaks this operation's document (e.g. no body, query or typed
            # parameter to get wrong): nothing negative to send. Any other failure fails the test.
            if mode is not GenerationMode.NEGATIVE:
                raise
    if "/invoke/" in path:  # the rounds with a real connection reached its backend, and got its 401 back
        assert any(recorded.method == method for recorded in request.getfixturevalue("fuzz_backend").requests)


# -- what schemathesis found, kept as plain regression tests ------------------------------------------


def test_a_confirm_form_with_more_fields_than_the_form_has_is_a_400_problem(stack: Stack) -> None:
    fields = [(f"field{i}", "x") for i in range(11)]
    response = requests.post(f"{stack.url}/api/oauth/start/no-such-ticket", data=fields, timeout=30)
    assert response.status_code == 400
    assert problem(response)["type"] == "urn:connector-gateway:problem:invalid-form"
