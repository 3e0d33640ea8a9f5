"""Attacks on the gateway by a hostile maker, user, caller and backend, end to end through the dev host.

Each test is one attempt and asserts that it fails the way it should: what the backend received (or that
nothing did), which status and problem type came back, and that no secret is echoed.
"""

from __future__ import annotations

import base64
import uuid

import pytest
import requests

from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of, problem
from tests.e2e.test_oauth import oauth_connector, register, signed_in

# A module fixture, re-exported: this module gets its own identity provider.
from tests.e2e.test_oauth import provider as provider
from tests.support.oidc_provider import OidcProvider

PROBLEM = "urn:connector-gateway:problem:"
ADMIN_ROLE = "Connectors.Admin"  # AUTH_ADMIN_ROLE's default
KEY = "atk-key-" + uuid.uuid4().hex


def _register(stack: Stack, connector_id: str, **connector: str) -> None:
    stack.register(connector_id, *api_key_connector(host_of(stack.backend.url), **connector))


def _own_connection(stack: Stack, connector_id: str, owner: str, key: str = KEY) -> tuple[requests.Session, str]:
    client = stack.client(owner)
    return client, stack.connect(client, connector_id, {"api_key": key})["id"]


@pytest.fixture(scope="module")
def echo(stack: Stack) -> tuple[requests.Session, str]:
    _register(stack, "atk-echo")
    return _own_connection(stack, "atk-echo", "atk-owner")


# -- a hostile shared user ----------------------------------------------------------------------------


@pytest.mark.parametrize("grantee", ["self", "accomplice"])
def test_a_manager_cant_grant_a_permission_it_doesnt_hold(
    stack: Stack, echo: tuple[requests.Session, str], grantee: str
) -> None:
    owner, connection_id = echo
    shares = f"{stack.url}/api/connections/{connection_id}/shares"
    manager_id = stack.principal_id(f"atk-manager-{grantee}")
    assert owner.post(shares, json={"principal": manager_id, "permissions": ["manage"]}).status_code == 201
    manager = stack.client(f"atk-manager-{grantee}")
    target = manager_id if grantee == "self" else stack.principal_id("atk-accomplice")

    response = manager.post(shares, json={"principal": target, "permissions": ["manage", "token"]})

    assert response.status_code == 403, response.text
    assert problem(response)["type"] == PROBLEM + "forbidden"
    granted = {s["principal"]: s["permissions"] for s in owner.get(shares).json() if "principal" in s}
    assert "token" not in granted.get(target, [])
    # What it holds itself it may pass on.
    passed_on = manager.post(shares, json={"principal": stack.principal_id("atk-colleague"), "permissions": ["use"]})
    assert passed_on.status_code == 201, passed_on.text


def test_sharing_to_a_wildcard_grants_nobody_else(stack: Stack, echo: tuple[requests.Session, str]) -> None:
    owner, connection_id = echo
    assert owner.post(f"{stack.url}/api/connections/{connection_id}/shares", json={"principal": "*"}).status_code == 201
    stranger = stack.client("atk-stranger-wildcard")
    assert stranger.get(f"{stack.url}/api/connections/{connection_id}").status_code == 404
    assert stranger.get(f"{stack.url}/api/connections/{connection_id}/invoke/x").status_code == 404


@pytest.mark.parametrize("suffix", ["", "/shares", "/audit", "/token", "/invoke/x"])
def test_another_users_connection_and_case_variants_of_its_id_look_absent(
    stack: Stack, echo: tuple[requests.Session, str], suffix: str
) -> None:
    _, connection_id = echo
    stranger = stack.client("atk-stranger")
    before = len(stack.backend.requests)
    for candidate in (connection_id, connection_id.upper(), connection_id[:-1] + "G", connection_id + "%00"):
        response = stranger.get(f"{stack.url}/api/connections/{candidate}{suffix}")
        assert response.status_code == 404, (candidate, response.text)
        assert problem(response)["type"] == PROBLEM + "connection-not-found"
    owner = stack.client("atk-owner")
    assert owner.get(f"{stack.url}/api/connections/{connection_id.upper()}").status_code == 404
    assert len(stack.backend.requests) == before


