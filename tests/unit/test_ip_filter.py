"""Caller IP filter (APIM ip-filter semantics) and the caller address behind trusted proxies."""

from __future__ import annotations

import re

import pytest

from shared.frontdoor import IpFilter, check, client_address, parse_entry
from shared.problems import Problem
from shared.settings import Settings, SettingsError

# --- filter semantics ---


@pytest.mark.parametrize(
    ("allow", "forbid", "address", "permitted"),
    [
        # Empty lists: everyone.
        ((), (), "203.0.113.7", True),
        ((), (), None, True),
        # Allow list: only listed addresses.
        (("203.0.113.7",), (), "203.0.113.7", True),
        (("203.0.113.7",), (), "203.0.113.8", False),
        (("10.0.0.0/8",), (), "10.255.1.2", True),
        (("10.0.0.0/8",), (), "11.0.0.1", False),
        # APIM address-range from-to, inclusive at both ends.
        (("10.0.0.5-10.0.0.20",), (), "10.0.0.5", True),
        (("10.0.0.5-10.0.0.20",), (), "10.0.0.20", True),
        (("10.0.0.5-10.0.0.20",), (), "10.0.0.4", False),
        (("10.0.0.5 - 10.0.0.20",), (), "10.0.0.21", False),
        (("2001:db8::10-2001:db8::1f",), (), "2001:db8::1a", True),
        (("2001:db8::10-2001:db8::1f",), (), "2001:db8::20", False),
        # IPv6 entries and callers.
        (("2001:db8::/32",), (), "2001:db8:1::5", True),
        (("2001:db8::/32",), (), "2001:db9::5", False),
        (("2001:db8::/32",), (), "10.0.0.1", False),  # other family never matches
        # Forbid only: everyone but them.
        ((), ("198.51.100.0/24",), "198.51.100.9", False),
        ((), ("198.51.100.0/24",), "198.51.101.9", True),
        # Forbid wins over allow.
        (("10.0.0.0/8",), ("10.1.0.0/16",), "10.1.2.3", False),
        (("10.0.0.0/8",), ("10.1.0.0/16",), "10.2.2.3", True),
        (("10.0.0.1",), ("10.0.0.1",), "10.0.0.1", False),
        # IPv4-mapped IPv6 compares as IPv4, on either side.
        (("10.0.0.0/8",), (), "::ffff:10.1.2.3", True),
        (("::ffff:10.0.0.1",), (), "10.0.0.1", True),
        (("::ffff:10.0.0.0/104",), (), "10.9.9.9", True),
        ((), ("192.0.2.1",), "::ffff:192.0.2.1", False),
        # Host bits in a CIDR are ignored (10.1.2.3/24 means 10.1.2.0/24).
        (("10.1.2.3/24",), (), "10.1.2.200", True),
        # Unknown or unparseable caller: denied only when an allow list exists.
        (("10.0.0.0/8",), (), None, False),
        (("10.0.0.0/8",), (), "not-an-ip", False),
        ((), ("10.0.0.0/8",), None, True),
    ],
)
def test_filter_decisions(allow, forbid, address, permitted) -> None:
    assert IpFilter(allow, forbid).permits(address) is permitted


@pytest.mark.parametrize(
    "entry",
    ["10.0.0.300", "10.0.0.0/33", "example.com", "10.0.0.9-10.0.0.1", "10.0.0.1-2001:db8::1", "10.0.0.1-", "*"],
)
def test_bad_entries_raise_naming_the_entry(entry: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(repr(entry))):
        IpFilter([entry], [])
    with pytest.raises(ValueError, match="is not an IP address"):
        IpFilter([], ["10.0.0.1", entry])


def test_range_covers_exactly_its_addresses() -> None:
    networks = parse_entry("10.0.0.1-10.0.0.9")
    covered = {str(address) for network in networks for address in network}
    assert covered == {f"10.0.0.{n}" for n in range(1, 10)}


def test_blank_entries_are_ignored_and_an_empty_filter_is_open() -> None:
    assert not IpFilter(["", "  "], []).restricts
    assert IpFilter(["10.0.0.1"], []).restricts
    assert IpFilter([], ["10.0.0.1"]).restricts


