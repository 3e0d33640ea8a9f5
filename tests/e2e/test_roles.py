"""Trust boundaries end to end (issue 8): who may mint keys for whom, whose name the audit log records,
and which issuer may speak for an Entra identity. Each attack is replayed against the running stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import AUDIENCE, MAKER_ROLE, GatewayFactory, Stack, api_key_connector, host_of, problem
from tests.support.oidc_issuer import OidcIssuer

ADMIN_ROLE = "Connectors.Admin"  # AUTH_ADMIN_ROLE's default
FORBIDDEN = "urn:connector-gateway:problem:forbidden"
SECRET = "roles-backend-secret"


def keyed(value: str) -> requests.Session:
    session = requests.Session()
    session.headers["Ocp-Apim-Subscription-Key"] = value
    return session


def subscriptions_url(stack: Stack, subscription_id: str = "") -> str:
    return f"{stack.url}/api/subscriptions" + (f"/{subscription_id}" if subscription_id else "")


def key_rows_for(stack: Stack, principal: str) -> list[dict]:
    return [row for row in stack.entities("keys") if row.get("principal") == principal]


def audit_rows(stack: Stack, connection_id: str) -> list[dict]:
    return [row for row in stack.entities("audit") if row["PartitionKey"] == connection_id]


@pytest.fixture(scope="module")
def victim(stack: Stack) -> tuple[requests.Session, str, str]:
    """A user with a connection of their own: (their client, their principal id, the connection id)."""
    stack.register("roles-echo", *api_key_connector(host_of(stack.backend.url)))
    subject = f"roles-victim-{uuid.uuid4().hex[:6]}"
    client = stack.client(subject)
    connection_id = stack.connect(client, "roles-echo", {"api_key": SECRET})["id"]
    return client, stack.principal_id(subject), connection_id


# --- impersonation through subscription keys ---


def test_a_maker_cant_mint_a_key_for_another_principal(stack: Stack, victim) -> None:
    _, victim_id, connection_id = victim
    maker = stack.client("roles-maker", (MAKER_ROLE,))
    before = len(audit_rows(stack, connection_id))

    response = maker.post(subscriptions_url(stack), json={"displayName": "mine now", "principal": victim_id})

    assert response.status_code == 403
    body = problem(response)
    assert body["type"] == FORBIDDEN and ADMIN_ROLE in body["detail"]
    assert "primaryKey" not in response.text
    assert key_rows_for(stack, victim_id) == []  # no key, no subscription row for the victim
    assert not [row for row in stack.entities("keys") if row.get("displayName") == "mine now"]
    assert len(audit_rows(stack, connection_id)) == before


def test_a_maker_cant_mint_an_admin_key_even_for_themself(stack: Stack) -> None:
    maker = stack.client("roles-escalator", (MAKER_ROLE,))
    response = maker.post(subscriptions_url(stack), json={"displayName": "escalate", "roles": [MAKER_ROLE, ADMIN_ROLE]})
    assert response.status_code == 403
    assert problem(response)["type"] == FORBIDDEN
    assert key_rows_for(stack, stack.principal_id("roles-escalator")) == []

    # What a maker may mint: a key for themself, with roles they hold.
    own = maker.post(subscriptions_url(stack), json={"displayName": "laptop", "roles": [MAKER_ROLE]})
    assert own.status_code == 201, own.text
    minted = own.json()
    assert (minted["principal"], minted["roles"]) == (stack.principal_id("roles-escalator"), [MAKER_ROLE])
    assert minted["createdBy"] == stack.principal_id("roles-escalator")
    assert keyed(minted["primaryKey"]).get(f"{stack.url}/api/connections").status_code == 200


def test_a_maker_sees_and_touches_only_their_own_subscriptions(stack: Stack, victim) -> None:
    _, victim_id, _ = victim
    admin = stack.client("roles-admin", (MAKER_ROLE, ADMIN_ROLE))
    theirs = admin.post(subscriptions_url(stack), json={"displayName": "victim's", "principal": victim_id})
    assert theirs.status_code == 201, theirs.text
    theirs_id, theirs_key = theirs.json()["id"], theirs.json()["primaryKey"]
    maker = stack.client("roles-snoop", (MAKER_ROLE,))

    listed = maker.get(subscriptions_url(stack))
    assert listed.status_code == 200
    assert theirs_id not in listed.text and victim_id not in listed.text
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"state": "suspended"}),
        ("POST", "/regenerate", {"key": "primary"}),
        ("DELETE", "", None),
    ]:
        response = maker.request(method, subscriptions_url(stack, theirs_id) + suffix, json=body)
        assert response.status_code == 404, (method, suffix)
        assert problem(response)["type"] == "urn:connector-gateway:problem:subscription-not-found"
    assert keyed(theirs_key).get(f"{stack.url}/api/connections").status_code == 200  # untouched
    assert theirs_id in admin.get(subscriptions_url(stack)).text  # an admin sees every subscription


def test_the_audit_log_names_the_real_actor_and_the_admin_who_minted_the_key(stack: Stack, victim) -> None:
    admin_subject = f"roles-minter-{uuid.uuid4().hex[:6]}"
    admin = stack.client(admin_subject, (MAKER_ROLE, ADMIN_ROLE))
    admin_id = stack.principal_id(admin_subject)
    bot_id = f"svc|roles-bot-{uuid.uuid4().hex[:6]}"
    minted = admin.post(subscriptions_url(stack), json={"displayName": "bot", "principal": bot_id}).json()
    assert (minted["principal"], minted["createdBy"]) == (bot_id, admin_id)
    bot = keyed(minted["primaryKey"])

    connection_id = stack.connect(bot, "roles-echo", {"api_key": SECRET})["id"]
    assert bot.get(f"{stack.url}/api/connections/{connection_id}/invoke/audited").status_code == 200
    entries = bot.get(f"{stack.url}/api/connections/{connection_id}/audit").json()["value"]

    created = [e for e in entries if e["action"] == "created"]
    used = [e for e in entries if e["action"] == "used"]
    assert [(e["principal"], e["mintedBy"]) for e in created] == [(bot_id, admin_id)]
    assert [(e["principal"], e["mintedBy"], e["count"]) for e in used] == [(bot_id, admin_id, 1)]
    rows = audit_rows(stack, connection_id)
    assert {(row["action"], row["principal"], row["mintedBy"]) for row in rows} == {
        ("created", bot_id, admin_id),
        ("used", bot_id, admin_id),
    }
    assert minted["primaryKey"] not in repr(rows)

    # A user acting with their own token: they alone are named.
    client, victim_id, victim_connection = victim
    assert client.get(f"{stack.url}/api/connections/{victim_connection}/invoke/own").status_code == 200
    own = client.get(f"{stack.url}/api/connections/{victim_connection}/audit").json()["value"]
    assert {(e["action"], e["principal"]) for e in own} >= {("created", victim_id), ("used", victim_id)}
    assert all("mintedBy" not in e for e in own)


# --- identity across issuers ---

VICTIM_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
VICTIM_OID = str(uuid.uuid4())
VICTIM_GROUP = str(uuid.uuid4())  # an Entra group object id
ENTRA_VICTIM = f"entra|{VICTIM_TENANT}|{VICTIM_OID}"


@pytest.fixture(scope="module")
def second_issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer("/second", audience=AUDIENCE) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def two_issuer_gateway(stack: Stack, start_gateway_process: GatewayFactory, second_issuer: OidcIssuer) -> str:
    return start_gateway_process({"AUTH_OIDC_ISSUERS": f"{stack.issuer.issuer},{second_issuer.issuer}"})


def test_a_second_issuer_cant_claim_an_entra_users_tid_and_oid(
    stack: Stack, two_issuer_gateway: str, second_issuer: OidcIssuer
) -> None:
    # The victim: an Entra user (here through a key an admin minted for that Entra principal) with a
    # connection shared with an Entra group they belong to.
    admin = stack.client("roles-entra-admin", (MAKER_ROLE, ADMIN_ROLE))
    minted = admin.post(subscriptions_url(stack), json={"displayName": "entra user", "principal": ENTRA_VICTIM})
    entra_user = keyed(minted.json()["primaryKey"])
    connection_id = stack.connect(entra_user, "roles-echo", {"api_key": SECRET})["id"]
    shared = entra_user.post(
        f"{stack.url}/api/connections/{connection_id}/shares", json={"group": VICTIM_GROUP, "permissions": ["use"]}
    )
    assert shared.status_code == 201, shared.text
    stack.backend.clear()

    # The attacker controls a second trusted issuer and copies the victim's tid, oid and group.
    forged = second_issuer.mint(
        {"sub": "attacker", "tid": VICTIM_TENANT, "oid": VICTIM_OID, "groups": [VICTIM_GROUP], "name": "Victim"}
    )
    attacker = requests.Session()
    attacker.headers["Authorization"] = f"Bearer {forged}"
    base = f"{two_issuer_gateway}/api/connections"

    listed = attacker.get(base)
    assert listed.status_code == 200 and connection_id not in listed.text
    for method, path in [("GET", ""), ("GET", "/invoke/steal"), ("GET", "/audit"), ("DELETE", "")]:
        response = attacker.request(method, f"{base}/{connection_id}{path}")
        assert response.status_code == 404, (method, path)
        assert problem(response)["type"] == "urn:connector-gateway:problem:connection-not-found"
    assert stack.backend.requests == []  # nothing reached the backend with the victim's credential
    assert entra_user.get(f"{stack.url}/api/connections/{connection_id}").status_code == 200  # not deleted

    # The attacker is who their issuer says: issuer + subject.
    own = attacker.post(
        f"{two_issuer_gateway}/api/connectors/roles-echo/connections",
        json={"displayName": "attacker's", "parameters": {"api_key": "attacker's"}},
    )
    assert own.status_code == 201, own.text
    assert own.json()["owner"] == f"{second_issuer.issuer}|attacker"
    assert {row["principal"] for row in audit_rows(stack, connection_id)} == {ENTRA_VICTIM}
