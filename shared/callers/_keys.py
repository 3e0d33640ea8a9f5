"""Subscription keys: long random secrets a caller sends instead of a bearer token.

Only the SHA-256 of a key is stored (PartitionKey "key", RowKey = hash hex), so a leaked
table doesn't leak usable keys, and a lookup is one point read by hash. People see a key id:
the first 12 hex characters of the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.callers._principal import Principal
from shared.settings import Settings
from shared.stores.clients import table_service

PARTITION = "key"
GENERATED_KEY_PREFIX = "cgk_"
MIN_GIVEN_VALUE_CHARS = 16
MAX_VALUE_CHARS = 1024  # longer values can't be ours; don't even hash them
KEY_ID_CHARS = 12
_KEY_ID_PATTERN = re.compile(rf"[0-9a-f]{{{KEY_ID_CHARS}}}")
_FIELDS = ["PartitionKey", "RowKey", "name", "principal", "roles", "createdAt", "revoked"]


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    name: str
    principal_id: str
    roles: frozenset[str]
    created_at: datetime | None
    revoked: bool

    def principal(self) -> Principal:
        return Principal(id=self.principal_id, roles=self.roles, name=self.name, kind="key")


# --- pure helpers -----------------------------------------------------------------------------


def key_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def key_id_of(hash_hex: str) -> str:
    return hash_hex[:KEY_ID_CHARS]


def normalized_roles(roles: Iterable[str]) -> frozenset[str]:
    result = set()
    for role in roles:
        role = role.strip()
        if not role or "," in role:
            raise ValueError(f"Role {role!r} is empty or contains a comma.")
        result.add(role)
    return frozenset(result)


def check_given_value(value: str) -> None:
    """A caller-chosen key must be long enough to be a secret and travel in a header unchanged."""
    if len(value) < MIN_GIVEN_VALUE_CHARS or len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"A key value must be {MIN_GIVEN_VALUE_CHARS} to {MAX_VALUE_CHARS} characters long.")
    if not (value.isascii() and value.isprintable()) or any(char.isspace() for char in value):
        raise ValueError("A key value must be printable ASCII without spaces.")


def key_entity(hash_hex: str, principal_id: str, roles: frozenset[str], name: str) -> dict[str, Any]:
    return {
        "PartitionKey": PARTITION,
        "RowKey": hash_hex,
        "name": name,
        "principal": principal_id,
        "roles": ",".join(sorted(roles)),
        "createdAt": datetime.now(UTC),
        "revoked": False,
    }


def record_from_entity(entity: Mapping[str, Any]) -> KeyRecord:
    return KeyRecord(
        key_id=key_id_of(entity["RowKey"]),
        name=entity.get("name", ""),
        principal_id=entity.get("principal", ""),
        roles=frozenset(role for role in entity.get("roles", "").split(",") if role),
        created_at=entity.get("createdAt"),
        revoked=bool(entity.get("revoked", False)),
    )


# --- store ------------------------------------------------------------------------------------


class SubscriptionKeyStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def create(self, principal_id: str, roles: Iterable[str], name: str, value: str | None = None) -> tuple[str, str]:
        """Returns (key id, key value). A given value (the dev bootstrap key) may be created again
        with the same principal, roles and name; that is a no-op."""
        principal_id, name = principal_id.strip(), name.strip()
        if not principal_id or not name:
            raise ValueError("A key needs a principal id and a name.")
        role_set = normalized_roles(roles)
        if value is None:
            value = GENERATED_KEY_PREFIX + secrets.token_urlsafe(32)
        else:
            check_given_value(value)
        hash_hex = key_hash(value)
        try:
            self._table.create_entity(key_entity(hash_hex, principal_id, role_set, name))
        except ResourceExistsError:
            existing = record_from_entity(self._table.get_entity(PARTITION, hash_hex))
            if existing.revoked:
                raise ValueError("A key with this value was revoked; choose another value.") from None
            if (existing.principal_id, existing.roles, existing.name) != (principal_id, role_set, name):
                raise ValueError(
                    f"Key {existing.key_id} already has this value with another principal, name or roles."
                ) from None
        return key_id_of(hash_hex), value

    def find(self, value: str) -> KeyRecord | None:
        """The active key with this value: one point read by hash. None when unknown or revoked."""
        if not value or len(value) > MAX_VALUE_CHARS:
            return None
        hash_hex = key_hash(value)
        try:
            entity = self._table.get_entity(PARTITION, hash_hex, select=_FIELDS)
        except ResourceNotFoundError:
            return None
        if not hmac.compare_digest(entity["RowKey"], hash_hex):
            return None
        record = record_from_entity(entity)
        return None if record.revoked else record

    def list(self) -> list[KeyRecord]:
        entities = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION}, select=_FIELDS)
        records = [record_from_entity(entity) for entity in entities]
        return sorted(records, key=lambda record: record.created_at or datetime.min.replace(tzinfo=UTC))

    def revoke(self, key_id: str) -> bool:
        """Marks the key revoked (kept for the audit trail). False when no key has this id."""
        key_id = key_id.strip().lower()
        if not _KEY_ID_PATTERN.fullmatch(key_id):
            raise ValueError(f"A key id is {KEY_ID_CHARS} hex characters.")
        # Every hash starting with the id sorts between the id and the id + "g" ("g" follows "f").
        matches = list(
            self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": PARTITION, "low": key_id, "high": key_id + "g"},
                select=["PartitionKey", "RowKey"],
            )
        )
        if not matches:
            return False
        if len(matches) > 1:
            raise ValueError(f"Key id {key_id} is ambiguous.")
        entity = matches[0]
        self._table.update_entity(
            {"PartitionKey": PARTITION, "RowKey": entity["RowKey"], "revoked": True}, mode=UpdateMode.MERGE
        )
        return True


def subscription_key_table(settings: Settings) -> TableClient:
    return table_service(settings).create_table_if_not_exists(f"{settings.tables_prefix}keys")
