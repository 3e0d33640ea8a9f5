"""pollingtrigger without a network: the first poll only sets the state, later polls answer items or 202, the
state rides in the next poll's query, and the Location the HTTP adapter makes of it stays on the gateway."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from shared.connectors import build_connector, decode_document
from shared.invoke import ConnectorRuntime, next_poll_location
from shared.problems import Problem
from shared.templates import NEXT_POLL_MARKER, CallerResponse, Evaluation, NextPoll, OutgoingRequest, parse_instances
from tests.support.connector_files import CURATED_CONNECTORS, read_connector_files

P = "x-ms-apimTemplateParameter."
FEATHERY = {
    P + "triggerConfig": {"last_requested_at": "@{triggerBody().requested_at}"},
    P + "triggerDataPath": "@triggerBody().results",
    "x-ms-apimTemplate-operationName": ["DataReceived"],
}


def _polling(**parameters: object):
    (instance,) = parse_instances([{"templateId": "PollingTrigger", "parameters": parameters or FEATHERY}])
    return instance


def _evaluation(query: dict[str, str]) -> Evaluation:
    return Evaluation(connection={}, method="GET", headers={}, query=query, body=b"")


def _answer(document: object, status: int = 200) -> CallerResponse:
    body = json.dumps(document).encode()
    return CallerResponse(status, [("Content-Type", "application/json"), ("Retry-After", "30")], body)


def _poll(document: object, query: dict[str, str], status: int = 200, **parameters: object) -> CallerResponse:
    template = _polling(**parameters).template
    assert template is not None
    response = _answer(document, status)
    template.apply_response(response, _evaluation(query))
    return response


def test_the_first_poll_only_sets_the_state() -> None:
    """Even with items in the answer: the first call establishes the state, as Microsoft's protocol says."""
    response = _poll({"requested_at": "2026-11-30T07:00:00Z", "results": [{"id": 1}]}, {"form_key": "f"})
    assert response.status == 202 and response.body == b""
    assert ("Retry-After", "30") in response.headers
    assert not any(name.lower() == "content-type" for name, _ in response.headers)
    assert response.next_poll == NextPoll(query={"last_requested_at": "2026-11-30T07:00:00Z"})


def test_a_later_poll_with_items_answers_them_and_one_without_answers_202() -> None:
    follow_up = {"form_key": "f", NEXT_POLL_MARKER: "next"}
    fired = _poll({"requested_at": "t2", "results": [{"id": 1}]}, follow_up)
    assert fired.status == 200 and json.loads(fired.body) == {"requested_at": "t2", "results": [{"id": 1}]}
    assert fired.next_poll == NextPoll(query={"last_requested_at": "t2"})
    for empty in (
        {"requested_at": "t3", "results": []},
        {"requested_at": "t3"},
        {"requested_at": "t3", "results": None},
    ):
        quiet = _poll(empty, follow_up)
        assert (
            quiet.status == 202 and quiet.body == b"" and quiet.next_poll == NextPoll(query={"last_requested_at": "t3"})
        )
    # A 204 (no body) is no items either, and a value the answer lacks is left to the caller's current one.
    template = _polling().template
    assert template is not None
    no_content = CallerResponse(204, [], b"")
    template.apply_response(no_content, _evaluation(follow_up))
    assert no_content.status == 202 and no_content.next_poll == NextPoll(query={})


def test_a_backend_error_passes_unchanged_and_an_answer_that_isnt_json_is_named() -> None:
    failed = _poll({"error": "down"}, {NEXT_POLL_MARKER: "next"}, status=503)
    assert failed.status == 503 and failed.next_poll is None and json.loads(failed.body) == {"error": "down"}
    template = _polling().template
    assert template is not None
    html = CallerResponse(200, [("Content-Type", "text/html")], b"<html>oops</html>")
    with pytest.raises(Problem) as raised:
        template.apply_response(html, _evaluation({}))
    assert raised.value.status == 502 and "pollingtrigger" in raised.value.detail


def test_state_values_literal_text_types_and_paths_as_logic_apps_writes_them() -> None:
    config = {
        "$filter": "CreatedDateTime gt @{triggerBody().value[0].CreatedDateTime}",
        "since": "@triggerBody()?['meta']['last id']",
        "count": "@triggerBody().meta.count",
        "fixed": "yes",
    }
    answer = {"value": [{"CreatedDateTime": "2026-01-01"}], "meta": {"last id": "a b", "count": 5}}
    response = _poll(answer, {}, **{P + "triggerConfig": config, P + "triggerDataPath": "@{triggerBody().value}"})
    assert response.next_poll is not None
    assert dict(response.next_poll.query) == {
        "$filter": "CreatedDateTime gt 2026-01-01",
        "since": "a b",
        "count": "5",
        "fixed": "yes",
    }