def test_combined_filters_must_all_pass() -> None:
    deployment = IpFilter(["10.0.0.0/8"], ["10.9.0.0/16"])
    connector = IpFilter(["10.1.0.0/16", "10.9.0.0/16"], [])
    both = IpFilter.combine(deployment, connector)
    assert both.permits("10.1.2.3")
    assert not both.permits("10.2.2.3")  # deployment allows, connector doesn't
    assert not both.permits("10.9.1.1")  # connector allows, deployment forbids
    assert not both.permits("192.0.2.1")
    assert IpFilter.combine(IpFilter(), IpFilter()) == IpFilter()
    assert not IpFilter.combine(IpFilter(), IpFilter()).restricts
    assert IpFilter.combine(IpFilter(), connector) == connector


def test_filters_compare_by_their_rules() -> None:
    assert IpFilter(["10.0.0.1"], []) == IpFilter([" 10.0.0.1 "], [])
    assert IpFilter(["10.0.0.1"], []) != IpFilter([], ["10.0.0.1"])
    assert hash(IpFilter(["10.0.0.1"], [])) == hash(IpFilter(["10.0.0.1"], []))


# --- check(): the 403 ---


def test_check_passes_permitted_callers() -> None:
    check(IpFilter(["10.0.0.0/8"], []), "10.0.0.1")
    check(IpFilter(), None)


def test_check_refuses_with_the_callers_address_but_not_the_lists() -> None:
    with pytest.raises(Problem) as caught:
        check(IpFilter(["10.0.0.0/8"], ["192.0.2.0/24"]), "192.0.2.7")
    problem = caught.value
    assert (problem.status, problem.slug) == (403, "ip-forbidden")
    assert "192.0.2.7" in problem.detail
    assert "10.0.0.0" not in problem.detail and "192.0.2.0/24" not in problem.detail


def test_check_refuses_unknown_callers_when_an_allow_list_exists() -> None:
    with pytest.raises(Problem) as caught:
        check(IpFilter(["10.0.0.0/8"], []), None)
    assert caught.value.status == 403
    assert "couldn't determine your IP address" in caught.value.detail


def test_check_names_mapped_callers_by_their_ipv4_address() -> None:
    with pytest.raises(Problem) as caught:
        check(IpFilter([], ["192.0.2.7"]), "::ffff:192.0.2.7")
    assert "192.0.2.7 " in caught.value.detail


# --- client_address(): who the caller is behind the trusted proxies ---


@pytest.mark.parametrize(
    ("headers", "hops", "expected"),
    [
        # App Service: its front end appends the address it saw, with the port.
        ({"X-Forwarded-For": "203.0.113.7:51234"}, 1, "203.0.113.7"),
        ({"x-forwarded-for": "203.0.113.7"}, 1, "203.0.113.7"),
        # A caller-supplied (spoofed) X-Forwarded-For ends up on the left and is ignored.
        ({"X-Forwarded-For": "10.0.0.1, 203.0.113.7:51234"}, 1, "203.0.113.7"),
        ({"X-Forwarded-For": "10.0.0.1,10.0.0.2,203.0.113.7"}, 1, "203.0.113.7"),
        # Two trusted proxies (e.g. Front Door, then App Service): the second entry from the right.
        ({"X-Forwarded-For": "10.0.0.1, 203.0.113.7, 147.243.1.1"}, 2, "203.0.113.7"),
        ({"X-Forwarded-For": "203.0.113.7, 147.243.1.1:443"}, 2, "203.0.113.7"),
        # Fewer entries than trusted hops: unknown, never the untrusted leftmost guess.
        ({"X-Forwarded-For": "203.0.113.7"}, 2, None),
        ({}, 1, None),
        ({"X-Forwarded-For": " , "}, 1, None),
        # IPv6, bracketed with a port or bare.
        ({"X-Forwarded-For": "[2001:db8::7]:51234"}, 1, "2001:db8::7"),
        ({"X-Forwarded-For": "[2001:db8::7]"}, 1, "2001:db8::7"),
        ({"X-Forwarded-For": "2001:db8::7"}, 1, "2001:db8::7"),
        ({"X-Forwarded-For": "10.0.0.1, [2001:db8::7]:80"}, 1, "2001:db8::7"),
        # IPv4-mapped IPv6 is reported as IPv4.
        ({"X-Forwarded-For": "[::ffff:203.0.113.7]:443"}, 1, "203.0.113.7"),
        # Garbage where the trusted entry should be: unknown.
        ({"X-Forwarded-For": "10.0.0.1, unknown"}, 1, None),
        ({"X-Forwarded-For": "evil.example"}, 1, None),
    ],
)
def test_client_address_from_x_forwarded_for(headers, hops, expected) -> None:
    assert client_address(headers, hops) == expected


