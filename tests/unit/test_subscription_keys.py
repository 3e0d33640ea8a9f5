"""Subscription keys against a real Azurite Table service."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient

from devtools.stack import azurite_connection_string, free_port
from shared.callers import CallerAuthenticator, SubscriptionKeyStore, subscription_key_table
from shared.problems import Problem
from shared.settings import Settings
from tests.support.azurite import azurite_tables

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as running:
        yield running


@pytest.fixture
def settings(azurite: str) -> Settings:
    # A fresh table prefix per test keeps tests independent on the shared Azurite.
    return Settings.from_env(
        {
            "KEY_VAULT_URL": "https://vault.example",
            "TABLES_CONNECTION_STRING": azurite,
            "TABLES_PREFIX": f"t{next(_prefixes)}",
        }
    )


@pytest.fixture
def table(settings: Settings) -> TableClient:
    return subscription_key_table(settings)


@pytest.fixture
def store(table: TableClient) -> SubscriptionKeyStore:
    return SubscriptionKeyStore(table)


@pytest.fixture
def authenticator(settings: Settings, store: SubscriptionKeyStore) -> CallerAuthenticator:
    return CallerAuthenticator(settings, store)


def test_table_is_named_after_the_prefix(settings, table):
    assert table.table_name == f"{settings.tables_prefix}keys"


def test_create_then_find(store):
    key_id, value = store.create("user|42", ["Connectors.Manage", "Reader"], "ci pipeline")

    assert value.startswith("cgk_") and len(value) >= 40
    assert key_id == hashlib.sha256(value.encode()).hexdigest()[:12]
    record = store.find(value)
    assert record is not None
    assert (record.key_id, record.principal_id, record.name) == (key_id, "user|42", "ci pipeline")
    assert record.roles == {"Connectors.Manage", "Reader"}
    assert record.created_at is not None and not record.revoked


def test_generated_values_differ(store):
    assert store.create("p", [], "a")[1] != store.create("p", [], "b")[1]


def test_unknown_and_empty_values_are_not_found(store):
    store.create("p", [], "a")
    assert store.find("cgk_not-a-key-at-all-really") is None
    assert store.find("") is None


def test_only_the_hash_is_stored(store, table):
    _, value = store.create("p", ["r"], "name")

    entities = list(table.list_entities())
    # The subscription and its two keys; its secondary value was never shown but is hashed too.
    assert sorted(entity["PartitionKey"] for entity in entities) == ["key", "key", "subscription"]
    primary = next(e for e in entities if e["PartitionKey"] == "key" and e["slot"] == "primary")
    assert primary["RowKey"] == hashlib.sha256(value.encode()).hexdigest()
    assert {"name", "principal", "roles", "createdAt", "revoked", "subscription", "state", "scope"} <= set(primary)
    assert primary["roles"] == "r"
    for entity in entities:
        assert all(value not in str(field) for field in [*entity.keys(), *entity.values()])


def test_revoke_cancels_the_keys_subscription_which_stays_listed(store):
    key_id, value = store.create("p", [], "doomed")
    kept_id, kept_value = store.create("p", [], "kept")

    assert store.revoke(key_id.upper()) is True

    assert store.find(value) is None
    assert store.lookup(value).state == "cancelled"
    assert store.find(kept_value) is not None
    primaries = {record.key_id: record.revoked for record in store.list() if record.slot == "primary"}
    assert primaries == {key_id: True, kept_id: False}
    # Revoking one key cancels its subscription: the secondary key is revoked with it.
    assert {record.name: record.revoked for record in store.list() if record.slot == "secondary"} == {
        "doomed": True,
        "kept": False,
    }


def test_revoke_unknown_or_malformed_id(store):
    store.create("p", [], "a")
    assert store.revoke("000000000000") is False
    with pytest.raises(ValueError, match="12 hex"):
        store.revoke("nope")


def test_list_is_in_creation_order(store):
    ids = [store.create("p", [], name)[0] for name in ("first", "second", "third")]
    assert [record.key_id for record in store.list() if record.slot == "primary"] == ids
    assert [record.name for record in store.list()] == ["first", "first", "second", "second", "third", "third"]


def test_given_value_is_idempotent(store, table):
    first = store.create("dev", ["Connectors.Manage"], "bootstrap", value="local-dev-bootstrap-key")
    again = store.create("dev", ["Connectors.Manage"], "bootstrap", value="local-dev-bootstrap-key")

    assert first == again == (first[0], "local-dev-bootstrap-key")
    assert len(list(table.list_entities())) == 3  # one subscription with two keys, not two subscriptions
    assert store.find("local-dev-bootstrap-key").principal_id == "dev"


def test_given_value_conflicts_and_revocation_are_refused(store):
    key_id, _ = store.create("dev", ["a"], "bootstrap", value="local-dev-bootstrap-key")
    with pytest.raises(ValueError, match=key_id):
        store.create("dev", ["a", "b"], "bootstrap", value="local-dev-bootstrap-key")
    store.revoke(key_id)
    with pytest.raises(ValueError, match="revoked"):
        store.create("dev", ["a"], "bootstrap", value="local-dev-bootstrap-key")


@pytest.mark.parametrize("value", ["short", "fifteen-chars-x", "has spaces in the value", "non-ascii-välue-long"])
def test_bad_given_values_are_refused(store, value):
    with pytest.raises(ValueError):
        store.create("p", [], "n", value=value)


@pytest.mark.parametrize(("principal", "name", "roles"), [("", "n", []), ("p", " ", []), ("p", "n", ["a,b"])])
def test_bad_metadata_is_refused(store, principal, name, roles):
    with pytest.raises(ValueError):
        store.create(principal, roles, name)


# --- CallerAuthenticator with keys ---


def test_header_key_wins_and_leaves_authorization_to_the_backend(store, authenticator):
    _, value = store.create("svc|1", ["Reader"], "service one")

    result = authenticator.authenticate(
        {"ocp-apim-SUBSCRIPTION-key": value, "Authorization": "Bearer meant.for.backend"}, {}
    )

    assert result.principal.id == "svc|1"
    assert result.principal.kind == "key"
    assert result.principal.name == "service one"
    assert result.principal.roles == {"Reader"}
    assert result.consumed_headers == {"ocp-apim-subscription-key"}
    assert result.consumed_query == frozenset()


def test_query_key_is_consumed(store, authenticator):
    _, value = store.create("svc|2", [], "query user")
    result = authenticator.authenticate({}, {"subscription-key": value, "page": "2"})
    assert result.principal.id == "svc|2"
    assert result.consumed_query == {"subscription-key"}
    assert result.consumed_headers == frozenset()


def test_key_in_both_places_consumes_both(store, authenticator):
    _, value = store.create("svc|3", [], "both")
    result = authenticator.authenticate({"Ocp-Apim-Subscription-Key": value}, {"subscription-key": "other"})
    assert result.principal.id == "svc|3"
    assert (result.consumed_headers, result.consumed_query) == ({"ocp-apim-subscription-key"}, {"subscription-key"})


def test_unknown_or_revoked_key_is_401(store, authenticator):
    key_id, value = store.create("svc|4", [], "revoked soon")
    store.revoke(key_id)
    for candidate in (value, "cgk_unknown-unknown-unknown"):
        with pytest.raises(Problem) as caught:
            authenticator.authenticate({"Ocp-Apim-Subscription-Key": candidate}, {})
        assert caught.value.status == 401
        assert 'error="invalid_token"' in caught.value.headers["WWW-Authenticate"]
        assert candidate not in caught.value.detail


def test_unreachable_key_store_is_503(settings):
    dead_table = TableClient.from_connection_string(azurite_connection_string(free_port()), "gwkeys", retry_total=0)
    authenticator = CallerAuthenticator(settings, SubscriptionKeyStore(dead_table))
    with pytest.raises(Problem) as caught:
        authenticator.authenticate({"Ocp-Apim-Subscription-Key": "cgk_whatever-whatever"}, {})
    assert caught.value.status == 503