@pytest.mark.parametrize(
    "parameters",
    [
        {P + "triggerDataPath": "@triggerBody().results"},  # no triggerConfig
        {P + "triggerConfig": ["a"], P + "triggerDataPath": "@triggerBody().results"},
        {P + "triggerConfig": {"since": "@{utcNow()}"}, P + "triggerDataPath": "@triggerBody().results"},
        {P + "triggerConfig": {"since": "@{body('x').y}"}, P + "triggerDataPath": "@triggerBody().results"},
        # A connection's values never go into a URL the caller sees.
        {P + "triggerConfig": {"k": "@connectionParameters('api_key')"}, P + "triggerDataPath": "@triggerBody().r"},
        {P + "triggerConfig": {"since": {"nested": 1}}, P + "triggerDataPath": "@triggerBody().results"},
        {P + "triggerConfig": {"since": "x"}, P + "triggerDataPath": "@body().results"},
        {P + "triggerConfig": {"since": "x"}},  # no triggerDataPath
        {P + "triggerConfig": {" ": "x"}, P + "triggerDataPath": "@triggerBody().results"},  # names no parameter
    ],
)
def test_what_it_cant_read_is_named_not_guessed(parameters: dict) -> None:
    instance = _polling(**parameters)
    assert instance.template is None and instance.unsupported


def test_a_state_value_too_long_for_a_url_is_a_502() -> None:
    with pytest.raises(Problem) as raised:
        _poll({"requested_at": "x" * 5000, "results": []}, {})
    assert (
        raised.value.status == 502 and "last_requested_at" in raised.value.detail and "xxx" not in raised.value.detail
    )


def test_the_runtime_runs_it_on_the_answer_whatever_section_the_instance_names() -> None:
    definition, properties = read_connector_files(CURATED_CONNECTORS / "certified-connectors" / "Feathery Forms")
    connector = build_connector(
        "feathery", decode_document(definition, "swagger"), decode_document(properties, "properties"), None
    )
    plan = ConnectorRuntime(connector).plan("DataReceived")
    assert not plan.unsupported
    # Feathery's instance names no section (Request by default); the template acts on the answer.
    assert plan.request == () and [i.template_id for i in plan.response] == ["pollingtrigger"]
    assert len(plan.templates) == 1


LOCATION = {
    "public_origin": "https://gw.example.com",
    "invoke_prefix": "/api/connections/c-1/invoke",
    "raw_path": "/trigger/poll/",
    "hidden_query": {"subscription-key"},
    "backend_request_url": "https://api.feathery.io/api/trigger/poll/?form_key=f",
    "base_path": "/api",
}


def test_the_location_is_the_callers_query_with_the_state_on_the_gateway() -> None:
    raw_query = "form_key=f%20g&subscription-key=SECRET&last_requested_at=old&gateway-poll=next"
    location = next_poll_location(NextPoll(query={"last_requested_at": "t 2"}), raw_query=raw_query, **LOCATION)
    parts = urlsplit(location)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://gw.example.com/api/connections/c-1/invoke/trigger/poll/"
    )
    assert parse_qsl(parts.query) == [("form_key", "f g"), ("last_requested_at", "t 2"), ("gateway-poll", "next")]
    assert "SECRET" not in location
    # No new state value: the caller's current one stays.
    kept = next_poll_location(NextPoll(query={}), raw_query="last_requested_at=old", **LOCATION)
    assert parse_qsl(urlsplit(kept).query) == [("last_requested_at", "old"), ("gateway-poll", "next")]


def test_a_next_page_is_followed_through_the_gateway_only_inside_the_backend() -> None:
    inside = NextPoll(query={"s": "1"}, link="https://api.feathery.io/api/trigger/poll/?page=2")
    assert (
        next_poll_location(inside, raw_query="form_key=f", **LOCATION)
        == "https://gw.example.com/api/connections/c-1/invoke/trigger/poll/?page=2&gateway-poll=next"
    )
    for outside in ("https://evil.example/api/x", "https://api.feathery.io/other", "http://api.feathery.io/api/x"):
        location = next_poll_location(NextPoll(query={"s": "1"}, link=outside), raw_query="form_key=f", **LOCATION)
        assert (
            location
            == "https://gw.example.com/api/connections/c-1/invoke/trigger/poll/?form_key=f&s=1&gateway-poll=next"
        )


def test_a_next_page_that_would_leave_the_invoke_path_is_not_followed() -> None:
    """A client resolves `..` (and, as browsers do, `\\`) before it calls: such a page would send the flow, with its
    gateway credential, to another connection or another gateway endpoint. Control characters never reach a header."""
    state_poll = "https://gw.example.com/api/connections/c-1/invoke/trigger/poll/?form_key=f&s=1&gateway-poll=next"
    for hostile in (
        "https://api.feathery.io/api/../../c-2/invoke/x",
        "https://api.feathery.io/api/x/%2e%2e/%2E%2E/%2e%2e/c-2/invoke/x",
        "https://api.feathery.io/api/x\\..\\..\\..\\c-2\\invoke",
        "https://api.feathery.io/api/x\x00y",
        "https://api.feathery.io/api/x\u0085y",
        "https://api.feathery.io/api/x?a=\x7f",
    ):
        location = next_poll_location(NextPoll(query={"s": "1"}, link=hostile), raw_query="form_key=f", **LOCATION)
        assert location == state_poll, hostile
    # Characters a URL can't carry raw are encoded, not refused.
    odd = NextPoll(query={}, link="https://api.feathery.io/api/trigger/é x?q=é x")
    assert next_poll_location(odd, raw_query="", **LOCATION) == (
        "https://gw.example.com/api/connections/c-1/invoke/trigger/%C3%A9%20x?q=%C3%A9%20x&gateway-poll=next"
    )