def test_repeated_header_lines_form_one_chain() -> None:
    # Some frameworks keep separate header lines; the chain is their concatenation, in order.
    class Lines(dict):
        def items(self):
            return [("X-Forwarded-For", "10.0.0.1"), ("X-Forwarded-For", "203.0.113.7")]

    assert client_address(Lines(), 1) == "203.0.113.7"
    assert client_address(Lines(), 2) == "10.0.0.1"


def test_zero_hops_means_no_proxy_vouches_for_any_entry_so_the_caller_is_unknown() -> None:
    # The Functions worker never sees the TCP peer; the header alone is whatever the caller wrote.
    assert client_address({"X-Forwarded-For": "10.0.0.1"}, 0) is None
    assert client_address({}, 0) is None


def test_an_ip_filter_without_a_trusted_proxy_is_a_settings_error() -> None:
    base = {"KEY_VAULT_URL": "https://vault.example", "TABLES_CONNECTION_STRING": "UseDevelopmentStorage=true"}
    for name in ("AUTH_IP_ALLOW", "AUTH_IP_FORBID"):
        with pytest.raises(SettingsError, match="AUTH_TRUSTED_PROXY_HOPS"):
            Settings.from_env({**base, name: "10.0.0.0/8", "AUTH_TRUSTED_PROXY_HOPS": "0"})
    assert Settings.from_env({**base, "AUTH_TRUSTED_PROXY_HOPS": "0"}).trusted_proxy_hops == 0
    assert Settings.from_env({**base, "AUTH_IP_ALLOW": "10.0.0.0/8"}).trusted_proxy_hops == 1


def test_negative_hops_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="trusted_hops"):
        client_address({}, -1)


@pytest.mark.parametrize(
    ("value", "hops", "expected"),
    [
        ("for=203.0.113.7", 1, "203.0.113.7"),
        ('for="[2001:db8:cafe::17]:4711"', 1, "2001:db8:cafe::17"),
        ("for=10.0.0.1, for=203.0.113.7;proto=https;by=10.9.9.9", 1, "203.0.113.7"),
        ("For=10.0.0.1;proto=http, FOR=203.0.113.7", 2, "10.0.0.1"),
        ('for="_hidden", for=203.0.113.7', 2, None),  # obfuscated node
        ("for=unknown", 1, None),
        ("proto=https", 1, None),  # an element without for=
        ('for=10.0.0.1;note="a,b", for=203.0.113.7', 2, "10.0.0.1"),  # comma inside quotes
    ],
)
def test_client_address_from_rfc7239_forwarded(value: str, hops: int, expected: str | None) -> None:
    headers = {"Forwarded": value, "X-Forwarded-For": "198.51.100.1"}
    assert client_address(headers, hops, header="forwarded") == expected


def test_forwarded_is_ignored_unless_chosen() -> None:
    # A caller can send Forwarded through App Service untouched; only the chosen header counts.
    headers = {"Forwarded": "for=10.0.0.1", "X-Forwarded-For": "203.0.113.7:5000"}
    assert client_address(headers, 1) == "203.0.113.7"


def test_spoofed_header_cannot_pass_an_allow_list_end_to_end() -> None:
    office = IpFilter(["10.0.0.0/8"], [])
    spoofed = {"X-Forwarded-For": "10.0.0.1, 203.0.113.7:5000"}
    with pytest.raises(Problem):
        check(office, client_address(spoofed, 1))
    check(office, client_address({"X-Forwarded-For": "203.0.113.7, 10.1.1.1:5000"}, 1))
