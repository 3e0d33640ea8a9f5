"""APIM-style subscriptions against a real Azurite: two keys, regeneration, states, scope, storage layout."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from azure.core.exceptions import AzureError

from shared.callers import (
    CallerAuthenticator,
    StateConflict,
    SubscriptionGrant,
    SubscriptionKeyStore,
    SubscriptionNotFound,
    UsageCounter,
    parse_scope,
)
from shared.callers._subscription_model import key_hash
from shared.problems import Problem
from shared.settings import Settings
from tests.support.azurite import azurite_tables
from tests.support.key_tables import CountingTable, fresh_table

HEADER = "Ocp-Apim-Subscription-Key"


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as running:
        yield running


@pytest.fixture
def table(azurite):
    return CountingTable(fresh_table(azurite))


@pytest.fixture
def store(table) -> SubscriptionKeyStore:
    return SubscriptionKeyStore(table, UsageCounter(table, flush_interval_seconds=3600))


@pytest.fixture
def authenticator(azurite, store) -> CallerAuthenticator:
    settings = Settings.from_env({"KEY_VAULT_URL": "https://vault.example", "TABLES_CONNECTION_STRING": azurite})
    return CallerAuthenticator(settings, store)


def authenticate(authenticator: CallerAuthenticator, value: str):
    return authenticator.authenticate({HEADER: value}, {})


def refused(authenticator: CallerAuthenticator, value: str) -> str:
    with pytest.raises(Problem) as caught:
        authenticate(authenticator, value)
    assert caught.value.status == 401
    assert value not in caught.value.detail
    return caught.value.detail


def test_create_gives_two_working_keys(store, authenticator):
    created = store.create_subscription("CI pipeline", "svc|ci", ["Connectors.Manage"], "connector:github")
    sub = created.subscription

    assert sub.state == "active" and sub.scope == "connector:github" and sub.created_at == sub.state_changed_at
    assert created.primary_value != created.secondary_value
    for value, slot in ((created.primary_value, "primary"), (created.secondary_value, "secondary")):
        result = authenticate(authenticator, value)
        assert result.principal.id == "svc|ci" and result.principal.roles == {"Connectors.Manage"}
        assert result.principal.name == "CI pipeline" and result.principal.kind == "key"
        assert result.subscription == SubscriptionGrant(sub.id, "connector:github")
        assert store.lookup(value).slot == slot
    assert store.get_subscription(sub.id) == sub
    assert [listed.id for listed in store.list_subscriptions()] == [sub.id]


def test_ids_are_random_and_url_safe(store):
    ids = {store.create_subscription("n", "p").subscription.id for _ in range(3)}
    assert len(ids) == 3
    assert all(len(sub_id) == 24 and sub_id.isalnum() and sub_id.islower() for sub_id in ids)


def test_regenerating_primary_keeps_secondary_working(store, authenticator):
    created = store.create_subscription("rotating", "p")
    before = created.subscription

    after, new_primary = store.regenerate_key(before.id, "primary")

    assert "unknown" in refused(authenticator, created.primary_value)
    assert authenticate(authenticator, new_primary).subscription.id == before.id
    assert authenticate(authenticator, created.secondary_value).subscription.id == before.id
    assert after.primary.key_id != before.primary.key_id and after.secondary == before.secondary
    assert store.get_subscription(before.id) == after

    _, new_secondary = store.regenerate_key(before.id, "secondary")
    refused(authenticator, created.secondary_value)
    assert authenticate(authenticator, new_secondary).principal.id == "p"
    assert authenticate(authenticator, new_primary).principal.id == "p"


def test_suspend_refuses_both_keys_until_activated(store, authenticator):
    created = store.create_subscription("paused", "p")
    sub_id = created.subscription.id

    suspended = store.update_subscription(sub_id, state="suspended")
    assert suspended.state_changed_at > created.subscription.state_changed_at
    for value in (created.primary_value, created.secondary_value):
        assert refused(authenticator, value) == "The subscription of this key is suspended."
        assert store.find(value) is None

    store.update_subscription(sub_id, state="active")
    for value in (created.primary_value, created.secondary_value):
        assert authenticate(authenticator, value).principal.id == "p"


def test_cancelled_is_final(store, authenticator):
    created = store.create_subscription("ended", "p")
    sub_id = created.subscription.id
    cancelled = store.update_subscription(sub_id, state="cancelled")

    for change in ({"state": "active"}, {"state": "suspended"}, {"display_name": "x"}, {"scope": "all"}):
        with pytest.raises(StateConflict, match="cancelled"):
            store.update_subscription(sub_id, **change)
    with pytest.raises(StateConflict, match="cancelled"):
        store.regenerate_key(sub_id, "primary")
    assert store.update_subscription(sub_id, state="cancelled") == cancelled  # repeating is harmless
    assert refused(authenticator, created.primary_value) == "The subscription of this key is cancelled."
    assert store.lookup(created.secondary_value).revoked


def test_scope_and_name_changes_reach_the_keys(store, authenticator):
    created = store.create_subscription("scoped", "p")
    sub_id = created.subscription.id

    store.update_subscription(sub_id, scope="connection:0123abcd", display_name="renamed")

    result = authenticate(authenticator, created.secondary_value)
    assert result.subscription == SubscriptionGrant(sub_id, "connection:0123abcd")
    assert result.principal.name == "renamed"
    with pytest.raises(ValueError, match="scope"):
        store.update_subscription(sub_id, scope="connector:")


def test_unknown_subscriptions(store):
    for sub_id in ("abcdefghijklmnopqrstuvwx", "../etc", ""):
        with pytest.raises(SubscriptionNotFound):
            store.get_subscription(sub_id)
        with pytest.raises(SubscriptionNotFound):
            store.update_subscription(sub_id, state="suspended")
        with pytest.raises(SubscriptionNotFound):
            store.regenerate_key(sub_id, "primary")
        with pytest.raises(SubscriptionNotFound):
            store.delete_subscription(sub_id)


def test_delete_removes_subscription_keys_and_usage(store, table, authenticator):
    created = store.create_subscription("gone", "p")
    kept = store.create_subscription("kept", "p")
    authenticate(authenticator, created.primary_value)
    store.usage.flush()

    store.delete_subscription(created.subscription.id)

    assert "unknown" in refused(authenticator, created.primary_value)
    with pytest.raises(SubscriptionNotFound):
        store.get_subscription(created.subscription.id)
    remaining = {(e["PartitionKey"], e["RowKey"]) for e in table.inner.list_entities()}
    assert remaining == {("subscription", kept.subscription.id)} | {
        ("key", key_hash(value)) for value in (kept.primary_value, kept.secondary_value)
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"display_name": " ", "principal_id": "p"}, "display name"),
        ({"display_name": "n", "principal_id": ""}, "principal"),
        ({"display_name": "n", "principal_id": "p", "roles": ["a,b"]}, "comma"),
        ({"display_name": "n", "principal_id": "p", "scope": "everything"}, "scope"),
        ({"display_name": "n", "principal_id": "p", "primary_value": "short"}, "16"),
    ],
)
def test_bad_input_is_refused_before_writing(store, table, kwargs, message):
    with pytest.raises(ValueError, match=message):
        store.create_subscription(**kwargs)
    assert list(table.inner.list_entities()) == []


def test_only_hashes_are_stored(store, table):
    created = store.create_subscription("secret keeper", "p", ["r"])
    _, regenerated = store.regenerate_key(created.subscription.id, "primary")
    values = [created.primary_value, created.secondary_value, regenerated]

    entities = list(table.inner.list_entities())
    keys = {e["RowKey"]: e for e in entities if e["PartitionKey"] == "key"}
    assert set(keys) == {key_hash(regenerated), key_hash(created.secondary_value)}
    assert {(e["slot"], e["state"], e["scope"]) for e in keys.values()} == {
        ("primary", "active", "all"),
        ("secondary", "active", "all"),
    }
    subscription = next(e for e in entities if e["PartitionKey"] == "subscription")
    assert subscription["primaryHash"] == key_hash(regenerated)
    for entity in entities:
        text = repr(dict(entity))
        assert not any(value in text for value in values)
        assert not any(value.removeprefix("cgk_") in text for value in values)


def test_authentication_is_one_point_read(store, table, authenticator):
    created = store.create_subscription("counted", "p")
    store.update_subscription(created.subscription.id, state="suspended")
    table.reset()
    refused(authenticator, created.primary_value)
    assert dict(table.calls) == {"get_entity": 1}

    store.update_subscription(created.subscription.id, state="active")
    table.reset()
    for value in (created.primary_value, created.secondary_value, created.primary_value):
        authenticate(authenticator, value)
    refused(authenticator, "cgk_unknown-unknown-unknown")
    assert dict(table.calls) == {"get_entity": 4}  # usage is only buffered, not written


def test_a_crash_before_the_subscription_write_leaves_the_keys_refusing(store, table, authenticator):
    created = store.create_subscription("crashy", "p")
    sub_id = created.subscription.id
    table.fail_when = lambda name, args: name == "update_entity" and args[0]["PartitionKey"] == "subscription"

    with pytest.raises(AzureError):
        store.update_subscription(sub_id, state="suspended")

    assert store.get_subscription(sub_id).state == "active"  # the subscription entity wasn't written...
    refused(authenticator, created.primary_value)  # ...but its keys already refuse
    refused(authenticator, created.secondary_value)
    table.fail_when = lambda name, args: False
    assert store.update_subscription(sub_id, state="suspended").state == "suspended"  # repeating repairs


def test_concurrent_changes_leave_keys_and_subscription_consistent(azurite):
    table = fresh_table(azurite)
    stores = [SubscriptionKeyStore(table), SubscriptionKeyStore(table)]
    sub_id = stores[0].create_subscription("contended", "p").subscription.id
    errors: list[BaseException] = []

    def work(store: SubscriptionKeyStore, index: int) -> None:
        try:
            for round_ in range(6):
                if index == 0:
                    store.regenerate_key(sub_id, "primary" if round_ % 2 else "secondary")
                else:
                    store.update_subscription(sub_id, state="suspended" if round_ % 2 else "active")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(store, i)) for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    final = stores[0].get_subscription(sub_id)
    keys = {e["RowKey"]: e for e in table.list_entities() if e["PartitionKey"] == "key"}
    assert set(keys) == final.hashes()  # no stale key survived, none is missing
    assert {e["state"] for e in keys.values()} == {final.state} == {"suspended"}  # the last change


def test_legacy_key_authenticates_and_is_adopted_by_create(store, table, authenticator):
    value = "legacy-bootstrap-key-0001"
    table.inner.create_entity(
        {"PartitionKey": "key", "RowKey": key_hash(value), "name": "bootstrap", "principal": "dev", "roles": "M"}
        | {"revoked": False}
    )
    assert authenticate(authenticator, value).subscription is None  # works as before, unrestricted

    first = store.create("dev", ["M"], "bootstrap", value=value)
    again = store.create("dev", ["M"], "bootstrap", value=value)

    assert first == again == (key_hash(value)[:12], value)
    [adopted] = store.list_subscriptions()
    assert (adopted.display_name, adopted.primary.hash_hex, adopted.secondary) == ("bootstrap", key_hash(value), None)
    assert authenticate(authenticator, value).subscription == SubscriptionGrant(adopted.id, "all")
    _, secondary = store.regenerate_key(adopted.id, "secondary")
    assert authenticate(authenticator, secondary).principal.id == "dev"


def test_revoking_a_legacy_key_still_works(store, table, authenticator):
    value = "legacy-key-to-be-revoked"
    table.inner.create_entity({"PartitionKey": "key", "RowKey": key_hash(value), "name": "n", "principal": "p"})
    assert store.revoke(key_hash(value)[:12])
    assert refused(authenticator, value) == "The subscription of this key is cancelled."


# --- scope (pure) ---


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("all", "all"),
        (" ALL ", "all"),
        ("connector:github", "connector:github"),
        ("Connection:ab12", "connection:ab12"),
    ],
)
def test_parse_scope(raw, canonical):
    assert parse_scope(raw) == canonical


@pytest.mark.parametrize("raw", ["", "any", "connector:", "connector:-x", "connection:a/b", "api:x", 3, None])
def test_parse_scope_refuses(raw):
    with pytest.raises(ValueError, match="scope"):
        parse_scope(raw)


def test_grant_permissions():
    everything = SubscriptionGrant("s", "all")
    connector = SubscriptionGrant("s", "connector:github")
    connection = SubscriptionGrant("s", "connection:c1")

    assert everything.permits_connector("any") and everything.permits_connection("c9", "any")
    assert connector.permits_connector("github") and not connector.permits_connector("GitHub2")
    assert connector.permits_connection("c9", "github") and not connector.permits_connection("c9", "slack")
    assert not connection.permits_connector("github")
    assert connection.permits_connection("c1", "github") and not connection.permits_connection("c2", "github")