# -- a hostile maker ----------------------------------------------------------------------------------

RESERVED_KEY_HEADERS = [
    "Transfer-Encoding",
    "content-length",
    "Host",
    "Connection",
    "Keep-Alive",
    "TE",
    "Upgrade",
    "Expect",
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "Proxy-Authorization",
    "X-Key\r\nX-Injected: 1",
    "X Key",
    "X-Key:",
]


@pytest.mark.parametrize("name", RESERVED_KEY_HEADERS)
def test_an_api_key_header_that_frames_or_routes_the_request_is_refused(stack: Stack, name: str) -> None:
    # Before: `Transfer-Encoding` with the key "chunked" made the backend read the body as chunked while
    # requests sent the real Content-Length, so a caller's body `0\r\n\r\nGET /v1/smuggled ...` reached the
    # backend as a second request the path guard never saw, on a pooled connection other connectors share.
    definition, properties = api_key_connector(host_of(stack.backend.url), name=name)
    response = stack.maker().put(
        f"{stack.url}/api/connectors/atk-header-{RESERVED_KEY_HEADERS.index(name)}",
        json={"apiDefinition": definition, "apiProperties": properties},
    )
    assert response.status_code == 400, response.text
    body = problem(response)
    assert [e["pointer"] for e in body["errors"]] == ["/apiDefinition/securityDefinitions/api_key/name"]


@pytest.mark.parametrize("name", ["Authorization", "Ocp-Apim-Subscription-Key", "X-API-KEY", "Cookie"])
def test_ordinary_api_key_headers_still_carry_the_key(stack: Stack, name: str) -> None:
    connector_id = f"atk-ok-header-{name.lower()}"
    _register(stack, connector_id, name=name)
    caller, connection_id = _own_connection(stack, connector_id, "atk-header-owner")
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/ok")
    assert response.status_code == 200, response.text
    assert stack.backend.requests[-1].header(name) == KEY


# -- a hostile backend --------------------------------------------------------------------------------


def _set_cookies(response: requests.Response) -> list[str]:
    return [value for name, value in response.raw.headers.items() if name.lower() == "set-cookie"]


