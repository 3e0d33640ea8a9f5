"""Body templates and triggers end to end, on real connectors (tests/fixtures) pointed only by host and scheme at
the recording backend: what the caller receives from response templates, and trigger Locations that send the
flow's next call (unsubscribe, next poll) back through the gateway, never to the backend or another host."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import Stack, problem
from tests.e2e.test_oauth import CLIENT_SECRET, complete_sign_in, create, gateway_client, oauth_connector
from tests.e2e.test_policy_templates import _connect, _load, _received
from tests.support.oidc_provider import OidcProvider


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_convertobjecttoarray_adds_the_array_the_caller_receives(stack: Stack) -> None:
    """Pushover's GetSounds: the backend's `sounds` object also arrives as `soundsArray` of {sound, description}."""
    caller, invoke, summary = _connect(
        stack, "independent-publisher-connectors/Pushover", "tpl-pushover-array", {"api_key": "tok-1"}
    )
    assert summary["warnings"] == []
    sounds = {"bike": "Bike", "pushover": "Pushover (default)"}
    stack.backend.respond("/1/sounds.json", body={"sounds": sounds, "status": 1})
    marker = uuid.uuid4().hex
    response = caller.get(f"{invoke}/1/sounds.json?probe={marker}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sounds": sounds,
        "status": 1,
        "soundsArray": [
            {"sound": "bike", "description": "Bike"},
            {"sound": "pushover", "description": "Pushover (default)"},
        ],
    }
    seen = _received(stack, marker)
    assert parse_qs(seen.query)["token"] == ["tok-1"]
    # The template reads the answer as JSON: the backend is asked for it unencoded, whatever the caller accepts.
    assert seen.header("Accept-Encoding") == "identity"
    # A backend that encodes its answer anyway: the caller is told the template failed, never gets it unshaped.
    stack.backend.respond("/1/sounds.json", body={"sounds": sounds}, gzip=True)
    encoded = caller.get(f"{invoke}/1/sounds.json")
    assert encoded.status_code == 502 and problem(encoded)["type"].endswith("template-failed")


@pytest.fixture(scope="module")
def provider(stack: Stack) -> Iterator[OidcProvider]:
    with OidcProvider().start([gateway_client(stack, "iobeya-client")], access_token_ttl=500) as op:
        yield op


def test_setproperty_adds_the_next_link_the_caller_receives(stack: Stack, provider: OidcProvider) -> None:
    """iObeya's ListRooms: `nextLink` set from the backend's `next` (on the operations it names only).

    Two changes beyond host and scheme, because iObeya can't otherwise reach a loopback backend: its OAuth app is
    the test's authorization server (a maker deploys it with their own app, as in Power Platform), and its
    dynamichosturl instance (`https://<prefix>.api.iobeya.com/v1/`, a public https host) is left out; that
    template's effect is proven on Cireson in test_policy_templates.py."""
    definition, properties = _load("certified-connectors/iObeya", stack)
    _, own_app = oauth_connector(stack, provider, client_id="iobeya-client")
    properties["properties"]["connectionParameters"] = own_app["properties"]["connectionParameters"]
    instances = properties["properties"]["policyTemplateInstances"]
    properties["properties"]["policyTemplateInstances"] = [i for i in instances if i["templateId"] == "setproperty"]
    body = {"apiDefinition": definition, "apiProperties": properties, "clientSecret": CLIENT_SECRET}
    upload = stack.maker().put(f"{stack.url}/api/connectors/tpl-iobeya", json=body)
    assert upload.status_code == 201, upload.text
    rooms = next(o for o in upload.json()["operations"] if o["operationId"] == "ListRooms")
    assert rooms["supported"] and [t["templateId"] for t in rooms["templates"]] == ["setproperty"]
    caller = stack.client("iobeya-user")
    connection = create(stack, caller, "tpl-iobeya")
    assert complete_sign_in(stack, connection["loginUrl"], username="iobeya-user").status_code == 200
    invoke = f"{stack.url}/api/connections/{connection['id']}/invoke"
    connection_path = urlsplit(invoke).path
    next_page = f"{stack.backend.url}/v1/rooms?page=2"
    stack.backend.respond("/v1/rooms", body={"data": [{"id": "r1"}], "next": next_page})
    response = caller.get(f"{invoke}/rooms")
    assert response.status_code == 200, response.text
    # ListRooms is x-ms-pageable (nextLink): the link the caller follows is the gateway's, never the backend's.
    gateway_next = f"{stack.public_url}{connection_path}/rooms?page=2"
    assert response.json() == {"data": [{"id": "r1"}], "next": next_page, "nextLink": gateway_next}
    assert (_received(stack, "/v1/rooms").header("Authorization") or "").startswith("Bearer ")
    stack.backend.respond("/v1/rooms", body={"data": [{"id": "r2"}]})
    second = caller.get(gateway_next.replace(stack.public_url, stack.url))
    assert second.status_code == 200 and second.json() == {"data": [{"id": "r2"}]}  # the last page: no nextLink
    seen = _received(stack, "page=2")
    assert seen.path == "/v1/rooms" and (seen.header("Authorization") or "").startswith("Bearer ")
    # A next page on another host: the link goes (paging stops) rather than send the caller off the backend.
    stack.backend.respond("/v1/rooms", body={"data": [], "next": "https://elsewhere.example/v1/rooms?page=3"})
    assert "nextLink" not in caller.get(f"{invoke}/rooms").json()
    # A gateway key of the backend's choosing in its next page never reaches the caller (its client would send it).
    hostile = f"{stack.backend.url}/v1/rooms?page=3&subscription-key=ATTACKER"
    stack.backend.respond("/v1/rooms", body={"data": [], "next": hostile})
    assert caller.get(f"{invoke}/rooms").json()["nextLink"] == f"{stack.public_url}{connection_path}/rooms?page=3"


