"""updatenextlink and stringreplace end to end, on real connectors (tests/fixtures) pointed only by host and scheme
at the recording backend: the next-page link the caller gets leads back through the gateway (never to the backend
or another host), and a string property the caller gets is rewritten as the connector declares."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_oauth import CLIENT_SECRET, complete_sign_in, create, gateway_client, oauth_connector
from tests.e2e.test_policy_templates import _connect, _load, _received
from tests.support.oidc_provider import OidcProvider


def test_updatenextlink_sends_the_next_page_back_through_the_gateway(stack: Stack) -> None:
    """Almabase's ListGifts: `nextLink` (its updatenextlink) and `nextlink` (its x-ms-pageable nextLinkName)."""
    key = "alma-" + uuid.uuid4().hex
    caller, invoke, summary = _connect(
        stack, "certified-connectors/Almabase", "tpl-almabase", {"domain_url": "https://alma.example", "api_key": key}
    )
    gifts = next(o for o in summary["operations"] if o["operationId"] == "ListGifts")
    assert gifts["supported"] and "updatenextlink" in [t["templateId"] for t in gifts["templates"]]
    assert not [w for w in summary["warnings"] if "updatenextlink" in w["detail"]]
    connection_path = urlsplit(invoke).path
    marker = uuid.uuid4().hex
    page_two = f"{stack.backend.url}/api/v1/givingx/gifts/?page=2&probe={marker}"
    stack.backend.respond("/api/v1/givingx/gifts/", body={"results": [{"id": 1}], "nextLink": page_two})
    response = caller.get(f"{invoke}/v1/givingx/gifts/", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    gateway_next = f"{stack.public_url}{connection_path}/v1/givingx/gifts/?page=2&probe={marker}"
    assert response.json() == {"results": [{"id": 1}], "nextLink": gateway_next}
    first = _received(stack, "/api/v1/givingx/gifts/")
    assert first.header("X-API-ACCESS-TOKEN") == key and first.header("Accept-Encoding") == "identity"
    # The caller follows it: through the gateway, which adds the key; the backend sees its own path.
    stack.backend.respond("/api/v1/givingx/gifts/", body={"results": [{"id": 2}]})
    second = caller.get(gateway_next.replace(stack.public_url, stack.url))
    assert second.status_code == 200 and second.json() == {"results": [{"id": 2}]}
    seen = _received(stack, marker)
    assert seen.path == "/api/v1/givingx/gifts/" and seen.header("X-API-ACCESS-TOKEN") == key
    # Both spellings are links: the swagger's `nextlink` is rewritten too.
    stack.backend.respond("/api/v1/givingx/gifts/", body={"nextlink": page_two, "nextLink": page_two})
    both = caller.get(f"{invoke}/v1/givingx/gifts/").json()
    assert both == {"nextlink": gateway_next, "nextLink": gateway_next}


@pytest.mark.parametrize(
    "foreign",
    [
        "https://elsewhere.example/api/v1/givingx/gifts/?page=2",
        "http://169.254.169.254/latest/meta-data/",
        "/not-the-base-path/gifts?page=2",
    ],
)
def test_an_updatenextlink_link_off_the_backend_is_removed(stack: Stack, foreign: str) -> None:
    caller, invoke, _ = _connect(
        stack,
        "certified-connectors/Almabase",
        "tpl-almabase-foreign",
        {"domain_url": "https://a.example", "api_key": "k"},
    )
    stack.backend.respond("/api/v1/profiles", body={"results": [], "nextLink": foreign})
    response = caller.get(f"{invoke}/v1/profiles")  # ListRecords: named by the second updatenextlink instance
    assert response.status_code == 200 and response.json() == {"results": []}


@pytest.fixture(scope="module")
def provider(stack: Stack) -> Iterator[OidcProvider]:
    with OidcProvider().start([gateway_client(stack, "freeagent-client")], access_token_ttl=500) as op:
        yield op


def test_stringreplace_gives_the_caller_ids_from_urls(stack: Stack, provider: OidcProvider) -> None:
    """FreeAgent's GetContacts: each contact's `id` is its `url` without the API prefix.

    One change beyond host and scheme: FreeAgent's OAuth app (a `[[CLIENT ID]]` placeholder) is the test's
    authorization server, as a maker deploys it with their own app."""
    definition, properties = _load("independent-publisher-connectors/FreeAgent", stack)
    _, own_app = oauth_connector(stack, provider, client_id="freeagent-client")
    properties["properties"]["connectionParameters"] = own_app["properties"]["connectionParameters"]
    body = {"apiDefinition": definition, "apiProperties": properties, "clientSecret": CLIENT_SECRET}
    upload = stack.maker().put(f"{stack.url}/api/connectors/tpl-freeagent", json=body)
    assert upload.status_code == 201, upload.text
    assert not [w for w in upload.json()["warnings"] if "stringreplace" in w["detail"]]
    caller = stack.client("freeagent-user")
    connection = create(stack, caller, "tpl-freeagent")
    assert complete_sign_in(stack, connection["loginUrl"], username="freeagent-user").status_code == 200
    invoke = f"{stack.url}/api/connections/{connection['id']}/invoke"
    contacts = [{"url": "https://api.freeagent.com/v2/contacts/71", "name": "A"}, {"name": "no url"}, {"url": 5}]
    stack.backend.respond("/v2/contacts", body={"contacts": contacts})
    response = caller.get(f"{invoke}/contacts", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.json() == {"contacts": [{**contacts[0], "id": "71"}, contacts[1], contacts[2]]}
    seen = _received(stack, "/v2/contacts")
    assert (seen.header("Authorization") or "").startswith("Bearer ") and seen.header("Accept-Encoding") == "identity"
    # ListInvoices: its stringreplace gives each invoice its id, then its setproperty (in the order listed) a
    # title of `'{@item()['id']}-{@item()['reference']}'`, which reads the id just set.
    invoices = [{"url": "https://api.freeagent.com/v2/invoices/7", "reference": "INV-7"}, {"reference": "no url"}]
    stack.backend.respond("/v2/invoices", body={"invoices": invoices})
    listed = caller.get(f"{invoke}/invoices")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "invoices": [{**invoices[0], "id": "7", "title": "7-INV-7"}, {**invoices[1], "title": "-no url"}]
    }