def test_a_backend_cant_plant_the_gateways_cookies_or_cookies_for_other_connections(
    stack: Stack, echo: tuple[requests.Session, str]
) -> None:
    # Before: every Set-Cookie passed as sent, so a backend could overwrite the sign-in cookie that binds an OAuth
    # sign-in to its browser (then finish a victim's sign-in onto the attacker's connection), set cookies for the
    # gateway's parent domain, or set Path=/ cookies that the browser then sends to every other connection's backend.
    caller, connection_id = echo
    stack.backend.respond(
        "/v1/cookie-toss",
        headers=[
            ("Set-Cookie", "__Host-cg-signin=planted; Path=/; Secure; HttpOnly"),
            ("Set-Cookie", "__HOST-CG-other=planted; Path=/; Secure"),
            ("Set-Cookie", "__Host-backend=planted; Path=/; Secure"),
            ("Set-Cookie", "tossed=1; Domain=127.0.0.1; Path=/"),
            ("Set-Cookie", "session=abc; Path=/v1/cookie-toss; HttpOnly"),
            ("Set-Cookie", "elsewhere=1; Path=/admin"),
            ("Set-Cookie", "plain=1"),
        ],
        body="ok",
    )
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/cookie-toss")
    assert response.status_code == 200
    cookies = _set_cookies(response)
    prefix = f"/api/connections/{connection_id}/invoke"
    by_name = {cookie.split("=", 1)[0]: cookie for cookie in cookies}
    assert sorted(by_name) == ["elsewhere", "plain", "session", "tossed"], cookies
    assert all("domain" not in cookie.lower() for cookie in cookies)
    paths = {
        name: [a.strip() for a in c.split(";") if a.strip().lower().startswith("path=")] for name, c in by_name.items()
    }
    assert paths == {
        "tossed": [f"path={prefix}"],
        "session": [f"path={prefix}/cookie-toss"],
        "elsewhere": [f"path={prefix}"],
        "plain": [f"path={prefix}"],
    }, cookies


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        # Inside the backend's base path: the same place through this connection.
        ("/v1/next?page=2", "{invoke}/next?page=2"),
        ("next", "{invoke}/next"),
        ("{backend}/v1/items/7", "{invoke}/items/7"),
        # Elsewhere on the backend: there, directly (it was never the gateway's path).
        ("/api/connections", "{backend}/api/connections"),
        ("//127.0.0.1:{gateway_port}/api/connections", None),
        # The gateway itself, under either of its names: no Location at all.
        ("{gateway}/api/connections", None),
        ("{public}/api/subscriptions", None),
        # Somewhere else entirely: unchanged.
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),
    ],
)
def test_a_backend_redirect_never_sends_the_caller_back_to_the_gateways_api(
    stack: Stack, echo: tuple[requests.Session, str], location: str, expected: str | None
) -> None:
    # Before: Location passed unchanged, and a relative one resolves against the gateway's URL: a 307 to
    # /api/connections/... made a caller's client repeat its method and body there with its gateway credential.
    caller, connection_id = echo
    names = {
        "backend": stack.backend.url,
        "gateway": stack.url,
        "public": stack.public_url,
        "gateway_port": stack.url.rsplit(":", 1)[1],
        "invoke": f"/api/connections/{connection_id}/invoke",
    }
    stack.backend.respond("/v1/moving", status=307, headers={"Location": location.format(**names)})
    response = caller.delete(f"{stack.url}/api/connections/{connection_id}/invoke/moving", allow_redirects=False)
    assert response.status_code == 307
    assert response.headers.get("Location") == (expected.format(**names) if expected else None)


def test_a_backend_redirect_never_shows_the_caller_a_credential_in_its_query(stack: Stack) -> None:
    """A backend's redirect often repeats the query it was called with (a trailing-slash 301), which holds the
    connection's API key when it goes in the query: a user who may only `use` the connection would read it. A key
    named like the gateway's, planted by the backend, would win over the caller's own when its client follows."""
    _register(stack, "atk-query-key", location="query", name="api_key")
    secret = "qk-" + uuid.uuid4().hex
    caller, connection_id = _own_connection(stack, "atk-query-key", "atk-query-key-owner", key=secret)
    invoke = f"/api/connections/{connection_id}/invoke"
    for location, expected in [
        (f"/v1/moving/?page=2&api_key={secret}&Subscription-Key=ATTACKER", f"{invoke}/moving/?page=2"),
        (f"{stack.backend.url}/other?API_KEY={secret}&x=1", f"{stack.backend.url}/other?x=1"),
    ]:
        stack.backend.respond("/v1/moving", status=301, headers={"Location": location})
        response = caller.get(f"{stack.url}{invoke}/moving", allow_redirects=False)
        assert response.status_code == 301
        assert response.headers.get("Location") == expected
        assert stack.backend.requests[-1].query == f"api_key={secret}"  # the backend itself did get the key


# -- hostile values a user stores ---------------------------------------------------------------------


def _basic_connector(stack: Stack, connector_id: str) -> None:
    definition, _ = api_key_connector(host_of(stack.backend.url))
    definition["securityDefinitions"] = {"basic_auth": {"type": "basic"}}
    required = {"constraints": {"required": "true"}}
    parameters = {
        "username": {"type": "string", "uiDefinition": {"displayName": "User", **required}},
        "password": {"type": "securestring", "uiDefinition": {"displayName": "Password", **required}},
    }
    stack.register(connector_id, definition, {"properties": {"connectionParameters": parameters}})


HOSTILE_KEYS = {
    "crlf": "k\r\nX-Injected: 1",
    "lf": "k\nX-Injected: 1",
    "nul": "k\x00x",
    "non-latin1": "ключ-",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_KEYS))