def test_webhook_subscribe_passes_the_callback_and_its_location_leads_back_through_the_gateway(stack: Stack) -> None:
    """Infobip's CreateInfobipSMSWebhook (x-ms-notification-url): the flow's callback URL reaches the backend
    as sent; the subscription's Location becomes the gateway URL, so the flow's DELETE carries the credential."""
    caller, invoke, _ = _connect(
        stack, "custom-connectors/Infobip", "tpl-webhook", {"username": "hook-user", "password": "hook-pass"}
    )
    connection_path = urlsplit(invoke).path
    hook = uuid.uuid4().hex
    callback = f"https://flows.example/workflows/{hook}/triggers/manual/run?sig=abc"
    stack.backend.respond("/sms/1/webhooks", status=201, headers={"Location": f"/sms/1/webhooks/{hook}"}, body={})
    subscribe = {"phoneNumber": "123", "keyword": hook, "webhookUrl": callback}
    response = caller.post(f"{invoke}/sms/1/webhooks", json=subscribe, allow_redirects=False)
    assert response.status_code == 201, response.text
    assert json.loads(_received(stack, "/sms/1/webhooks").body)["webhookUrl"] == callback
    location = response.headers["Location"]
    assert location == f"{stack.public_url}{connection_path}/sms/1/webhooks/{hook}"
    # The flow unsubscribes at that URL (the gateway's origin as this test reaches it).
    stack.backend.respond(f"/sms/1/webhooks/{hook}", status=204)
    unsubscribe = caller.delete(location.replace(stack.public_url, stack.url))
    assert unsubscribe.status_code == 204, unsubscribe.text
    seen = [r for r in stack.backend.requests if r.method == "DELETE" and r.path == f"/sms/1/webhooks/{hook}"]
    assert seen and seen[-1].header("Authorization") == _basic("hook-user", "hook-pass")


@pytest.mark.parametrize(
    "foreign",
    ["https://elsewhere.example/hooks/1", "http://169.254.169.254/latest/meta-data", "//evil.example/x"],
)
def test_a_trigger_location_off_the_backend_is_dropped(stack: Stack, foreign: str) -> None:
    caller, invoke, _ = _connect(
        stack,
        "custom-connectors/Infobip",
        f"tpl-hook-{uuid.uuid4().hex[:6]}",
        {
            "username": "u",
            "password": "p",
        },
    )
    stack.backend.respond("/sms/1/webhooks", status=201, headers={"Location": foreign}, body={})
    body = {"phoneNumber": "1", "keyword": "k", "webhookUrl": "https://flows.example/cb"}
    response = caller.post(f"{invoke}/sms/1/webhooks", json=body, allow_redirects=False)
    assert response.status_code == 201, response.text
    assert "Location" not in response.headers and foreign not in response.text


