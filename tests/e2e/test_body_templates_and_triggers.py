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

from tests.e2e.conftest import Stack, problem
from tests.e2e.test_oauth import CLIENT_SECRET, complete_sign_in, create, oauth_connector
from tests.e2e.test_policy_templates import _connect, _load, _nothing_received, _received
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
    callback = f"{stack.public_url}/api/oauth/callback"
    client = {
        "client_id": "iobeya-client",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [callback],
        "token_endpoint_auth_method": "client_secret_post",
    }
    with OidcProvider().start([client], access_token_ttl=500) as op:
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


def test_a_template_known_but_not_honoured_names_itself(stack: Stack) -> None:
    """Feathery Forms' pollingtrigger: the upload warns, its operations answer 501 saying why, nothing is sent."""
    caller, invoke, summary = _connect(stack, "certified-connectors/Feathery Forms", "tpl-feathery", {"api_key": "k"})
    pointers = [w["pointer"] for w in summary["warnings"]]
    assert "/apiProperties/properties/policyTemplateInstances/0/templateId" in pointers
    marker = uuid.uuid4().hex
    response = caller.get(f"{invoke}/trigger/power-automate/poll/form_completion/?probe={marker}")
    assert response.status_code == 501, response.text
    assert "pollingtrigger" in problem(response)["detail"] and "flow engine" in problem(response)["detail"]
    _nothing_received(stack, marker)
