"""Azurite's Table service in memory for tests, started the way `make run` starts it.

with azurite_tables() as connection_string:
    TableServiceClient.from_connection_string(connection_string)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from devtools.stack import start_azurite


@contextmanager
def azurite_tables() -> Iterator[str]:
    service = start_azurite()
    try:
        yield service.details["connection_string"]
    finally:
        service.stop()