def test_polling_trigger_location_and_retry_after_lead_back_through_the_gateway(stack: Stack) -> None:
    """BoomappConnect's GESTRESPONSESTRIGGER (x-ms-trigger batch): a 202 with the next poll's Location on the
    backend becomes the gateway URL, Retry-After as the backend said; the next poll carries the credential."""
    caller, invoke, _ = _connect(
        stack, "certified-connectors/BoomappConnect", "tpl-polling", {"username": "poll-user", "password": "pw"}
    )
    connection_path = urlsplit(invoke).path
    state = uuid.uuid4().hex
    stack.backend.respond(
        "/v1/get_responses",
        status=202,
        headers={"Location": f"{stack.backend.url}/v1/get_responses?since={state}", "Retry-After": "20"},
    )
    first = caller.get(f"{invoke}/get_responses", allow_redirects=False)
    assert first.status_code == 202, first.text
    assert first.headers["Retry-After"] == "20"
    assert first.headers["Location"] == f"{stack.public_url}{connection_path}/get_responses?since={state}"
    stack.backend.respond("/v1/get_responses", body=[{"id": 1}])
    again = caller.get(first.headers["Location"].replace(stack.public_url, stack.url))
    assert again.status_code == 200 and again.json() == [{"id": 1}]
    seen = _received(stack, state)
    assert seen.path == "/v1/get_responses" and seen.header("Authorization") == _basic("poll-user", "pw")


def test_pollingtrigger_keeps_its_state_in_the_gateway_location(stack: Stack) -> None:
    """Feathery Forms' DataReceived: the first poll only sets the state; each poll after it (the flow following
    Location) sends the state to the backend as `last_requested_at`, answers new items or a bodiless 202, and
    names the gateway for the next poll, never the backend, and never with the caller's gateway key."""
    key = stack.key("poll-user")
    caller = requests.Session()
    caller.headers["Ocp-Apim-Subscription-Key"] = key
    summary = stack.register("tpl-feathery", *_load("certified-connectors/Feathery Forms", stack))
    assert summary["warnings"] == []
    connection_path = f"/api/connections/{stack.connect(caller, 'tpl-feathery', {'api_key': 'fk-1'})['id']}/invoke"
    operation = "/trigger/power-automate/poll/data_received/"
    marker = uuid.uuid4().hex

    def answer(requested_at: str, results: list, **extra: object) -> None:
        body = {"requested_at": requested_at, "results": results}
        stack.backend.respond(f"/api{operation}", body=body, headers={"Retry-After": "45"}, **extra)

    def poll(url: str) -> requests.Response:
        return caller.get(url.replace(stack.public_url, stack.url), allow_redirects=False)

    def next_url(state: str) -> str:
        query = f"form_key=f1&probe={marker}&last_requested_at={state}&gateway-poll=next"
        return f"{stack.public_url}{connection_path}{operation}?{query}"

    # First poll, with items already there: they are the starting point, not new.
    answer("2026-11-30T07:00:00Z", [{"id": "old"}])
    first = poll(f"{stack.url}{connection_path}{operation}?form_key=f1&probe={marker}&subscription-key={key}")
    assert first.status_code == 202 and first.content == b"", first.text
    assert first.headers["Retry-After"] == "45"
    assert first.headers["Location"] == next_url("2026-11-30T07%3A00%3A00Z")
    seen = _received(stack, marker)
    assert seen.path == f"/api{operation}" and seen.header("Authorization") == "fk-1"
    assert parse_qs(seen.query) == {"form_key": ["f1"], "probe": [marker]}

    # Nothing new: 202 again, the next state from this answer.
    answer("2026-11-30T07:05:00Z", [])
    quiet = poll(first.headers["Location"])
    assert quiet.status_code == 202 and quiet.content == b""
    assert quiet.headers["Location"] == next_url("2026-11-30T07%3A05%3A00Z")
    seen = _received(stack, marker)
    # The state reaches the backend; the gateway's follow-up marker doesn't.
    assert parse_qs(seen.query) == {
        "form_key": ["f1"],
        "probe": [marker],
        "last_requested_at": ["2026-11-30T07:00:00Z"],
    }

    # New items: the flow fires with the backend's answer, and still learns where to poll next.
    answer("2026-11-30T07:10:00Z", [{"id": "s-1"}])
    fired = poll(quiet.headers["Location"])
    assert fired.status_code == 200
    assert fired.json() == {"requested_at": "2026-11-30T07:10:00Z", "results": [{"id": "s-1"}]}
    assert fired.headers["Location"] == next_url("2026-11-30T07%3A10%3A00Z")
    assert parse_qs(_received(stack, marker).query)["last_requested_at"] == ["2026-11-30T07:05:00Z"]

    # A backend failure passes as it is, with no Location: the flow retries the poll it made.
    answer("x", [], status=503)
    failed = poll(fired.headers["Location"])
    assert failed.status_code == 503 and "Location" not in failed.headers
    assert key not in first.headers["Location"] + stack.gateway_log()


