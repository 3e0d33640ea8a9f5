"""Connector owners, connector sharing, forced replaces and secrets at rest, through the dev host.

The attacker is a second maker who re-uploads someone else's connector pointing at a host of their own
(an `attacker` RecordingBackend): refused, the stored connector unchanged, the attacker's host reached by nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests
from azure.data.tables import UpdateMode

from shared.callers import Principal
from shared.gateway import build_gateway
from shared.problems import Problem
from shared.settings import Settings
from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of, problem
from tests.support import connector_files
from tests.support.backend import RecordingBackend
from tests.support.oidc_provider import OidcProvider

ADMIN_ROLE = "Connectors.Admin"  # AUTH_ADMIN_ROLE's default
PROBLEM = "urn:connector-gateway:problem:"
API_KEY = "owners-api-key-" + uuid.uuid4().hex
CLIENT_SECRET = "owners-client-secret-" + uuid.uuid4().hex
DEFAULT_SECRET = "owners-default-secret-" + uuid.uuid4().hex
EDIT_GROUP = "owners-editors-" + uuid.uuid4().hex[:8]
USE_GROUP = "owners-users-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def attacker() -> Iterator[RecordingBackend]:
    with RecordingBackend() as backend:
        yield backend


def maker(stack: Stack, subject: str, groups: tuple[str, ...] = ()) -> requests.Session:
    return member(stack, subject, groups, (MAKER_ROLE,))


def member(stack: Stack, subject: str, groups: tuple[str, ...] = (), roles: tuple[str, ...] = ()) -> requests.Session:
    session = requests.Session()
    token = stack.issuer.mint({"sub": subject, "roles": list(roles), "groups": list(groups)})
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def upload(host: str, title: str = "Echo") -> dict:
    definition, properties = api_key_connector(host)
    definition["info"] = {**definition["info"], "title": title}
    return {"apiDefinition": definition, "apiProperties": properties}


def put(client: requests.Session, stack: Stack, connector_id: str, body: dict, query: str = "") -> requests.Response:
    return client.put(f"{stack.url}/api/connectors/{connector_id}{query}", json=body)


def stored(stack: Stack, connector_id: str) -> dict:
    return dict(stack.tables.get_table_client("e2econnectors").get_entity("connector", connector_id))


def expect_problem(response: requests.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    details = problem(response)
    assert details["type"] == PROBLEM + slug, details
    return details


def invoke(stack: Stack, client: requests.Session, connection_id: str, path: str) -> requests.Response:
    return client.get(f"{stack.url}/api/connections/{connection_id}/invoke/{path}")


def test_another_maker_cannot_hijack_a_connector(stack: Stack, attacker: RecordingBackend) -> None:
    owner = maker(stack, "own-alice")
    assert put(owner, stack, "own-hijack", upload(host_of(stack.backend.url))).status_code == 201
    user = stack.client("own-user")
    connection = stack.connect(user, "own-hijack", {"api_key": API_KEY})
    before = stored(stack, "own-hijack")

    mallory = maker(stack, "own-mallory")
    hostile = upload(host_of(attacker.url), title="Hijacked")
    for response in (
        put(mallory, stack, "own-hijack", hostile),
        put(mallory, stack, "own-hijack", hostile, "?force=true"),
        mallory.delete(f"{stack.url}/api/connectors/own-hijack"),
        mallory.post(f"{stack.url}/api/connectors/own-hijack/shares", json={"principal": "x", "permissions": ["edit"]}),
        mallory.get(f"{stack.url}/api/connectors/own-hijack/shares"),
    ):
        details = expect_problem(response, 403, "forbidden")
        assert "belongs to another maker" in details["detail"]
    # A user who isn't a maker never gets that far.
    expect_problem(put(user, stack, "own-hijack", hostile), 403, "forbidden")

    assert stored(stack, "own-hijack") == before  # not one property changed
    shown = mallory.get(f"{stack.url}/api/connectors/own-hijack").json()
    assert (shown["backendUrl"], shown["title"], shown["owner"]) == (
        f"{stack.backend.url}/v1",
        "Echo",
        stack.principal_id("own-alice"),
    )
    assert shown["permissions"] == []
    assert invoke(stack, user, connection["id"], "own-hijack-after").status_code == 200
    [seen] = [r for r in stack.backend.requests if r.path == "/v1/own-hijack-after"]
    assert seen.header("X-Api-Key") == API_KEY
    assert attacker.requests == []


def test_replacing_the_backend_needs_force_and_disconnects_the_connections(
    stack: Stack, attacker: RecordingBackend
) -> None:
    owner = maker(stack, "own-dora")
    assert put(owner, stack, "own-moving", upload(host_of(stack.backend.url))).status_code == 201
    user = stack.client("own-erin")
    connection_id = stack.connect(user, "own-moving", {"api_key": API_KEY})["id"]
    before = stored(stack, "own-moving")

    # A new title only: nothing moves, no force needed, the connection keeps working.
    assert put(owner, stack, "own-moving", upload(host_of(stack.backend.url), title="Renamed")).status_code == 200
    assert invoke(stack, user, connection_id, "own-moving-renamed").status_code == 200
    before = stored(stack, "own-moving")

    moved = upload(host_of(attacker.url))
    details = expect_problem(put(owner, stack, "own-moving", moved), 409, "connector-in-use")
    assert (details["connections"], details["changed"]) == (1, ["backend"])
    assert stored(stack, "own-moving") == before
    assert invoke(stack, user, connection_id, "own-moving-still").status_code == 200

    other_auth = upload(host_of(stack.backend.url))
    other_auth["apiDefinition"]["securityDefinitions"]["api_key"]["name"] = "X-Other-Header"
    details = expect_problem(put(owner, stack, "own-moving", other_auth), 409, "connector-in-use")
    assert details["changed"] == ["authentication"]

    forced = put(owner, stack, "own-moving", moved, "?force=true")
    assert forced.status_code == 200, forced.text
    assert forced.json()["backendUrl"] == f"{attacker.url}/v1"
    shown = user.get(f"{stack.url}/api/connections/{connection_id}").json()
    assert (shown["status"], shown["error"]) == ("Error", "connector changed")
    assert stack.connection_record(connection_id)["status"] == "Error"

    refused = invoke(stack, user, connection_id, "own-moving-after")
    expect_problem(refused, 409, "connector-changed")
    assert API_KEY not in refused.text
    assert attacker.requests == []
    assert [r for r in stack.backend.requests if r.path.endswith("/own-moving-after")] == []

    # New connections (with the user's consent to the new host) go there.
    fresh = stack.connect(user, "own-moving", {"api_key": "fresh-key"})
    assert invoke(stack, user, fresh["id"], "own-moving-fresh").status_code == 200
    assert [r.header("X-Api-Key") for r in attacker.requests] == ["fresh-key"]
    attacker.clear()


def test_sharing_to_edit_and_use_with_principals_and_groups(stack: Stack) -> None:
    owner = maker(stack, "own-fay")
    body = upload(host_of(stack.backend.url))
    hidden = {**body, "policy": {"visibility": {"audience": "makers"}}}
    assert put(owner, stack, "own-shared", hidden).status_code == 201
    shares = f"{stack.url}/api/connectors/own-shared/shares"
    editor, group_editor = maker(stack, "own-editor"), maker(stack, "own-geditor", (EDIT_GROUP,))
    viewer, group_viewer = stack.client("own-viewer"), member(stack, "own-gviewer", (USE_GROUP,))
    user_maker = maker(stack, "own-usemaker")

    # Before any share: other makers see it but may not edit it; users don't see it at all.
    expect_problem(put(editor, stack, "own-shared", hidden), 403, "forbidden")
    expect_problem(put(group_editor, stack, "own-shared", hidden), 403, "forbidden")
    for client in (viewer, group_viewer):
        expect_problem(client.get(f"{stack.url}/api/connectors/own-shared"), 404, "connector-not-found")
        assert "own-shared" not in [c["id"] for c in client.get(f"{stack.url}/api/connectors").json()["value"]]

    made = []
    for grant in (
        {"principal": stack.principal_id("own-editor"), "permissions": ["edit"]},
        {"group": stack.group_id(EDIT_GROUP), "permissions": ["edit"]},
        {"principal": stack.principal_id("own-viewer")},  # use, the default
        {"group": stack.group_id(USE_GROUP), "permissions": ["use"]},
        {"principal": stack.principal_id("own-usemaker"), "permissions": ["use"]},
    ):
        response = owner.post(shares, json=grant)
        assert response.status_code == 201, response.text
        made.append(response.json())
    assert made[0]["permissions"] == ["edit"] and made[1]["group"] == stack.group_id(EDIT_GROUP)
    listed = owner.get(shares).json()["value"]
    assert sorted(s["id"] for s in listed) == sorted(s["id"] for s in made)

    # use: see it and connect to it despite the makers-only audience; but never edit it.
    for client in (viewer, group_viewer):
        shown = client.get(f"{stack.url}/api/connectors/own-shared")
        assert shown.status_code == 200 and shown.json()["permissions"] == ["use"]
        connection = stack.connect(client, "own-shared", {"api_key": API_KEY})
        assert invoke(stack, client, connection["id"], "own-shared-use").status_code == 200
        expect_problem(put(client, stack, "own-shared", hidden), 403, "forbidden")  # not makers at all
    expect_problem(put(user_maker, stack, "own-shared", hidden), 403, "forbidden")
    expect_problem(user_maker.get(shares), 403, "forbidden")

    # edit: replace, and manage shares, as a principal or through a group.
    renamed = {**hidden, "apiDefinition": upload(host_of(stack.backend.url), "By editor")["apiDefinition"]}
    assert put(editor, stack, "own-shared", renamed).status_code == 200
    assert put(group_editor, stack, "own-shared", hidden).status_code == 200
    assert group_editor.get(shares).status_code == 200
    assert stored(stack, "own-shared")["owner"] == stack.principal_id("own-fay")  # editors don't take it over
    expect_problem(editor.post(shares, json={"principal": stack.principal_id("own-fay")}), 400, "invalid-parameters")
    for bad in ({"principal": "a", "group": "b"}, {"principal": "a", "permissions": ["manage"]}, []):
        expect_problem(editor.post(shares, json=bad), 400, "invalid-parameters")

    # Unsharing takes the permission away again.
    assert editor.delete(f"{shares}/{made[0]['id']}").status_code == 204
    expect_problem(put(editor, stack, "own-shared", hidden), 403, "forbidden")
    expect_problem(owner.delete(f"{shares}/{made[0]['id']}"), 404, "share-not-found")
    assert owner.delete(f"{shares}/{made[2]['id']}").status_code == 204
    expect_problem(viewer.get(f"{stack.url}/api/connectors/own-shared"), 404, "connector-not-found")
    assert group_viewer.get(f"{stack.url}/api/connectors/own-shared").status_code == 200


def test_admins_manage_any_connector_and_alone_manage_those_without_owner(stack: Stack) -> None:
    owner = maker(stack, "own-gus")
    admin = member(stack, "own-admin", roles=(ADMIN_ROLE,))
    assert put(owner, stack, "own-admin-any", upload(host_of(stack.backend.url))).status_code == 201
    assert put(admin, stack, "own-admin-any", upload(host_of(stack.backend.url), "By admin")).status_code == 200
    assert stored(stack, "own-admin-any")["owner"] == stack.principal_id("own-gus")
    assert admin.delete(f"{stack.url}/api/connectors/own-admin-any").status_code == 204

    # A connector stored before connectors had owners: its entity has no owner property.
    assert put(owner, stack, "own-legacy", upload(host_of(stack.backend.url))).status_code == 201
    table = stack.tables.get_table_client("e2econnectors")
    legacy = {k: v for k, v in stored(stack, "own-legacy").items() if k not in ("owner", "shares")}
    table.upsert_entity(legacy, mode=UpdateMode.REPLACE)
    assert owner.get(f"{stack.url}/api/connectors/own-legacy").json()["owner"] is None
    details = expect_problem(put(owner, stack, "own-legacy", upload(host_of(stack.backend.url))), 403, "forbidden")
    assert "predates connector owners" in details["detail"]
    expect_problem(owner.delete(f"{stack.url}/api/connectors/own-legacy"), 403, "forbidden")
    assert put(admin, stack, "own-legacy", upload(host_of(stack.backend.url), "Adopted")).status_code == 200
    assert admin.delete(f"{stack.url}/api/connectors/own-legacy").status_code == 204
    assert admin.get(f"{stack.url}/api/connectors/own-legacy").status_code == 404


def test_securestring_default_is_refused_with_its_pointer(stack: Stack) -> None:
    body = upload(host_of(stack.backend.url))
    api_key = body["apiProperties"]["properties"]["connectionParameters"]["api_key"]
    api_key["defaultValue"] = DEFAULT_SECRET
    api_key["uiDefinition"]["constraints"]["hidden"] = "true"
    response = put(maker(stack, "own-hal"), stack, "own-default", body)
    details = expect_problem(response, 400, "invalid-parameters")
    assert [e["pointer"] for e in details["errors"]] == [
        "/apiProperties/properties/connectionParameters/api_key/defaultValue"
    ]
    assert DEFAULT_SECRET not in response.text
    assert stack.maker().get(f"{stack.url}/api/connectors/own-default").status_code == 404
    assert DEFAULT_SECRET not in stack.gateway_log()


@pytest.fixture(scope="module")
def provider(stack: Stack) -> Iterator[OidcProvider]:
    machine = {
        "client_id": "owners-machine",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{stack.public_url}/api/oauth/callback"],
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_post",
    }
    with OidcProvider().start([machine]) as op:
        yield op


def test_client_secrets_inside_the_files_go_to_key_vault_only(stack: Stack, provider: OidcProvider) -> None:
    definition, properties = connector_files.oauth_connector(
        host_of(stack.backend.url),
        provider.authorization_endpoint,
        provider.token_endpoint,
        provider.revocation_endpoint,
        "owners-machine",
        grantType="client_credentials",
    )
    settings = properties["properties"]["connectionParameters"]["token"]["oAuthSettings"]
    settings["clientSecret"] = CLIENT_SECRET
    settings["customParameters"]["clientSecret"] = {"value": CLIENT_SECRET}
    parts = {  # as paconn uploads them: the files, untouched
        "apiDefinition": ("apiDefinition.swagger.json", json.dumps(definition), "application/json"),
        "apiProperties": ("apiProperties.json", json.dumps(properties), "application/json"),
    }
    response = maker(stack, "own-ivy").put(f"{stack.url}/api/connectors/own-in-file", files=parts)
    assert response.status_code == 201, response.text
    assert response.json()["oauth"]["clientSecretStored"] is True
    assert CLIENT_SECRET not in response.text

    # The secret works (the provider checks it on the client credentials grant) ...
    robot = stack.client("own-robot")
    connection = stack.connect(robot, "own-in-file", {})
    assert connection["status"] == "Connected"
    assert invoke(stack, robot, connection["id"], "own-in-file").status_code == 200
    # ... from Key Vault, and from nowhere else.
    secret_name = stored(stack, "own-in-file")["secretName"]
    assert stack.keyvault_secret(secret_name)["clientSecret"] == CLIENT_SECRET
    for table in stack.tables.list_tables():
        entities = [dict(e) for e in stack.tables.get_table_client(table.name).list_entities()]
        assert CLIENT_SECRET not in repr(entities), table.name
    assert CLIENT_SECRET not in stack.gateway_log()
    assert CLIENT_SECRET not in stack.maker().get(f"{stack.url}/api/connectors/own-in-file").text


@pytest.mark.parametrize("replaced", ["before-insert", "after-check"])
def test_a_connection_created_while_its_connector_is_replaced_is_refused(
    stack: Stack, attacker: RecordingBackend, replaced: str
) -> None:
    """Both interleavings, made deterministic: a gateway built in this process creates the connection from the
    connector as it read it, and the forced replace goes through the dev host. Replaced before the record is
    inserted (the replace saw no connection to disconnect): the connector check after the insert refuses.
    Replaced after that check: the replace disconnected the Pending record, so the final write (conditional on
    the record's ETag) refuses. Either way nothing is left: no record, no secret, no call to the new host."""
    connector_id = f"own-race-{replaced}"
    owner = maker(stack, "own-racer-owner")
    assert put(owner, stack, connector_id, upload(host_of(stack.backend.url))).status_code == 201
    gateway = build_gateway(Settings.from_env(stack.env))
    stale = gateway.connectors.get(connector_id)
    principal = Principal(id=stack.principal_id("own-racer"), roles=frozenset(), name="racer", kind="user")

    def force_replace() -> None:
        forced = put(owner, stack, connector_id, upload(host_of(attacker.url)), "?force=true")
        assert forced.status_code == 200, forced.text

    def connector_unchanged() -> bool:  # what shared/api/connections.py asks
        if replaced == "after-check":
            force_replace()
            return True  # the check ran just before the replace
        return gateway.connectors.get(connector_id).etag == stale.etag

    if replaced == "before-insert":
        force_replace()
    body = {"displayName": "racing", "parameters": {"api_key": API_KEY}}
    secrets_before = set(stack.keyvault_state()["secrets"])
    with pytest.raises(Problem) as refused:
        gateway.connections.create(principal, stale, body, connector_unchanged)
    assert (refused.value.status, refused.value.slug) == (409, "connector-changed")
    assert [e for e in stack.entities("connections") if e["connectorId"] == connector_id] == []
    assert set(stack.keyvault_state()["secrets"]) <= secrets_before  # its secret was written, then deleted
    assert attacker.requests == []
