"""Subscriptions as data: validation, state rules and their Table entities. Pure, no I/O.

A subscription (like Azure API Management's) has an owner principal, roles, a scope, a state,
the principal who created it (an admin may mint for someone else) and two keys, primary and
secondary, either of which authenticates. Only SHA-256 hashes of key values are ever stored.
Two kinds of entity, in one table:

* subscription entity: PartitionKey "subscription", RowKey = subscription id; what people manage.
* key entity: PartitionKey "key", RowKey = SHA-256 hex of the key value; a denormalised copy of
  everything authentication needs (subscription id, slot, principal, roles, scope, state, creator), so
  authenticating is one point read. Key entities written before subscriptions existed carry only
  name, principal, roles, createdAt and revoked; they still authenticate, with scope "all".
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

from shared.callers._principal import GROUP_GRANTEE_PREFIX, Principal, in_group_namespace
from shared.callers._scope import ALL_SCOPE, SubscriptionGrant, parse_scope

SubscriptionState = Literal["active", "suspended", "cancelled"]
KeySlot = Literal["primary", "secondary"]
STATES: tuple[SubscriptionState, ...] = get_args(SubscriptionState)
SLOTS: tuple[KeySlot, ...] = get_args(KeySlot)

KEY_PARTITION = "key"
SUBSCRIPTION_PARTITION = "subscription"
GENERATED_KEY_PREFIX = "cgk_"
MIN_GIVEN_VALUE_CHARS = 16
MAX_VALUE_CHARS = 1024  # longer values can't be ours; don't even hash them
KEY_ID_CHARS = 12
MAX_TEXT_CHARS = 256
KEY_ID_PATTERN = re.compile(rf"[0-9a-f]{{{KEY_ID_CHARS}}}")
SUBSCRIPTION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
KEY_FIELDS = [
    "PartitionKey",
    "RowKey",
    "subscription",
    "slot",
    "name",
    "principal",
    "roles",
    "scope",
    "state",
    "createdAt",
    "revoked",
    "createdBy",
]


class SubscriptionNotFound(LookupError):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"No subscription has id {subscription_id!r}.")
        self.subscription_id = subscription_id


class StateConflict(ValueError):
    """A change the subscription's state doesn't allow (a cancelled subscription is final)."""


CANCELLED_IS_FINAL = "The subscription is cancelled; a cancelled subscription can't change any more."


# --- values -----------------------------------------------------------------------------------


def key_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def key_id_of(hash_hex: str) -> str:
    """What people see of a key: the first hex characters of its hash."""
    return hash_hex[:KEY_ID_CHARS]


def generate_key_value() -> str:
    return GENERATED_KEY_PREFIX + secrets.token_urlsafe(32)


def new_subscription_id() -> str:
    # Lower-case base32: URL-safe, never starts with '-' (a CLI argument), easy to read out.
    return base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


def adopted_subscription_id(hash_hex: str) -> str:
    """A fixed id for the subscription wrapping a pre-subscription key, so adopting it twice is harmless."""
    return "k" + hashlib.sha256(f"adopted:{hash_hex}".encode()).hexdigest()[:23]


def is_subscription_id(text: str) -> bool:
    return bool(SUBSCRIPTION_ID_PATTERN.fullmatch(text))


def check_given_value(value: str) -> None:
    """A caller-chosen key must be long enough to be a secret and travel in a header unchanged."""
    if len(value) < MIN_GIVEN_VALUE_CHARS or len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"A key value must be {MIN_GIVEN_VALUE_CHARS} to {MAX_VALUE_CHARS} characters long.")
    if not (value.isascii() and value.isprintable()) or any(char.isspace() for char in value):
        raise ValueError("A key value must be printable ASCII without spaces.")


def normalized_roles(roles: Iterable[str]) -> frozenset[str]:
    result = set()
    for role in roles:
        if not isinstance(role, str):
            raise ValueError("A role is a string.")
        role = role.strip()
        if not role or "," in role or len(role) > MAX_TEXT_CHARS:
            raise ValueError(f"Role {role[:40]!r} is empty, too long or contains a comma.")
        result.add(role)
    return frozenset(result)


def checked_text(value: object, what: str) -> str:
    """A display name or principal id: 1-256 printable characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"A {what} is required.")
    value = value.strip()
    if len(value) > MAX_TEXT_CHARS or not value.isprintable():
        raise ValueError(f"A {what} has at most {MAX_TEXT_CHARS} printable characters.")
    return value


