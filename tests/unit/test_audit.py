"""The audit log names the authenticated actor and, for a key an admin minted for them, the admin too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.audit import AuditLog
from shared.callers import Principal
from tests.support.azurite import azurite_tables
from tests.support.key_tables import fresh_table

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    with azurite_tables() as running:
        yield running


def test_rows_name_the_actor_and_the_minter_and_count_use_apart(azurite: str) -> None:
    log = AuditLog(fresh_table(azurite), clock=lambda: T0)
    own = Principal("svc|bot", frozenset(), "bot", "key")
    minted = Principal("svc|bot", frozenset(), "bot", "key", minted_by="idp|admin")

    log.record("c1", "created", minted, "connector echo")
    log.record("c1", "deleted", own)
    log.record("c1", "shared", "timer")  # a bare id: no minter
    for actor in (own, minted, minted):
        log.used("c1", actor)
    assert log.flush() == 3

    entries = log.entries("c1")
    events = {(e["action"], e["principal"], e.get("mintedBy")) for e in entries if e["action"] != "used"}
    assert events == {("created", "svc|bot", "idp|admin"), ("deleted", "svc|bot", None), ("shared", "timer", None)}
    uses = sorted((e["principal"], e.get("mintedBy") or "", e["count"]) for e in entries if e["action"] == "used")
    assert uses == [("svc|bot", "", 1), ("svc|bot", "idp|admin", 2)]
