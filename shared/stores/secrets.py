"""Connection secrets in Azure Key Vault: one JSON secret per connection.

Secret names are made by the gateway from random connection ids and are never
reused, so Key Vault's soft delete (a deleted name stays reserved until purged)
can't make a new connection collide with a deleted one. Deletion purges where
the vault allows it; with purge protection on, the soft-deleted secret simply
expires at the end of its retention.

Reads are cached in process by (name, version): a version's value never
changes, so the invoke path doesn't touch Key Vault until the record names a
new version.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from shared.stores.errors import dependency_failed, translate_errors
from shared.stores.tables import StripedLocks

SECRET_CONTENT_TYPE = "application/json"  # noqa: S105 - a media type, not a secret


class SecretCache:
    """A small thread-safe LRU of secret values keyed by (name, version)."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: dict[str, Any]) -> None:
        if self._max <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def discard_version(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._items.pop(key, None)

    def discard(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == name]:
                del self._items[key]


class SecretStore:
    def __init__(self, client: SecretClient, cache_size: int) -> None:
        self._client = client
        self._cache = SecretCache(cache_size)
        self._miss_locks = StripedLocks()

    def put(self, name: str, value: dict[str, Any]) -> str:
        """Store `value` as a new version of `name`; returns the version."""
        with translate_errors("Key Vault"):
            secret = self._client.set_secret(name, json.dumps(value), content_type=SECRET_CONTENT_TYPE)
        version = secret.properties.version or ""
        self._cache.put((name, version), value)
        return version

    def get(self, name: str, version: str) -> dict[str, Any]:
        """The value of one version, from the cache when possible; concurrent misses share one Key Vault read."""
        cached = self._cache.get((name, version))
        if cached is not None:
            return cached
        with self._miss_locks(name, version):
            cached = self._cache.get((name, version))  # another thread may have read it meanwhile
            if cached is not None:
                return cached
            with translate_errors("Key Vault"):
                secret = self._client.get_secret(name, version)
            value = json.loads(secret.value or "{}")
            self._cache.put((name, version), value)
            return value

    def get_latest(self, name: str) -> tuple[str, dict[str, Any]]:
        """The newest version, always from Key Vault: for read-modify-write, where a cached copy could be stale.

        ("", {}) when the secret doesn't exist (e.g. a creation interrupted before it was written)."""
        with translate_errors("Key Vault"):
            try:
                secret = self._client.get_secret(name)
            except ResourceNotFoundError:
                return "", {}
        version = secret.properties.version or ""
        value = json.loads(secret.value or "{}")
        self._cache.put((name, version), value)
        return version, value

    def disable(self, name: str, version: str) -> None:
        """Disable one version (a replaced credential): Key Vault refuses to read it from now on, and so does the cache.
        A version that is already gone is fine."""
        self._cache.discard_version((name, version))
        with translate_errors("Key Vault"), contextlib.suppress(ResourceNotFoundError):
            self._client.update_secret_properties(name, version, enabled=False)

    def delete(self, name: str) -> None:
        """Delete and purge `name`. A secret that is already gone is fine."""
        self._cache.discard(name)
        with translate_errors("Key Vault"):
            with contextlib.suppress(ResourceNotFoundError):
                self._client.begin_delete_secret(name).wait()
            try:
                self._client.purge_deleted_secret(name)
            except ResourceNotFoundError:
                pass
            except HttpResponseError as error:
                if error.status_code != 403:  # 403: purge protection; the secret expires on its own
                    raise dependency_failed("Key Vault", error) from None