def test_pollingtrigger_sends_a_next_page_through_the_gateway_only(stack: Stack) -> None:
    """An answer's `@odata.nextLink` (the template's default next-page property) inside the backend becomes the
    gateway URL of the next poll; one on another host is not followed, the state query is polled instead."""
    caller, invoke, _ = _connect(stack, "certified-connectors/App Power Forms", "tpl-apppower", {"api_key": "ak"})
    operation = "/trigger/TriggerGetCardResponse/form-1"
    marker = uuid.uuid4().hex
    connection_path = urlsplit(invoke).path
    page = f"{stack.backend.url}/api{operation}?page=2&probe={marker}"
    stack.backend.respond(
        f"/api{operation}", body={"timestamp": "t9", "submissions": [{"formId": "a"}], "@odata.nextLink": page}
    )
    url = f"{invoke}{operation}?timestamp=2021-12-31&probe={marker}&gateway-poll=next"
    inside = caller.get(url, allow_redirects=False)
    assert inside.status_code == 200 and inside.json()["submissions"] == [{"formId": "a"}]
    assert inside.headers["Location"] == (
        f"{stack.public_url}{connection_path}{operation}?page=2&probe={marker}&gateway-poll=next"
    )
    assert _received(stack, marker).header("api-key") == "ak"
    stack.backend.respond(
        f"/api{operation}",
        body={"timestamp": "t9", "submissions": [], "@odata.nextLink": f"https://evil.example{operation}?page=2"},
    )
    outside = caller.get(url, allow_redirects=False)
    assert outside.status_code == 202
    assert outside.headers["Location"] == (
        f"{stack.public_url}{connection_path}{operation}?probe={marker}&timestamp=t9&gateway-poll=next"
    )


def test_pollingtrigger_never_leads_the_flow_elsewhere_nor_shows_it_a_credential(stack: Stack) -> None:
    """App Power Forms with its API key sent in the query (as many APIs take it): a next page that echoes that key,
    or names a gateway key of the backend's choosing, reaches the flow without them; one whose `..` would lead the
    flow to another connection's invoke path once its client resolved it is not followed (the state is polled)."""
    definition, properties = _load("certified-connectors/App Power Forms", stack)
    definition["securityDefinitions"] = {"API Key": {"type": "apiKey", "in": "query", "name": "code"}}
    stack.register("tpl-apppower-query", definition, properties)
    caller = stack.client("templates-user")
    key = "ak-" + uuid.uuid4().hex
    connection_path = f"/api/connections/{stack.connect(caller, 'tpl-apppower-query', {'api_key': key})['id']}/invoke"
    operation = "/trigger/TriggerGetCardResponse/form-1"
    marker = uuid.uuid4().hex
    url = f"{stack.url}{connection_path}{operation}?timestamp=t0&probe={marker}&gateway-poll=next"

    def poll(next_link: str) -> requests.Response:
        body = {"timestamp": "t1", "submissions": [{"formId": "a"}], "@odata.nextLink": next_link}
        stack.backend.respond(f"/api{operation}", body=body)
        response = caller.get(url, allow_redirects=False)
        assert response.status_code == 200, response.text
        return response

    echoed = poll(f"{stack.backend.url}/api{operation}?page=2&code={key}&subscription-key=ATTACKER")
    assert echoed.headers["Location"] == f"{stack.public_url}{connection_path}{operation}?page=2&gateway-poll=next"
    assert parse_qs(_received(stack, marker).query)["code"] == [key]  # the backend did get the key
    state_poll = f"{stack.public_url}{connection_path}{operation}?probe={marker}&timestamp=t1&gateway-poll=next"
    for escaping in (f"/api{operation}/../../../../../other/invoke/x", "/api/x\\..\\..\\..\\other\\invoke"):
        assert poll(f"{stack.backend.url}{escaping}").headers["Location"] == state_poll
    assert key not in stack.gateway_log()