def test_a_key_a_header_cant_carry_is_refused_at_creation_without_an_echo(stack: Stack, kind: str) -> None:
    # Before: stored, then every call was a 500 (the transport refused the header value), a NUL reached the backend.
    marker = uuid.uuid4().hex
    _register(stack, "atk-key-values")
    response = stack.client("atk-key-user").post(
        f"{stack.url}/api/connectors/atk-key-values/connections",
        json={"displayName": "hostile", "parameters": {"api_key": HOSTILE_KEYS[kind] + marker}},
    )
    assert response.status_code == 400, response.text
    assert [e["pointer"] for e in problem(response)["errors"]] == ["/parameters/api_key"]
    assert marker not in response.text


@pytest.mark.parametrize(
    ("username", "password", "refused"),
    [
        ("ann:admin", "pw", "/parameters/username"),  # the backend would read user "ann", password "admin:pw"
        ("анна", "pw", "/parameters/username"),
        ("ann", "пароль", "/parameters/password"),
        ("ännchen", "pässwörd", None),
        ("ann\r\nX-Injected 1", "pw", None),  # base64-encoded: no header to split
    ],
)
def test_basic_credentials_the_header_cant_carry_as_entered_are_refused(
    stack: Stack, username: str, password: str, refused: str | None
) -> None:
    _basic_connector(stack, "atk-basic")
    client = stack.client("atk-basic-user")
    created = client.post(
        f"{stack.url}/api/connectors/atk-basic/connections",
        json={"displayName": "hostile", "parameters": {"username": username, "password": password}},
    )
    if refused:
        assert created.status_code == 400, created.text
        assert [e["pointer"] for e in problem(created)["errors"]] == [refused]
        assert password not in created.text
        return
    assert created.status_code == 201, created.text
    response = client.get(f"{stack.url}/api/connections/{created.json()['id']}/invoke/basic-ok")
    assert response.status_code == 200, response.text
    seen = stack.backend.requests[-1]
    assert seen.header("X-Injected") is None
    expected = base64.b64encode(f"{username}:{password}".encode("latin-1")).decode()
    assert seen.header("Authorization") == f"Basic {expected}"


# -- a hostile maker's hosts and paths ----------------------------------------------------------------

METADATA_SPELLINGS = ["2852039166", "0xa9fea9fe", "169.254.43518", "0251.0376.0251.0376", "0xa9.0xfe.0xa9.0xfe"]


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_odd_spellings_of_the_metadata_address_never_reach_it(stack: Stack, host: str) -> None:
    connector_id = f"atk-imds-{METADATA_SPELLINGS.index(host)}"
    definition, properties = api_key_connector(host, base_path="/")
    response = stack.maker().put(
        f"{stack.url}/api/connectors/{connector_id}", json={"apiDefinition": definition, "apiProperties": properties}
    )
    if response.status_code == 400:  # refused at upload: fine too
        problem(response)
        return
    assert response.status_code in (200, 201), response.text
    caller = stack.client("atk-imds")
    connection_id = stack.connect(caller, connector_id, {"api_key": KEY})["id"]
    called = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/metadata/instance")
    assert called.status_code == 403, called.text
    assert problem(called)["type"] == PROBLEM + "backend-address-forbidden"


@pytest.mark.parametrize(
    "host",
    ["user@127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999", "bücher.example", "-a.example"],
)
def test_a_host_with_userinfo_a_bad_port_or_non_ascii_is_refused_at_upload(stack: Stack, host: str) -> None:
    definition, properties = api_key_connector(host)
    response = stack.maker().put(
        f"{stack.url}/api/connectors/atk-host-{uuid.uuid4().hex[:8]}",
        json={"apiDefinition": definition, "apiProperties": properties},
    )
    assert response.status_code == 400, response.text
    assert "/apiDefinition/host" in [e["pointer"] for e in problem(response)["errors"]]


