"""The JSON schemas in tests/fixtures/schemas (see its README). Upstream's paconn schemas carry comments and
trailing commas, so they are read as the gateway reads uploads: leniently."""

from __future__ import annotations

from typing import Any

from shared.connectors._lenient_json import loads
from tests.support.connector_files import FIXTURES


def read_schema(name: str) -> dict[str, Any]:
    return loads((FIXTURES / "schemas" / name).read_text(encoding="utf-8"))
