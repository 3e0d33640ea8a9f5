"""The token lease against Azurite's real ETags: a late writer loses, renewals keep it, unrelated merges don't
break it, and a token issued without a refresh token is used until it really expires. The clock is injected."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared import problems
from shared.connections import ConnectionRecords, Leases, TokenRefresher
from shared.connections._lease import LEASE_SECONDS, LeaseLost
from shared.connections._records import etag_of
from shared.oauth import TokenSet, config_to_record, oauth_config_for
from shared.stores.tables import json_properties
from tests.support.azurite import azurite_tables
from tests.unit.test_oauth_config import oauth2_settings, oauth_connector

START = 2_000_000_000.0
SECRET = "conn-test"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Vault:
    """Key Vault's versioning, in memory: every put is a new version; 'latest' is the last put."""

    def __init__(self) -> None:
        self.versions: list[tuple[str, dict[str, Any]]] = []

    def put(self, name: str, value: dict[str, Any]) -> str:
        version = f"v{len(self.versions) + 1}"
        self.versions.append((version, value))
        return version

    def get(self, name: str, version: str) -> dict[str, Any]:
        return dict(self.versions)[version]

    def get_latest(self, name: str) -> tuple[str, dict[str, Any]]:
        return self.versions[-1]


class Provider:
    """A token endpoint: each refresh token gets a new access and refresh token; `hold` blocks the next call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.refreshed_with: list[str] = []
        self.hold: threading.Event | None = None
        self.called = threading.Event()

    def refresh(self, config: Any, credential: Any, refresh_token: str, redirect_url: str) -> TokenSet:
        self.refreshed_with.append(refresh_token)
        n = len(self.refreshed_with)
        hold, self.hold = self.hold, None
        self.called.set()
        if hold is not None:
            assert hold.wait(30)
        return TokenSet(f"at-{n}", f"rt-{n}", expires_at=self.clock() + 3600)


@pytest.fixture(scope="module")
def tables() -> Iterator[TableServiceClient]:
    with azurite_tables() as connection_string:
        yield TableServiceClient.from_connection_string(connection_string)


@pytest.fixture
def records(tables: TableServiceClient) -> ConnectionRecords:
    table = tables.create_table(f"lease{uuid.uuid4().hex[:12]}")
    return ConnectionRecords(table)


def connect(records: ConnectionRecords, vault: Vault, tokens: TokenSet) -> str:
    config = oauth_config_for(oauth_connector(oauth2_settings()), {})
    snapshot = {"backendUrl": "https://api.example.com", "oauth": config_to_record(config), "clientSecret": None}
    version = vault.put(SECRET, {"values": {}, "tokens": tokens.to_secret()})
    connection_id = uuid.uuid4().hex
    records.insert(
        {
            "PartitionKey": connection_id,
            "status": "Connected",
            "secretName": SECRET,
            "secretVersion": version,
            **json_properties("connector", snapshot),
        }
    )
    return connection_id


def refresher(records: ConnectionRecords, vault: Vault, provider: Provider, clock: Clock) -> TokenRefresher:
    leases = Leases(records, vault, clock, renew_every=None)  # type: ignore[arg-type]
    return TokenRefresher(records, vault, provider, 300, 60, "https://gw/cb", clock, leases)  # type: ignore[arg-type]


def test_a_refresher_that_stalled_past_its_lease_cannot_overwrite_the_newer_rotated_token(
    records: ConnectionRecords,
) -> None:
    clock, vault = Clock(), Vault()
    provider = Provider(clock)
    connection_id = connect(records, vault, TokenSet("at-0", "rt-0", expires_at=START + 10))
    release = provider.hold = threading.Event()
    late: dict[str, Any] = {}
    stalled = threading.Thread(
        target=lambda: late.update(tokens=refresher(records, vault, provider, clock).refresh(connection_id, "v1"))
    )
    stalled.start()
    assert provider.called.wait(30)  # A holds the lease and is inside its token call

    clock.now += LEASE_SECONDS + 1  # A's lease runs out (A stalled: no renewal)
    newer = refresher(records, vault, provider, clock).refresh(connection_id, "v1")
    assert newer.access_token == "at-2"
    record = records.read(connection_id)
    assert record is not None and record["secretVersion"] == "v2"

    release.set()
    stalled.join(30)
    assert late["tokens"].access_token == "at-1"  # A's caller still gets a working token...
    record = records.read(connection_id)
    assert record is not None and record["secretVersion"] == "v2"  # ...but the record keeps B's
    assert vault.get_latest(SECRET)[0] == "v3"  # A's orphan is Key Vault's newest version

    clock.now = START + 7200  # B's token expires: the next refresh must build on B's rotated token, not A's orphan
    third = refresher(records, vault, provider, clock).refresh(connection_id, "v2")
    assert provider.refreshed_with == ["rt-0", "rt-0", "rt-2"]
    record = records.read(connection_id)
    assert record is not None
    assert vault.get(SECRET, record["secretVersion"])["tokens"]["access_token"] == third.access_token


def test_a_holder_that_crashed_after_writing_key_vault_is_recovered_from(records: ConnectionRecords) -> None:
    clock, vault = Clock(), Vault()
    provider = Provider(clock)
    connection_id = connect(records, vault, TokenSet("at-0", "rt-0", expires_at=START + 10))
    leases = Leases(records, vault, clock, renew_every=None)  # type: ignore[arg-type]
    entity = records.read(connection_id)
    assert entity is not None
    crashed = leases.try_take(entity)
    assert crashed is not None
    vault.put(SECRET, {"values": {}, "tokens": TokenSet("at-x", "rt-x").to_secret(), "lease": crashed.id})
    clock.now += LEASE_SECONDS + 1  # it never wrote the record; its lease runs out
    refresher(records, vault, provider, clock).refresh(connection_id, "v1")
    assert provider.refreshed_with == ["rt-x"]  # the rotated refresh token it got was not lost


def test_renewal_keeps_the_lease_and_a_taken_lease_refuses_its_old_holder(records: ConnectionRecords) -> None:
    clock, vault = Clock(), Vault()
    connection_id = connect(records, vault, TokenSet("at-0", "rt-0", expires_at=START + 10))
    leases = Leases(records, vault, clock, renew_every=None)  # type: ignore[arg-type]
    entity = records.read(connection_id)
    assert entity is not None
    first = leases.try_take(entity)
    assert first is not None
    assert leases.try_take(entity) is None  # the same read can't take it twice

    clock.now += LEASE_SECONDS - 1
    first.renew()
    clock.now += 2  # past the original end, inside the renewed one
    renewed = records.read(connection_id)
    assert renewed is not None and leases.held_by_someone(renewed)

    records.merge(connection_id, {"displayName": "renamed"})  # someone else merges another field
    first.renew()  # still ours: the renewal goes through on the new ETag

    clock.now += LEASE_SECONDS + 1
    latest = records.read(connection_id)
    assert latest is not None and not leases.held_by_someone(latest)
    second = leases.try_take(latest)
    assert second is not None
    with pytest.raises(LeaseLost):
        first.renew()
    with pytest.raises(LeaseLost):
        first.write({"secretVersion": "stale"})
    second.write({"secretVersion": "v9"})
    final = records.read(connection_id)
    assert final is not None and final["secretVersion"] == "v9" and final["refreshLeaseUntil"] == ""
    assert etag_of(final)


def test_a_token_without_refresh_token_is_used_until_it_really_expires(records: ConnectionRecords) -> None:
    clock, vault = Clock(), Vault()
    provider = Provider(clock)
    connection_id = connect(records, vault, TokenSet("at-only", None, expires_at=START + 100))
    gateway = refresher(records, vault, provider, clock)  # margin 300 s: the token is inside it from the start
    entity = records.read(connection_id)
    assert entity is not None

    assert gateway.current(entity, vault.get(SECRET, "v1")).access_token == "at-only"
    assert gateway.refresh(connection_id, "v1", force=True).access_token == "at-only"  # e.g. the timer
    record = records.read(connection_id)
    assert record is not None and record["status"] == "Connected" and record["refreshLeaseUntil"] == ""
    assert provider.refreshed_with == []

    clock.now = START + 101
    with pytest.raises(problems.Problem) as refused:
        gateway.current(entity, vault.get(SECRET, "v1"))
    assert (refused.value.status, refused.value.slug) == (409, "connection-needs-reauthorization")
    record = records.read(connection_id)
    assert record is not None and record["status"] == "Error"
    assert provider.refreshed_with == []


class SignallingRecords(ConnectionRecords):
    """Records whose lease renewals can be awaited."""

    def __init__(self, table: Any) -> None:
        super().__init__(table)
        self.renewed = threading.Event()

    def merge(self, connection_id: str, fields: dict[str, Any], etag: str | None = None) -> str:
        result = super().merge(connection_id, fields, etag)
        if set(fields) == {"refreshLeaseUntil"} and fields["refreshLeaseUntil"]:
            self.renewed.set()
        return result


def test_a_holder_renews_its_lease_in_the_background_while_its_token_call_runs(tables: TableServiceClient) -> None:
    clock, vault = Clock(), Vault()
    signalling = SignallingRecords(tables.create_table(f"lease{uuid.uuid4().hex[:12]}"))
    connection_id = connect(signalling, vault, TokenSet("at-0", "rt-0", expires_at=START + 10))
    leases = Leases(signalling, vault, clock, renew_every=0.01)  # type: ignore[arg-type]
    entity = signalling.read(connection_id)
    assert entity is not None
    with leases.try_take(entity) as lease:  # type: ignore[union-attr]
        clock.now += LEASE_SECONDS - 1  # a slow token call: the lease would run out in a second...
        for _ in range(2):  # the second renewal surely started after the clock moved (one renewer, in sequence)
            signalling.renewed.clear()
            assert signalling.renewed.wait(30)  # ...but the holder renewed it from now
        clock.now += 2
        current = signalling.read(connection_id)
        assert current is not None and leases.held_by_someone(current)
        lease.write({"secretVersion": "v1"})
    final = signalling.read(connection_id)
    assert final is not None and final["refreshLeaseUntil"] == "" and final["refreshLeaseId"] == lease.id


def test_a_disconnect_or_a_new_connector_snapshot_meanwhile_wins_over_the_holder(records: ConnectionRecords) -> None:
    clock, vault = Clock(), Vault()
    leases = Leases(records, vault, clock, renew_every=None)  # type: ignore[arg-type]
    for change in (
        {"status": "Error", "errorReason": "connector changed", "backendUrl": ""},  # a forced replace
        json_properties("connector", {"backendUrl": "https://elsewhere.example.com", "oauth": None}),
        {"status": "Deleting"},
    ):
        connection_id = connect(records, vault, TokenSet("at-0", "rt-0", expires_at=START + 10))
        entity = records.read(connection_id)
        assert entity is not None
        lease = leases.try_take(entity)
        assert lease is not None
        records.merge(connection_id, change)  # unconditional, as the connector replace writes
        with pytest.raises(LeaseLost):
            lease.write({"status": "Connected", "secretVersion": "v9"})
        after = records.read(connection_id)
        assert after is not None and after["secretVersion"] != "v9", change