def test_no_credential_goes_into_the_location_from_the_state_or_the_next_page() -> None:
    """A triggerConfig key named like a gateway credential, or a next page naming one, would make the flow's next
    poll authenticate with a key the backend chose (a query key wins over a bearer token); a backend echoing the
    connection's API key (or a template's query value) in its next page would show the flow that key."""
    location = dict(LOCATION, hidden_query={"subscription-key", "access_token", "api_key"})
    hostile_state = NextPoll(query={"Subscription-Key": "ATTACKER", "ACCESS_TOKEN": "t", "s": "1"})
    assert next_poll_location(hostile_state, raw_query="form_key=f", **location) == (
        "https://gw.example.com/api/connections/c-1/invoke/trigger/poll/?form_key=f&s=1&gateway-poll=next"
    )
    page = "https://api.feathery.io/api/trigger/poll/?page=2&subscription-key=ATTACKER&API_KEY=SECRET&access_token=t"
    assert next_poll_location(NextPoll(query={}, link=page), raw_query="form_key=f", **location) == (
        "https://gw.example.com/api/connections/c-1/invoke/trigger/poll/?page=2&gateway-poll=next"
    )


def test_the_query_names_the_gateway_gives_the_backend_are_the_connections_key_and_the_templates() -> None:
    from shared.auth_schemes import ApiKeyQuery
    from shared.connections import Credential
    from shared.invoke._context import IncomingCall, Invocation

    call = IncomingCall(None, "c-1", "GET", "/p", "", {}, b"", None, "https")  # type: ignore[arg-type]
    invocation = Invocation(call, credential=Credential(ApiKeyQuery("api_key", "SECRET")))
    invocation.request = OutgoingRequest("GET", "https://api.example.com", "/p", "", {}, b"", query_set={"v": "1"})
    invocation.request.query_added.append(("tenant", "t"))
    assert set(invocation.backend_query_names()) == {"api_key", "v", "tenant"}
    invocation.credential = Credential(None)
    assert set(invocation.backend_query_names()) == {"v", "tenant"}


def test_a_quoted_empty_property_name_is_a_path_not_a_crash() -> None:
    """`@triggerBody()['']` is the property named "" (an uncaught ValueError here failed the upload with a 500)."""
    config = {P + "triggerConfig": {"s": "@triggerBody()['']"}, P + "triggerDataPath": "@triggerBody()['']"}
    response = _poll({"": "v"}, {NEXT_POLL_MARKER: "next"}, **config)
    assert response.status == 200 and response.next_poll == NextPoll(query={"s": "v"})


def test_a_next_page_too_long_for_a_header_is_not_followed() -> None:
    page = "https://api.feathery.io/api/trigger/poll/?page=" + "9" * 9000
    response = _poll({"requested_at": "t", "results": [1], "@odata.nextLink": page}, {NEXT_POLL_MARKER: "next"})
    assert response.status == 200 and response.next_poll == NextPoll(query={"last_requested_at": "t"})


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"5", b"null", b"true", b"", b"  "])
def test_an_answer_that_isnt_an_object_is_no_items_not_a_crash(body: bytes) -> None:
    template = _polling().template
    assert template is not None
    response = CallerResponse(200, [("Content-Type", "application/json")], body)
    template.apply_response(response, _evaluation({NEXT_POLL_MARKER: "next"}))
    assert response.status == 202 and response.body == b"" and response.next_poll == NextPoll(query={})


def test_the_callers_query_keeps_its_bytes_and_loses_only_case_variants_of_the_state() -> None:
    """`+` and `%26` stay as the caller sent them; a parameter named like a state key in another case goes (the
    backend gets the state once), however its name is encoded."""
    raw_query = "q=a+b%26c&Last_Requested_At=old&last%5Frequested%5Fat=older&n=1&n=2"
    location = next_poll_location(NextPoll(query={"last_requested_at": "new"}), raw_query=raw_query, **LOCATION)
    assert urlsplit(location).query == "q=a+b%26c&n=1&n=2&last_requested_at=new&gateway-poll=next"


def test_the_callers_path_goes_into_the_location_as_the_backend_got_it() -> None:
    """Characters a header can't carry raw (a host may hand the path over decoded) are encoded, as for the backend."""
    location = next_poll_location(NextPoll(query={}), raw_query="", **dict(LOCATION, raw_path="/trigger/é x"))
    assert location == "https://gw.example.com/api/connections/c-1/invoke/trigger/%C3%A9%20x?gateway-poll=next"
