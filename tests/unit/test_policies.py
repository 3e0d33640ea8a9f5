"""Connector policies: parsing, validation with JSON pointers, the canonical document, counter keys, IP checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.limits import LimitPolicy, QuotaPolicy
from shared.policies import (
    MAX_IP_ENTRIES,
    PolicyError,
    check_connector_ip,
    counter_key,
    parse_policy,
    policy_from_document,
)
from shared.problems import Problem

FULL = {
    "ipFilter": {"allow": ["10.0.0.0/8", " 192.168.1.5 "], "forbid": ["10.0.0.7"]},
    "rateLimit": {"calls": 100, "periodSeconds": 60, "key": "principal"},
    "quota": {"calls": 10_000, "bandwidthBytes": None, "renewalPeriodSeconds": 86_400, "key": "subscription"},
}


def pointers(value: Any) -> dict[str, str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(value)
    return {error["pointer"]: error["detail"] for error in caught.value.errors}


def test_a_full_policy_parses_into_limits_and_a_canonical_document() -> None:
    policy = parse_policy(FULL)
    assert policy is not None
    assert policy.rate_limit is not None and policy.quota is not None
    assert policy.rate_limit.limit == LimitPolicy(100, 60, "connector-principal")
    assert policy.rate_limit.key == "principal"
    assert policy.quota.quota == QuotaPolicy(10_000, None, 86_400, "connector-subscription-quota")
    assert policy.quota.key == "subscription"
    assert policy.document["ipFilter"] == {"allow": ["10.0.0.0/8", "192.168.1.5"], "forbid": ["10.0.0.7"]}
    assert policy.ip_filter.permits("10.1.2.3")
    assert not policy.ip_filter.permits("10.0.0.7")  # forbid wins
    assert not policy.ip_filter.permits("172.16.0.1")  # not allowed


def test_the_document_round_trips_through_json_storage() -> None:
    policy = parse_policy(FULL)
    assert policy is not None
    stored = json.loads(json.dumps(policy.document))
    again = policy_from_document(stored)
    assert again == policy
    assert parse_policy(stored) == policy  # the canonical form is itself a valid policy


def test_keys_default_to_connection_and_missing_sections_stay_out() -> None:
    policy = parse_policy({"rateLimit": {"calls": 3, "periodSeconds": 60}})
    assert policy is not None
    assert policy.document == {"rateLimit": {"calls": 3, "periodSeconds": 60, "key": "connection"}}
    assert policy.quota is None
    assert not policy.ip_filter.restricts


def test_a_bandwidth_only_quota_and_a_lifetime_quota_are_allowed() -> None:
    policy = parse_policy({"quota": {"bandwidthBytes": 1024, "renewalPeriodSeconds": 0}})
    assert policy is not None and policy.quota is not None
    assert policy.quota.quota == QuotaPolicy(None, 1024, 0, "connector-connection-quota")
    assert policy.document["quota"] == {
        "calls": None,
        "bandwidthBytes": 1024,
        "renewalPeriodSeconds": 0,
        "key": "connection",
    }


@pytest.mark.parametrize("empty", [None, {}, {"ipFilter": {"allow": [], "forbid": []}}, {"ipFilter": None}])
def test_no_policy_is_none(empty: Any) -> None:
    assert parse_policy(empty) is None


def test_every_error_is_reported_with_its_pointer() -> None:
    errors = pointers(
        {
            "ipFilter": {"allow": ["10.0.0.0/8", "not-an-ip", 7], "deny": []},
            "rateLimit": {"calls": 0, "periodSeconds": "60", "key": "tenant"},
            "quota": {"renewalPeriodSeconds": -1},
            "cache": {},
        }
    )
    assert set(errors) == {
        "/policy/ipFilter/allow/1",
        "/policy/ipFilter/allow/2",
        "/policy/ipFilter/deny",
        "/policy/rateLimit/calls",
        "/policy/rateLimit/periodSeconds",
        "/policy/rateLimit/key",
        "/policy/quota",
        "/policy/quota/renewalPeriodSeconds",
        "/policy/cache",
    }
    assert "'not-an-ip'" in errors["/policy/ipFilter/allow/1"]
    assert "connection, principal, subscription" in errors["/policy/rateLimit/key"]
    assert "calls, bandwidthBytes or both" in errors["/policy/quota"]
    assert "unknown field" in errors["/policy/cache"]


@pytest.mark.parametrize(
    ("value", "pointer"),
    [
        ([], "/policy"),
        ("rateLimit=3", "/policy"),
        ({"rateLimit": []}, "/policy/rateLimit"),
        ({"rateLimit": {"calls": True, "periodSeconds": 60}}, "/policy/rateLimit/calls"),
        ({"rateLimit": {"calls": 1.5, "periodSeconds": 60}}, "/policy/rateLimit/calls"),
        ({"rateLimit": {"calls": 5}}, "/policy/rateLimit/periodSeconds"),
        ({"rateLimit": {"calls": 5, "periodSeconds": 86_401}}, "/policy/rateLimit/periodSeconds"),
        ({"quota": {"calls": 5}}, "/policy/quota/renewalPeriodSeconds"),
        ({"quota": {"calls": 5, "renewalPeriodSeconds": 60, "key": None, "extra": 1}}, "/policy/quota/extra"),
        ({"ipFilter": {"allow": "10.0.0.0/8"}}, "/policy/ipFilter/allow"),
        ({"ipFilter": {"forbid": ["10.0.0.9-10.0.0.1"]}}, "/policy/ipFilter/forbid/0"),
        ({"ipFilter": {"allow": ["10.0.0.1"] * (MAX_IP_ENTRIES + 1)}}, "/policy/ipFilter/allow"),
    ],
)
def test_invalid_values_point_at_the_field(value: Any, pointer: str) -> None:
    assert pointer in pointers(value)


def test_the_pointer_prefix_can_be_chosen() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy({"rateLimit": {"calls": 0, "periodSeconds": 1}}, pointer="/connectors/0/policy")
    assert caught.value.errors[0]["pointer"] == "/connectors/0/policy/rateLimit/calls"
    assert "/connectors/0/policy/rateLimit/calls" in str(caught.value)


def test_counter_keys_are_scoped_to_the_connector_and_never_collide_with_the_connection_default() -> None:
    assert counter_key("echo", "connection", "c1", "p1", "s1") == "connector:echo/connection:c1"
    assert counter_key("echo", "principal", "c1", "p1", "s1") == "connector:echo/principal:p1"
    assert counter_key("echo", "subscription", "c1", "p1", "s1") == "connector:echo/subscription:s1"
    # A caller without a subscription key counts as its principal.
    assert counter_key("echo", "subscription", "c1", "p1", None) == "connector:echo/principal:p1"
    assert counter_key("other", "principal", "c1", "p1", None) != counter_key("echo", "principal", "c1", "p1", None)
    assert counter_key("echo", "connection", "c1", "p1", None) != "connection:c1"  # the deployment default's key


def test_the_connector_ip_filter_refuses_without_echoing_its_lists() -> None:
    policy = parse_policy({"ipFilter": {"allow": ["10.0.0.0/8"], "forbid": ["10.0.0.7"]}})
    check_connector_ip(policy, "echo", "10.1.1.1")
    check_connector_ip(None, "echo", None)
    for address in ("10.0.0.7", "127.0.0.1", None):
        with pytest.raises(Problem) as caught:
            check_connector_ip(policy, "echo", address)
        assert caught.value.status == 403
        assert caught.value.slug == "ip-forbidden"
        assert "'echo'" in caught.value.detail
        assert "10.0.0.0/8" not in caught.value.detail
    with pytest.raises(Problem) as caught:
        check_connector_ip(policy, "echo", None)
    assert "couldn't determine" in caught.value.detail


def test_responses_are_sandboxed_unless_the_policy_opts_out() -> None:
    assert policy_from_document({"rateLimit": {"calls": 1, "periodSeconds": 1, "key": "connection"}}).sandbox_responses
    opted_out = parse_policy({"responses": {"sandbox": False}})
    assert opted_out is not None and opted_out.sandbox_responses is False
    assert opted_out.document == {"responses": {"sandbox": False}}
    assert parse_policy({"responses": {"sandbox": True}}) is None  # the default needs no document
    with pytest.raises(PolicyError) as caught:
        parse_policy({"responses": {"sandbox": "no", "other": 1}})
    assert [e["pointer"] for e in caught.value.errors] == ["/policy/responses/other", "/policy/responses/sandbox"]
