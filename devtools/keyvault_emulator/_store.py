"""The vault's secrets: versions, soft delete, recover, purge. No HTTP here.

Names are case-insensitive, as in Key Vault; a secret keeps the spelling it was
created with. Every mutation is saved (atomically) when a persist path is given.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.keyvault_emulator._files import write_atomically

RECOVERABLE_DAYS = 90
PURGEABLE = "Recoverable+Purgeable"
PURGE_PROTECTED = "Recoverable"  # Key Vault's recoveryLevel with purge protection on
_NAME_PATTERN = re.compile(r"[0-9a-zA-Z-]{1,127}")
_MAX_VALUE_CHARS = 25 * 1024
_MAX_TAGS = 15
_PERSIST_FORMAT = 1


class VaultError(Exception):
    """A Key Vault error response. The message is shown to clients, so it never holds a secret value."""

    def __init__(self, status: int, code: str, message: str, inner_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code


def bad_parameter(message: str) -> VaultError:
    return VaultError(400, "BadParameter", message)


@dataclass(frozen=True)
class SecretProperties:
    """Properties a client sets or updates; None means "not given"."""

    content_type: str | None = None
    tags: dict[str, str] | None = None
    enabled: bool | None = None
    not_before: int | None = None
    expires: int | None = None


@dataclass(frozen=True)
class SecretVersion:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int


@dataclass(frozen=True)
class SecretView:
    """One version of a named secret, as an operation returns it."""

    name: str
    version: SecretVersion
    deleted_date: int | None = None
    recovery_level: str = PURGEABLE


@dataclass
class _SecretRecord:
    name: str
    versions: list[SecretVersion] = field(default_factory=list)  # oldest first
    deleted_date: int | None = None
    recovery_level: str = PURGEABLE  # the vault's, not persisted

    def latest(self) -> SecretVersion:
        return self.versions[-1]

    def view(self, version: SecretVersion | None = None) -> SecretView:
        return SecretView(self.name, version or self.latest(), self.deleted_date, self.recovery_level)


def validate_name(name: str) -> None:
    if not _NAME_PATTERN.fullmatch(name):
        raise bad_parameter(f"The request URI contains an invalid name: {name[:127]}")


def _not_found(what: str) -> VaultError:
    return VaultError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {what} was not found in this key vault. If you recently deleted this secret you "
        "may be able to recover it using the correct recovery command.",
    )


def purge_protected() -> VaultError:
    """What Key Vault answers a purge in a vault with purge protection on (the secret stays soft-deleted)."""
    return VaultError(
        403,
        "Forbidden",
        'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service '
        "will automatically purge it after the retention period has passed.",
    )


def _deleted_not_found(name: str) -> VaultError:
    return VaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def _validate_properties(props: SecretProperties) -> None:
    if props.tags is not None and len(props.tags) > _MAX_TAGS:
        raise bad_parameter(f"A secret can have at most {_MAX_TAGS} tags.")


class SecretStore:
    """Thread-safe. Returned views are immutable snapshots."""

    def __init__(
        self, persist_path: Path | None = None, clock: Callable[[], float] = time.time, purge_protection: bool = False
    ) -> None:
        self.purge_protection = purge_protection  # as infra/modules/keyvault.bicep sets it: purge is refused
        self._lock = threading.Lock()
        self._records: dict[str, _SecretRecord] = {}
        self._persist_path = persist_path
        self._clock = clock
        if persist_path is not None and persist_path.exists():
            self._records = _load(persist_path)
        self._recovery_level = PURGE_PROTECTED if purge_protection else PURGEABLE
        for record in self._records.values():
            record.recovery_level = self._recovery_level

    # -- active secrets ---------------------------------------------------------------------------------------

    def set(self, name: str, value: str, props: SecretProperties) -> SecretView:
        validate_name(name)
        if len(value) > _MAX_VALUE_CHARS:
            raise bad_parameter("The secret value exceeds the maximum size of 25 KB.")
        _validate_properties(props)
        now = self._now()
        version = SecretVersion(
            version=uuid.uuid4().hex,
            value=value,
            content_type=props.content_type,
            tags=props.tags,
            enabled=True if props.enabled is None else props.enabled,
            not_before=props.not_before,
            expires=props.expires,
            created=now,
            updated=now,
        )
        with self._lock:
            record = self._records.setdefault(name.lower(), _SecretRecord(name, recovery_level=self._recovery_level))
            if record.deleted_date is not None:
                raise VaultError(
                    409,
                    "Conflict",
                    f"Secret {record.name} is currently in a deleted but recoverable state, and its name cannot be "
                    "reused; in this state, the secret can only be recovered or purged.",
                )
            record.versions.append(version)
            self._save()
            return record.view(version)

    def get(self, name: str, version: str | None) -> SecretView:
        with self._lock:
            record = self._active(name)
            return record.view(_find_version(record, version))

    def update(self, name: str, version: str | None, changes: SecretProperties) -> SecretView:
        _validate_properties(changes)
        with self._lock:
            record = self._active(name)
            current = _find_version(record, version)
            updated = dataclasses.replace(
                current,
                content_type=current.content_type if changes.content_type is None else changes.content_type,
                tags=current.tags if changes.tags is None else changes.tags,
                enabled=current.enabled if changes.enabled is None else changes.enabled,
                not_before=current.not_before if changes.not_before is None else changes.not_before,
                expires=current.expires if changes.expires is None else changes.expires,
                updated=self._now(),
            )
            record.versions[record.versions.index(current)] = updated
            self._save()
            return record.view(updated)

    def list_latest(self) -> list[SecretView]:
        with self._lock:
            return [r.view() for _, r in sorted(self._records.items()) if r.deleted_date is None]

    def list_versions(self, name: str) -> list[SecretView]:
        with self._lock:
            record = self._active(name)
            return [record.view(v) for v in sorted(record.versions, key=lambda v: (v.created, v.version))]

    def delete(self, name: str) -> SecretView:
        with self._lock:
            record = self._active(name)
            record.deleted_date = self._now()
            self._save()
            return record.view()

    # -- deleted secrets --------------------------------------------------------------------------------------

    def list_deleted(self) -> list[SecretView]:
        with self._lock:
            return [r.view() for _, r in sorted(self._records.items()) if r.deleted_date is not None]

    def get_deleted(self, name: str) -> SecretView:
        with self._lock:
            return self._deleted(name).view()

    def purge(self, name: str) -> None:
        with self._lock:
            self._deleted(name)
            if self.purge_protection:
                raise purge_protected()
            del self._records[name.lower()]
            self._save()

    def recover(self, name: str) -> SecretView:
        with self._lock:
            record = self._deleted(name)
            record.deleted_date = None
            self._save()
            return record.view()

    def names(self) -> tuple[list[str], list[str]]:
        """(active names, deleted names), sorted."""
        with self._lock:
            records = sorted(self._records.items())
            active = [r.name for _, r in records if r.deleted_date is None]
            deleted = [r.name for _, r in records if r.deleted_date is not None]
            return active, deleted

    # -- internals (call with the lock held) ------------------------------------------------------------------

    def _active(self, name: str) -> _SecretRecord:
        validate_name(name)
        record = self._records.get(name.lower())
        if record is None or record.deleted_date is not None:
            raise _not_found(name)
        return record

    def _deleted(self, name: str) -> _SecretRecord:
        validate_name(name)
        record = self._records.get(name.lower())
        if record is None or record.deleted_date is None:
            raise _deleted_not_found(name)
        return record

    def _now(self) -> int:
        return int(self._clock())

    def _save(self) -> None:
        if self._persist_path is None:
            return
        document = {
            "format": _PERSIST_FORMAT,
            "secrets": [
                {"name": r.name, "deletedDate": r.deleted_date, "versions": [dataclasses.asdict(v) for v in r.versions]}
                for r in self._records.values()
            ],
        }
        write_atomically(self._persist_path, json.dumps(document, indent=1).encode(), mode=0o600)


def _find_version(record: _SecretRecord, version: str | None) -> SecretVersion:
    if not version:
        return record.latest()
    for candidate in record.versions:
        if candidate.version == version.lower():
            return candidate
    raise _not_found(f"{record.name}/{version}")


def _load(path: Path) -> dict[str, _SecretRecord]:
    document = json.loads(path.read_text())
    if document.get("format") != _PERSIST_FORMAT:
        raise ValueError(f"{path}: unsupported format {document.get('format')!r}")
    records: dict[str, _SecretRecord] = {}
    for entry in document["secrets"]:
        versions = [SecretVersion(**v) for v in entry["versions"]]
        records[entry["name"].lower()] = _SecretRecord(entry["name"], versions, entry["deletedDate"])
    return records