@pytest.mark.parametrize(
    "base_path", ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2e", "/./admin", "/v1//admin", "/v1/%252e%252e"]
)
def test_a_base_path_with_dot_segments_is_refused_at_upload(stack: Stack, base_path: str) -> None:
    # Before: stored, and the backend got /v1/%2E%2E/admin/x: the path the connector showed and the path guard
    # checked callers against was not the one the backend resolved.
    definition, properties = api_key_connector(host_of(stack.backend.url), base_path=base_path)
    response = stack.maker().put(
        f"{stack.url}/api/connectors/atk-base-{uuid.uuid4().hex[:8]}",
        json={"apiDefinition": definition, "apiProperties": properties},
    )
    assert response.status_code == 400, response.text
    assert [e["pointer"] for e in problem(response)["errors"]] == ["/apiDefinition/basePath"]


# -- the OAuth post-login redirect --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/done",
        "https://app.example.com.evil.example/done",
        "https://app.example.com/done@evil.example",
        "https://app.example.com/donex",
        "https://app.example.com@evil.example/done",
        "https://app.example.com/done/\r\nSet-Cookie: x=1",
        "https://app.example.com/done/\tx",
        "https://app.example.com/done/ x",
        "https://app.example.com/done/\\evil",
        "//evil.example/done",
        "javascript:alert(1)//https://app.example.com/done/",
    ],
)
def test_a_post_login_redirect_off_the_allowlist_is_refused(
    stack: Stack, echo: tuple[requests.Session, str], url: str
) -> None:
    response = stack.client("atk-redirect").post(
        f"{stack.url}/api/connectors/atk-echo/connections",
        json={"displayName": "r", "parameters": {"api_key": KEY}, "postLoginRedirectUrl": url},
    )
    assert response.status_code == 400, response.text
    assert problem(response)["type"] == PROBLEM + "invalid-parameters"


# -- a hostile backend's headers, and transport errors --------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [(f"X-Many-{i}", "v") for i in range(150)],
        [("X-Huge", "v" * 70_000)],
    ],
    ids=["150-headers", "70kB-header"],
)
def test_a_backend_flooding_headers_gets_a_502_problem(
    stack: Stack, echo: tuple[requests.Session, str], headers: list[tuple[str, str]]
) -> None:
    caller, connection_id = echo
    stack.backend.respond("/v1/flood", headers=headers, body="x")
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/flood")
    assert response.status_code == 502, response.text[:300]
    assert problem(response)["type"].startswith(PROBLEM + "backend-")


def test_a_transport_error_never_echoes_a_key_in_the_query(stack: Stack) -> None:
    closed = stack.backend.url.rsplit(":", 1)[0] + ":1"  # nothing listens on port 1
    stack.register("atk-query-closed", *api_key_connector(host_of(closed), location="query", name="key"))
    caller, connection_id = _own_connection(stack, "atk-query-closed", "atk-query-owner")
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/x?key=mine")
    assert response.status_code == 502, response.text
    assert problem(response)["type"] == PROBLEM + "backend-unreachable"
    assert KEY not in response.text
    assert KEY not in stack.gateway_log()


@pytest.mark.parametrize(
    "principal", ["x" * 70_000, "evil\r\nowner: someone", "\u202eevil", ""], ids=["70k", "crlf", "bidi", "empty"]
)
def test_a_share_naming_a_hostile_principal_is_a_clear_400(
    stack: Stack, echo: tuple[requests.Session, str], principal: str
) -> None:
    owner, connection_id = echo
    response = owner.post(f"{stack.url}/api/connections/{connection_id}/shares", json={"principal": principal})
    assert response.status_code == 400, response.text[:300]
    problem(response)


