"""schemathesis against the running gateway, driven by the document the gateway serves at /api/openapi.json.

Every operation of the document is exercised with a maker's subscription key: data that fits the document
and data that doesn't. No answer may be a 5xx, and every answer must be one the document describes (status,
media type, body schema). Nothing is excluded:
- the invoke passthrough is exercised too; with no connection of this maker it answers the gateway's own
  problems (404 and friends), and the document says any status may come back from a real backend;
- the OAuth start page and callback are exercised with made-up tickets and states: problems, or error pages.

Bounded for 2 shared cores: a fixed number of examples per operation, derandomized so a run can be repeated.
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.api.openapi import openapi_path
from tests.e2e.conftest import MAKER_ROLE, Stack, problem

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


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


@pytest.mark.parametrize(("path", "method"), _registered_operations(), ids=lambda value: value)
def test_the_gateway_answers_as_its_document_says(
    gateway_api, stack: Stack, maker_key: str, path: str, method: str
) -> None:
    operation = gateway_api[path][method]
    headers = {"Ocp-Apim-Subscription-Key": maker_key}  # the default AUTH_SUBSCRIPTION_KEY_HEADER

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize="OPENAPI_FUZZ_EXAMPLES" not in os.environ,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case) -> None:
            case.call_and_validate(base_url=stack.url, headers=headers, checks=CHECKS, timeout=30)

        try:
            answers_as_documented()
        except Unsatisfiable:
            # Hypothesis proved no input breaks this operation's document (e.g. no body, query or typed
            # parameter to get wrong): nothing negative to send. Any other failure fails the test.
            if mode is not GenerationMode.NEGATIVE:
                raise


# -- what schemathesis found, kept as plain regression tests ------------------------------------------


def test_a_confirm_form_with_more_fields_than_the_form_has_is_a_400_problem(stack: Stack) -> None:
    fields = [(f"field{i}", "x") for i in range(11)]
    response = requests.post(f"{stack.url}/api/oauth/start/no-such-ticket", data=fields, timeout=30)
    assert response.status_code == 400
    assert problem(response)["type"] == "urn:connector-gateway:problem:invalid-form"
