"""Subscriptions and their keys in Table Storage (entity layout: _subscription_model.py).

Authentication is one point read of the key entity by hash. Every change to a subscription
follows one write order, so that a crash between writes can't leave a key working that
shouldn't: (1) read the subscription entity and its ETag; (2) write the key entities: create
new ones, replace existing ones (never recreating a deleted one), delete replaced ones;
(3) replace the subscription entity if its ETag is unchanged, else start over from (1).
A crash after (2) leaves keys that already follow the change (a suspended subscription's
keys refuse even if the subscription entity still reads "active"); repeating the change
repairs the subscription entity, since every change rewrites all entities even when nothing
seems to differ. A new subscription is written the other way round (subscription entity,
then keys): its key values aren't out yet, and a crash leaves a listed subscription without
working keys rather than working keys nobody can see.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared.callers._scope import ALL_SCOPE, parse_scope
from shared.callers._subscription_model import (
    KEY_FIELDS,
    KEY_ID_CHARS,
    KEY_ID_PATTERN,
    KEY_PARTITION,
    MAX_VALUE_CHARS,
    SLOTS,
    SUBSCRIPTION_PARTITION,
    KeyRecord,
    KeySlot,
    NewSubscription,
    StateConflict,
    Subscription,
    SubscriptionKey,
    SubscriptionNotFound,
    SubscriptionState,
    adopted_subscription,
    check_given_value,
    checked_principal_id,
    checked_text,
    generate_key_value,
    is_subscription_id,
    key_entity,
    key_hash,
    key_id_of,
    new_subscription_id,
    normalized_roles,
    record_from_entity,
    subscription_entity,
    subscription_from_entity,
)
from shared.callers._usage import UsageCounter
from shared.settings import Settings
from shared.stores.clients import table_service

MAX_CHANGE_ATTEMPTS = 10
Now = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SubscriptionKeyStore:
    """Thread-safe; one per process. `usage` counts calls per key (on the same table by default)."""

    def __init__(self, table: TableClient, usage: UsageCounter | None = None, *, now: Now = _utc_now) -> None:
        self._table = table
        self.usage = usage or UsageCounter(table)
        self._now = now

    # --- authentication --------------------------------------------------------------------

    def lookup(self, value: str) -> KeyRecord | None:
        """The key with this value in any state: one point read by hash. None when unknown."""
        if not value or len(value) > MAX_VALUE_CHARS:
            return None
        hash_hex = key_hash(value)
        try:
            entity = self._table.get_entity(KEY_PARTITION, hash_hex, select=KEY_FIELDS)
        except ResourceNotFoundError:
            return None
        if not hmac.compare_digest(entity["RowKey"], hash_hex):
            return None
        return record_from_entity(entity)

    def find(self, value: str) -> KeyRecord | None:
        """The key with this value if its subscription is active; None when unknown, suspended or cancelled."""
        record = self.lookup(value)
        return record if record is not None and record.state == "active" else None

    # --- subscriptions ---------------------------------------------------------------------

    def create_subscription(
        self,
        display_name: str,
        principal_id: str,
        roles: Iterable[str] = (),
        scope: str = ALL_SCOPE,
        *,
        primary_value: str | None = None,
        created_by: str = "",
    ) -> NewSubscription:
        """A new active subscription with two new keys. ResourceExistsError when `primary_value` is taken.
        `created_by`: the principal minting it (audit rows of its calls name them when it isn't the owner)."""
        if primary_value is not None:
            check_given_value(primary_value)
        now = self._now()
        values = {"primary": primary_value or generate_key_value(), "secondary": generate_key_value()}
        subscription = Subscription(
            id=new_subscription_id(),
            display_name=checked_text(display_name, "display name"),
            principal_id=checked_principal_id(principal_id),
            roles=normalized_roles(roles),
            scope=parse_scope(scope),
            state="active",
            created_at=now,
            state_changed_at=now,
            primary=SubscriptionKey(key_hash(values["primary"]), now),
            secondary=SubscriptionKey(key_hash(values["secondary"]), now),
            created_by=created_by,
        )
        self._insert(subscription)
        return NewSubscription(subscription, values["primary"], values["secondary"])

    def get_subscription(self, subscription_id: str) -> Subscription:
        return self._read(subscription_id)[0]

    def list_subscriptions(self) -> list[Subscription]:
        entities = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": SUBSCRIPTION_PARTITION})
        return sorted((subscription_from_entity(entity) for entity in entities), key=lambda sub: sub.created_at)

    def update_subscription(
        self,
        subscription_id: str,
        *,
        state: SubscriptionState | None = None,
        display_name: str | None = None,
        scope: str | None = None,
    ) -> Subscription:
        """Changes state, display name and/or scope. StateConflict: a cancelled subscription is final."""
        return self._change(subscription_id, lambda current: current.changed(self._now(), state, display_name, scope))

    def regenerate_key(self, subscription_id: str, slot: KeySlot) -> tuple[Subscription, str]:
        """A new value for one key; the old value stops working, the other key keeps working."""
        value = generate_key_value()
        new_key = SubscriptionKey(key_hash(value), self._now())

        def regenerate(current: Subscription) -> Subscription:
            if current.state == "cancelled":
                raise StateConflict("The subscription is cancelled; its keys can't be regenerated.")
            return current.with_key(slot, new_key)

        try:
            return self._change(subscription_id, regenerate), value
        except BaseException:
            # The value was never handed out; don't leave its key entity behind.
            with contextlib.suppress(AzureError):
                self._table.delete_entity(KEY_PARTITION, new_key.hash_hex)
            raise

    def delete_subscription(self, subscription_id: str) -> None:
        """Deletes the subscription's keys, then its usage, then the subscription entity itself,
        so a delete interrupted by a crash or an outage can simply be repeated."""
        for _ in range(MAX_CHANGE_ATTEMPTS):
            current, etag = self._read(subscription_id)
            for hash_hex in current.hashes():
                self._table.delete_entity(KEY_PARTITION, hash_hex)
            self.usage.delete_all(subscription_id)
            try:
                self._table.delete_entity(
                    SUBSCRIPTION_PARTITION, subscription_id, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError:
                continue  # changed meanwhile (a regenerated key, say): delete what it holds now
            return
        raise _too_contended()

    # --- the API from before subscriptions (make run's bootstrap key, `keys` CLI commands) --

    def create(self, principal_id: str, roles: Iterable[str], name: str, value: str | None = None) -> tuple[str, str]:
        """A subscription with scope "all"; returns (primary key id, primary key value). A given value
        (the dev bootstrap key) may be created again with the same principal, roles and name: a no-op."""
        principal_id, name = principal_id.strip(), name.strip()
        if not principal_id or not name:
            raise ValueError("A key needs a principal id and a name.")
        role_set = normalized_roles(roles)
        if value is None:
            created = self.create_subscription(name, principal_id, role_set)
            return key_id_of(key_hash(created.primary_value)), created.primary_value
        check_given_value(value)
        if self.lookup(value) is None:
            with contextlib.suppress(ResourceExistsError):  # created meanwhile: compare below
                self.create_subscription(name, principal_id, role_set, primary_value=value)
                return key_id_of(key_hash(value)), value
        entity = self._table.get_entity(KEY_PARTITION, key_hash(value))
        existing = record_from_entity(entity)
        if existing.revoked:
            raise ValueError("A key with this value was revoked; choose another value.")
        if (existing.principal_id, existing.roles, existing.name) != (principal_id, role_set, name):
            raise ValueError(f"Key {existing.key_id} already has this value with another principal, name or roles.")
        if existing.subscription_id is None:
            self._adopt(entity)
        return existing.key_id, value

    def list(self) -> list[KeyRecord]:
        """Every key (two per subscription), oldest first."""
        entities = self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": KEY_PARTITION}, select=KEY_FIELDS
        )
        records = [record_from_entity(entity) for entity in entities]
        return sorted(records, key=lambda record: record.created_at or datetime.min.replace(tzinfo=UTC))

    def revoke(self, key_id: str) -> bool:
        """Cancels the subscription the key belongs to (both its keys stop working; kept for the
        audit trail). False when no key has this id."""
        key_id = key_id.strip().lower()
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise ValueError(f"A key id is {KEY_ID_CHARS} hex characters.")
        # Every hash starting with the id sorts between the id and the id + "g" ("g" follows "f").
        matches = list(
            self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": KEY_PARTITION, "low": key_id, "high": key_id + "g"},
                select=KEY_FIELDS,
            )
        )
        if not matches:
            return False
        if len(matches) > 1:
            raise ValueError(f"Key id {key_id} is ambiguous.")
        record = record_from_entity(matches[0])
        if record.subscription_id is not None:
            self.update_subscription(record.subscription_id, state="cancelled")
        else:
            self._table.update_entity(
                {"PartitionKey": KEY_PARTITION, "RowKey": matches[0]["RowKey"], "revoked": True}, mode=UpdateMode.MERGE
            )
        return True

    # --- writes ----------------------------------------------------------------------------

    def _read(self, subscription_id: str) -> tuple[Subscription, str]:
        if not is_subscription_id(subscription_id):
            raise SubscriptionNotFound(subscription_id)
        try:
            entity = self._table.get_entity(SUBSCRIPTION_PARTITION, subscription_id)
        except ResourceNotFoundError:
            raise SubscriptionNotFound(subscription_id) from None
        return subscription_from_entity(entity), entity.metadata["etag"]

    def _insert(self, subscription: Subscription) -> None:
        self._table.create_entity(subscription_entity(subscription))
        created: list[str] = []
        try:
            for slot in SLOTS:
                entity = key_entity(subscription, slot)
                self._table.create_entity(entity)
                created.append(entity["RowKey"])
        except ResourceExistsError:  # a given value that is already a key
            for hash_hex in created:
                self._table.delete_entity(KEY_PARTITION, hash_hex)
            self._table.delete_entity(SUBSCRIPTION_PARTITION, subscription.id)
            raise

    def _change(self, subscription_id: str, change: Callable[[Subscription], Subscription]) -> Subscription:
        for _ in range(MAX_CHANGE_ATTEMPTS):
            current, etag = self._read(subscription_id)
            wanted = change(current)
            self._write_keys(current, wanted)
            try:
                self._table.update_entity(
                    subscription_entity(wanted),
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue  # changed meanwhile: decide again on what it holds now
            except ResourceNotFoundError:
                raise SubscriptionNotFound(subscription_id) from None
            return wanted
        raise _too_contended()

    def _write_keys(self, current: Subscription, wanted: Subscription) -> None:
        existing = current.hashes()
        for slot in SLOTS:
            if wanted.key(slot) is None:
                continue
            entity = key_entity(wanted, slot)
            if entity["RowKey"] in existing:
                # Replace, never upsert: a key a concurrent regeneration deleted must stay deleted.
                with contextlib.suppress(ResourceNotFoundError):
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE)
            else:
                try:
                    self._table.create_entity(entity)
                except ResourceExistsError:  # written by an earlier attempt of this same change
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE)
        for stale in existing - wanted.hashes():
            self._table.delete_entity(KEY_PARTITION, stale)

    def _adopt(self, entity: TableEntity | dict[str, Any]) -> None:
        """Wraps a key from before subscriptions in a subscription (fixed id: repeating this is harmless)."""
        subscription = adopted_subscription(entity)
        self._table.upsert_entity(subscription_entity(subscription), mode=UpdateMode.REPLACE)
        self._table.update_entity(key_entity(subscription, "primary"), mode=UpdateMode.REPLACE)


def _too_contended() -> StateConflict:
    return StateConflict("The subscription is being changed by someone else right now; try again.")


def subscription_key_table(settings: Settings) -> TableClient:
    return table_service(settings).create_table_if_not_exists(f"{settings.tables_prefix}keys")