def test_a_backend_cant_claim_powers_over_the_whole_gateway_origin(stack: Stack) -> None:
    # Before: passed as sent. Even where a connector turns the sandbox off (a web app backend), a backend's response
    # is served from the gateway's origin: Service-Worker-Allowed lets its worker control every path of the gateway
    # in that browser (other connections' calls, the sign-in pages), Clear-Site-Data wipes the gateway's cookies and
    # storage, Alt-Svc and Strict-Transport-Security decide how browsers reach the gateway's host.
    stack.client("atk-admin", (MAKER_ROLE, ADMIN_ROLE)).put(
        f"{stack.url}/api/connectors/atk-webapp",
        json={
            "apiDefinition": api_key_connector(host_of(stack.backend.url))[0],
            "apiProperties": api_key_connector(host_of(stack.backend.url))[1],
            "policy": {"responses": {"sandbox": False}},
        },
    ).raise_for_status()
    caller, connection_id = _own_connection(stack, "atk-webapp", "atk-webapp-owner")
    stack.backend.respond(
        "/v1/sw.js",
        headers=[
            ("Content-Type", "text/javascript"),
            ("Service-Worker-Allowed", "/"),
            ("Clear-Site-Data", '"cookies", "storage"'),
            ("Alt-Svc", 'h3=":443"; ma=86400'),
            ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
            ("X-Kept", "yes"),
        ],
        body="self.addEventListener('fetch', e => {})",
    )
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/sw.js")
    assert response.status_code == 200
    for name in ("Service-Worker-Allowed", "Clear-Site-Data", "Alt-Svc", "Strict-Transport-Security"):
        assert name not in response.headers, name
    assert response.headers["X-Kept"] == "yes"


@pytest.mark.parametrize("principal", ["x" * 5_000, "evil\r\nowner: someone", "\u202eevil"], ids=["5k", "crlf", "bidi"])
def test_a_connector_share_naming_a_hostile_principal_is_a_clear_400(stack: Stack, principal: str) -> None:
    _register(stack, "atk-connector-shares")
    response = stack.maker().post(
        f"{stack.url}/api/connectors/atk-connector-shares/shares", json={"principal": principal}
    )
    assert response.status_code == 400, response.text[:300]
    problem(response)


def test_shares_that_would_overflow_the_record_are_a_400_not_a_503(stack: Stack) -> None:
    _register(stack, "atk-share-overflow")
    owner, connection_id = _own_connection(stack, "atk-share-overflow", "atk-overflow-owner")
    shares = f"{stack.url}/api/connections/{connection_id}/shares"
    statuses = [owner.post(shares, json={"principal": f"{i:03d}" + "é" * 250}).status_code for i in range(25)]
    assert set(statuses) == {201, 400}, statuses
    assert statuses.index(400) > 10 and set(statuses[statuses.index(400) :]) == {400}
    assert owner.get(shares).status_code == 200


def test_a_maker_cant_squat_a_case_variant_of_another_makers_connector_id(stack: Stack) -> None:
    # Before: "ATK-Squat" was created next to "atk-squat" (Table keys are case-sensitive), owned by another maker and
    # pointing anywhere: a user connecting to the id as they remembered it gave their key to the look-alike.
    definition, properties = api_key_connector(host_of(stack.backend.url))
    body = {"apiDefinition": definition, "apiProperties": properties}
    first = stack.client("atk-maker-a", ("Connectors.Manage",)).put(f"{stack.url}/api/connectors/atk-squat", json=body)
    assert first.status_code == 201, first.text
    squatter = stack.client("atk-maker-b", ("Connectors.Manage",))
    for variant in ("ATK-Squat", "atk-SQUAT"):
        response = squatter.put(f"{stack.url}/api/connectors/{variant}", json=body)
        assert response.status_code == 409, response.text
        assert problem(response)["type"] == PROBLEM + "connector-id-taken"
        assert "atk-squat" not in response.text  # the existing id isn't disclosed
    assert [
        c["id"]
        for c in stack.maker().get(f"{stack.url}/api/connectors").json()["value"]
        if c["id"].lower() == "atk-squat"
    ] == ["atk-squat"]
    # Its owner still replaces it under its own id.
    again = stack.client("atk-maker-a", ("Connectors.Manage",)).put(f"{stack.url}/api/connectors/atk-squat", json=body)
    assert again.status_code == 200, again.text