def checked_principal_id(value: object) -> str:
    """A key's principal id: any principal's (an admin may mint a key to act as a user), never a group's form."""
    principal_id = checked_text(value, "principal id")
    if in_group_namespace(principal_id):
        raise ValueError(f"A principal id can't start with {GROUP_GRANTEE_PREFIX!r}: that is how shares name groups.")
    return principal_id


def parse_state(raw: object) -> SubscriptionState:
    if raw not in STATES:
        raise ValueError(f"A state is one of {', '.join(STATES)}.")
    return cast(SubscriptionState, raw)


def parse_slot(raw: object) -> KeySlot:
    if raw not in SLOTS:
        raise ValueError("A key is 'primary' or 'secondary'.")
    return cast(KeySlot, raw)


def check_transition(current: SubscriptionState, wanted: SubscriptionState) -> None:
    """APIM's rules, reduced to three states: active <-> suspended, either -> cancelled, cancelled is final.
    Staying in a state is allowed: repeating a change repairs one a crash interrupted."""
    if current == "cancelled" and wanted != "cancelled":
        raise StateConflict(CANCELLED_IS_FINAL)


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionKey:
    hash_hex: str
    created_at: datetime

    @property
    def key_id(self) -> str:
        return key_id_of(self.hash_hex)


@dataclass(frozen=True)
class Subscription:
    id: str
    display_name: str
    principal_id: str
    roles: frozenset[str]
    scope: str
    state: SubscriptionState
    created_at: datetime
    state_changed_at: datetime
    primary: SubscriptionKey | None
    secondary: SubscriptionKey | None  # None: never generated (a subscription adopted from a lone key)
    created_by: str = ""  # the principal who minted it; empty: the operator CLI or from before this was recorded

    def key(self, slot: KeySlot) -> SubscriptionKey | None:
        return self.primary if slot == "primary" else self.secondary

    def with_key(self, slot: KeySlot, key: SubscriptionKey) -> Subscription:
        return replace(self, **{slot: key})

    def hashes(self) -> set[str]:
        return {key.hash_hex for key in (self.primary, self.secondary) if key is not None}

    def grant(self) -> SubscriptionGrant:
        return SubscriptionGrant(self.id, self.scope)

    def changed(
        self,
        now: datetime,
        state: SubscriptionState | None = None,
        display_name: str | None = None,
        scope: str | None = None,
    ) -> Subscription:
        """This subscription with the given changes, or StateConflict."""
        wanted_state = self.state if state is None else state
        check_transition(self.state, wanted_state)
        if self.state == "cancelled" and (display_name is not None or scope is not None):
            raise StateConflict(CANCELLED_IS_FINAL)
        return replace(
            self,
            state=wanted_state,
            state_changed_at=now if wanted_state != self.state else self.state_changed_at,
            display_name=self.display_name if display_name is None else checked_text(display_name, "display name"),
            scope=self.scope if scope is None else parse_scope(scope),
        )


@dataclass(frozen=True)
class NewSubscription:
    """A subscription just created, with its key values: the only time they exist outside the caller."""

    subscription: Subscription
    primary_value: str
    secondary_value: str


@dataclass(frozen=True)
class KeyRecord:
    """One key as authentication sees it."""

    key_id: str
    name: str
    principal_id: str
    roles: frozenset[str]
    created_at: datetime | None
    state: SubscriptionState = "active"
    subscription_id: str | None = None  # None: a key from before subscriptions
    slot: KeySlot | None = None
    scope: str = ALL_SCOPE
    created_by: str = ""

    @property
    def revoked(self) -> bool:
        return self.state == "cancelled"

    @property
    def minted_by(self) -> str | None:
        """Who minted this key for its principal, when that was someone else (an admin)."""
        return self.created_by if self.created_by and self.created_by != self.principal_id else None

    def principal(self) -> Principal:
        return Principal(id=self.principal_id, roles=self.roles, name=self.name, kind="key", minted_by=self.minted_by)

    def grant(self) -> SubscriptionGrant | None:
        return None if self.subscription_id is None else SubscriptionGrant(self.subscription_id, self.scope)


# --- entities ---------------------------------------------------------------------------------


def _roles_text(roles: frozenset[str]) -> str:
    return ",".join(sorted(roles))


