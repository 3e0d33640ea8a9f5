"""Helpers for subscription tests: a fresh key table per test, and a TableClient that counts and can fail calls."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ServiceRequestError
from azure.data.tables import TableClient, TableServiceClient

_names = itertools.count()


def fresh_table(connection_string: str) -> TableClient:
    """A new, empty table on the shared Azurite: tests stay independent."""
    return TableServiceClient.from_connection_string(connection_string).create_table(f"subs{next(_names)}")


class CountingTable:
    """Wraps a TableClient: counts each method call by name; `fail_when(name, entity)` makes chosen calls raise."""

    def __init__(self, inner: TableClient) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.fail_when: Callable[[str, tuple[Any, ...]], bool] = lambda name, args: False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self.fail_when(name, args):
                raise ServiceRequestError(f"injected failure of {name}")
            return attribute(*args, **kwargs)

        return call

    def reset(self) -> None:
        self.calls.clear()