def test_a_callers_query_parameters_never_shadow_a_query_key(stack: Stack) -> None:
    stack.register("atk-query-key", *api_key_connector(host_of(stack.backend.url), location="query", name="api_key"))
    caller, connection_id = _own_connection(stack, "atk-query-key", "atk-query-key-owner")
    query = "API_KEY=mine&Api%5FKey=mine2&api_key=mine3&keep=1"
    response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/q?{query}")
    assert response.status_code == 200, response.text
    assert stack.backend.requests[-1].query == f"keep=1&api_key={KEY}"


def test_a_validation_error_never_echoes_the_value(stack: Stack) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    properties["properties"]["connectionParameters"]["region"] = {
        "type": "string",
        "allowedValues": [{"value": "eu"}, {"value": "us"}],
        "uiDefinition": {"displayName": "Region", "constraints": {"required": "true"}},
    }
    stack.register("atk-echo-values", definition, properties)
    marker = "secret-looking-" + uuid.uuid4().hex
    response = stack.client("atk-values").post(
        f"{stack.url}/api/connectors/atk-echo-values/connections",
        json={"displayName": "v", "parameters": {"api_key": 12345, "region": marker}},
    )
    assert response.status_code == 400, response.text
    body = problem(response)
    assert marker not in body["detail"] and marker not in str([e["detail"] for e in body["errors"]])
    assert marker not in stack.gateway_log()


# -- a hostile caller and an OAuth connection ------------------------------------------------------------


def test_a_backend_401_cant_make_every_call_refresh_the_owners_token(stack: Stack, provider: OidcProvider) -> None:
    # Before: every call answered 401 forced a refresh, so a caller with `use` (or the backend) could hammer the
    # identity provider with the owner's refresh token, call after call, until it rate-limited or revoked it.
    register(stack, "atk-oauth", *oauth_connector(stack, provider))
    caller, connection_id = signed_in(stack, "atk-oauth", "atk-oauth-owner")
    stack.backend.respond("/oauth/atk-always-401", status=401)
    provider.reset()
    for _ in range(3):
        response = caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/atk-always-401")
        assert response.status_code == 401
    assert provider.stats()["grants"]["refresh_token"] == 1
    # The token that came back from that refresh is still used: the connection keeps working.
    assert caller.get(f"{stack.url}/api/connections/{connection_id}/invoke/fine").status_code == 200


def test_only_an_admin_hands_the_gateway_origin_to_a_backend(stack: Stack) -> None:
    # Before: any maker could upload "sandbox": false. Its backend's page then ran script on the gateway's origin in
    # the browser of whoever followed a link (with the attacker's own subscription key): it could open the attacker's
    # sign-in start page there (same origin: the binding cookie is set, the CSRF token readable), confirm it and send
    # the victim to the provider, so the victim's account landed in the attacker's OAuth connection.
    definition, properties = api_key_connector(host_of(stack.backend.url))
    body = {"apiDefinition": definition, "apiProperties": properties, "policy": {"responses": {"sandbox": False}}}
    refused = stack.maker().put(f"{stack.url}/api/connectors/atk-unsandboxed", json=body)
    assert refused.status_code == 403, refused.text
    assert problem(refused)["type"] == PROBLEM + "forbidden"
    dry_run = stack.maker().post(f"{stack.url}/api/connectors/atk-unsandboxed/validate", json=body)
    assert dry_run.status_code == 200, dry_run.text
    assert dry_run.json()["valid"] is False
    assert [e["pointer"] for e in dry_run.json()["errors"]] == ["/policy/responses/sandbox"]
    assert stack.maker().get(f"{stack.url}/api/connectors/atk-unsandboxed").status_code == 404
    sandboxed = stack.maker().put(
        f"{stack.url}/api/connectors/atk-unsandboxed", json={**body, "policy": {"responses": {"sandbox": True}}}
    )
    assert sandboxed.status_code == 201, sandboxed.text
    admin = stack.client("atk-admin", (MAKER_ROLE, ADMIN_ROLE))
    assert admin.put(f"{stack.url}/api/connectors/atk-unsandboxed", json=body).status_code == 200