def _roles_of(entity: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(role for role in entity.get("roles", "").split(",") if role)


def subscription_entity(subscription: Subscription) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": SUBSCRIPTION_PARTITION,
        "RowKey": subscription.id,
        "displayName": subscription.display_name,
        "principal": subscription.principal_id,
        "roles": _roles_text(subscription.roles),
        "scope": subscription.scope,
        "state": subscription.state,
        "createdAt": subscription.created_at,
        "stateChangedAt": subscription.state_changed_at,
        "createdBy": subscription.created_by,
    }
    for slot in SLOTS:
        key = subscription.key(slot)
        entity[f"{slot}Hash"] = key.hash_hex if key else ""
        if key:
            entity[f"{slot}CreatedAt"] = key.created_at
    return entity


def subscription_from_entity(entity: Mapping[str, Any]) -> Subscription:
    keys = {
        slot: SubscriptionKey(entity[f"{slot}Hash"], entity.get(f"{slot}CreatedAt") or entity["createdAt"])
        if entity.get(f"{slot}Hash")
        else None
        for slot in SLOTS
    }
    return Subscription(
        id=entity["RowKey"],
        display_name=entity.get("displayName", ""),
        principal_id=entity.get("principal", ""),
        roles=_roles_of(entity),
        scope=entity.get("scope", ALL_SCOPE),
        state=parse_state(entity.get("state", "active")),
        created_at=entity["createdAt"],
        state_changed_at=entity.get("stateChangedAt") or entity["createdAt"],
        primary=keys["primary"],
        secondary=keys["secondary"],
        created_by=entity.get("createdBy", ""),
    )


def key_entity(subscription: Subscription, slot: KeySlot) -> dict[str, Any]:
    """The key entity of one slot, copying what authentication needs from the subscription."""
    key = subscription.key(slot)
    assert key is not None, f"slot {slot} of {subscription.id} has no key"
    return {
        "PartitionKey": KEY_PARTITION,
        "RowKey": key.hash_hex,
        "subscription": subscription.id,
        "slot": slot,
        "name": subscription.display_name,
        "principal": subscription.principal_id,
        "roles": _roles_text(subscription.roles),
        "scope": subscription.scope,
        "state": subscription.state,
        "createdAt": key.created_at,
        "createdBy": subscription.created_by,
        # For gateway instances from before subscriptions, which know only `revoked`: refuse unless active.
        "revoked": subscription.state != "active",
    }


def record_from_entity(entity: Mapping[str, Any]) -> KeyRecord:
    subscription_id = entity.get("subscription") or None
    if subscription_id is None:  # a key from before subscriptions
        state: SubscriptionState = "cancelled" if entity.get("revoked") else "active"
    else:
        state = parse_state(entity.get("state"))
    slot = entity.get("slot")
    return KeyRecord(
        key_id=key_id_of(entity["RowKey"]),
        name=entity.get("name", ""),
        principal_id=entity.get("principal", ""),
        roles=_roles_of(entity),
        created_at=entity.get("createdAt"),
        state=state,
        subscription_id=subscription_id,
        slot=parse_slot(slot) if subscription_id is not None else None,
        scope=entity.get("scope") or ALL_SCOPE,
        created_by=entity.get("createdBy", ""),
    )


def adopted_subscription(entity: Mapping[str, Any]) -> Subscription:
    """The subscription wrapping a pre-subscription key entity: that key as primary, no secondary yet."""
    created = entity.get("createdAt") or datetime.now(UTC)
    return Subscription(
        id=adopted_subscription_id(entity["RowKey"]),
        display_name=entity.get("name", "") or "adopted key",
        principal_id=entity.get("principal", ""),
        roles=_roles_of(entity),
        scope=ALL_SCOPE,
        state="cancelled" if entity.get("revoked") else "active",
        created_at=created,
        state_changed_at=created,
        primary=SubscriptionKey(entity["RowKey"], created),
        secondary=None,
    )


# --- what people see --------------------------------------------------------------------------


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def subscription_view(subscription: Subscription) -> dict[str, Any]:
    """The JSON shape of a subscription. Key ids only, never key values or hashes."""
    view: dict[str, Any] = {
        "id": subscription.id,
        "displayName": subscription.display_name,
        "principal": subscription.principal_id,
        "roles": sorted(subscription.roles),
        "scope": subscription.scope,
        "state": subscription.state,
        "createdAt": timestamp(subscription.created_at),
        "stateChangedAt": timestamp(subscription.state_changed_at),
        "createdBy": subscription.created_by or None,
    }
    for slot in SLOTS:
        key = subscription.key(slot)
        view[f"{slot}KeyId"] = key.key_id if key else None
        view[f"{slot}KeyCreatedAt"] = timestamp(key.created_at) if key else None
    return view
