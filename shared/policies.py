"""A connector's gateway policy: caller IP filter, rate limit and quota (APIM's ip-filter, rate-limit-by-key
and quota-by-key, set per connector), who sees it, and whether its responses are sandboxed on the
gateway's origin. Pure: parse and validate, describe, decide whom a counter counts.

    {"ipFilter": {"allow": ["10.0.0.0/8"], "forbid": ["10.0.0.7"]},
     "rateLimit": {"calls": 100, "periodSeconds": 60, "key": "connection"},
     "quota": {"calls": 10000, "bandwidthBytes": null, "renewalPeriodSeconds": 86400, "key": "principal"},
     "responses": {"sandbox": false},
     "operations": {"passThrough": true}}

Every section is optional. `key` says whom a limit counts: each `connection` (the default), each calling
`principal`, or each `subscription` (a caller without a subscription key counts as its principal).
Counters belong to the connector: a per-principal limit counts that principal's calls to this
connector's connections only. A quota's `renewalPeriodSeconds` 0 never renews (a lifetime quota);
`bandwidthBytes` counts request and response bodies. `operations.passThrough` opts into forwarding paths
the swagger doesn't declare (by default only declared operations are callable, as in Power Platform and APIM).

`parse_policy` turns the JSON a maker sends into a `ConnectorPolicy` and its canonical `document`
(defaults filled in), which is what is stored, shown and copied into connection snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from shared.frontdoor import IpFilter, parse_entry
from shared.limits import LimitPolicy, QuotaPolicy
from shared.problems import Problem

LimitKey = Literal["connection", "principal", "subscription"]
LIMIT_KEYS: tuple[LimitKey, ...] = get_args(LimitKey)
DEFAULT_LIMIT_KEY: LimitKey = "connection"
MAX_IP_ENTRIES = 100  # per list; keeps the policy (and so connection snapshots) small
MAX_CALLS = 1_000_000_000
MAX_RATE_PERIOD_SECONDS = 86_400  # longer windows are quotas
MAX_RENEWAL_PERIOD_SECONDS = 366 * 86_400
MAX_BANDWIDTH_BYTES = 2**62

_SECTIONS = ("ipFilter", "rateLimit", "quota", "visibility", "responses", "operations")
_RESPONSE_FIELDS = ("sandbox",)
_OPERATION_FIELDS = ("passThrough",)
_VISIBILITY_FIELDS = ("audience", "principals", "groups")
AUDIENCES = ("everyone", "makers", "listed")  # who sees the connector (and may connect to it); makers always do
MAX_LISTED = 100
_IP_LISTS = ("allow", "forbid")
_RATE_FIELDS = ("calls", "periodSeconds", "key")
_QUOTA_FIELDS = ("calls", "bandwidthBytes", "renewalPeriodSeconds", "key")


class PolicyError(ValueError):
    """An unusable policy. `errors` are RFC 9457 `errors` members: a JSON pointer and what is wrong there."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['pointer']}: {e['detail']}" for e in errors))


@dataclass(frozen=True)
class RateLimitRule:
    limit: LimitPolicy
    key: LimitKey


@dataclass(frozen=True)
class QuotaRule:
    quota: QuotaPolicy
    key: LimitKey


@dataclass(frozen=True)
class ConnectorPolicy:
    ip_filter: IpFilter
    rate_limit: RateLimitRule | None
    quota: QuotaRule | None
    document: dict[str, Any]  # canonical JSON: stored, shown, and copied into connection snapshots
    # False: backend responses go to callers without the CSP sandbox and nosniff (shared/proxy/_origin.py).
    sandbox_responses: bool = True
    # True: a path the swagger doesn't declare is forwarded too (no operation, only unscoped templates).
    pass_through: bool = False

    def visible_to(self, principal_id: str, groups: frozenset[str], is_maker: bool) -> bool:
        """Whether a principal sees the connector and may create connections to it."""
        visibility = self.document.get("visibility") or {"audience": "everyone"}
        if is_maker or visibility["audience"] == "everyone":
            return True
        if visibility["audience"] == "makers":
            return False
        return principal_id in visibility.get("principals", []) or bool(groups & set(visibility.get("groups", [])))


class _Errors:
    """Collects every problem of a document, so one 400 lists them all."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, pointer: str, detail: str) -> None:
        self.items.append({"pointer": pointer, "detail": detail})


def _object(value: Any, pointer: str, known: tuple[str, ...], errors: _Errors) -> Mapping[str, Any] | None:
    if not isinstance(value, dict):
        errors.add(pointer, f"must be a JSON object with {', '.join(known)}")
        return None
    for name in value:
        if name not in known:
            errors.add(f"{pointer}/{name}", f"unknown field; use {', '.join(known)}")
    return value


def _whole_number(
    value: Any, pointer: str, errors: _Errors, minimum: int, maximum: int, *, optional: bool = False
) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        errors.add(pointer, f"must be a whole number from {minimum} to {maximum}")
        return None
    return value


def _limit_key(value: Any, pointer: str, errors: _Errors) -> LimitKey:
    if value is None:
        return DEFAULT_LIMIT_KEY
    if value not in LIMIT_KEYS:
        errors.add(pointer, f"must be one of {', '.join(LIMIT_KEYS)}")
        return DEFAULT_LIMIT_KEY
    return value  # type: ignore[no-any-return]  # one of LIMIT_KEYS


def _ip_filter(value: Any, pointer: str, errors: _Errors) -> dict[str, list[str]] | None:
    section = _object(value, pointer, _IP_LISTS, errors)
    if section is None:
        return None
    lists: dict[str, list[str]] = {}
    for name in _IP_LISTS:
        entries = section.get(name, [])
        if not isinstance(entries, list) or len(entries) > MAX_IP_ENTRIES:
            errors.add(f"{pointer}/{name}", f"must be a list of at most {MAX_IP_ENTRIES} addresses or ranges")
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, str):
                errors.add(f"{pointer}/{name}/{index}", "must be an IP address, CIDR range or from-to range")
                continue
            try:
                parse_entry(entry)
            except ValueError as error:
                errors.add(f"{pointer}/{name}/{index}", str(error))
        lists[name] = [entry.strip() for entry in entries if isinstance(entry, str)]
    return lists


def _rate_limit(value: Any, pointer: str, errors: _Errors) -> dict[str, Any] | None:
    section = _object(value, pointer, _RATE_FIELDS, errors)
    if section is None:
        return None
    return {
        "calls": _whole_number(section.get("calls"), f"{pointer}/calls", errors, 1, MAX_CALLS),
        "periodSeconds": _whole_number(
            section.get("periodSeconds"), f"{pointer}/periodSeconds", errors, 1, MAX_RATE_PERIOD_SECONDS
        ),
        "key": _limit_key(section.get("key"), f"{pointer}/key", errors),
    }


def _quota(value: Any, pointer: str, errors: _Errors) -> dict[str, Any] | None:
    section = _object(value, pointer, _QUOTA_FIELDS, errors)
    if section is None:
        return None
    calls = _whole_number(section.get("calls"), f"{pointer}/calls", errors, 1, MAX_CALLS, optional=True)
    bandwidth = _whole_number(
        section.get("bandwidthBytes"), f"{pointer}/bandwidthBytes", errors, 1, MAX_BANDWIDTH_BYTES, optional=True
    )
    if section.get("calls") is None and section.get("bandwidthBytes") is None:
        errors.add(pointer, "a quota needs calls, bandwidthBytes or both")
    return {
        "calls": calls,
        "bandwidthBytes": bandwidth,
        "renewalPeriodSeconds": _whole_number(
            section.get("renewalPeriodSeconds"),
            f"{pointer}/renewalPeriodSeconds",
            errors,
            0,
            MAX_RENEWAL_PERIOD_SECONDS,
        ),
        "key": _limit_key(section.get("key"), f"{pointer}/key", errors),
    }


def _visibility(value: Any, pointer: str, errors: _Errors) -> dict[str, Any] | None:
    section = _object(value, pointer, _VISIBILITY_FIELDS, errors)
    if section is None:
        return None
    audience = section.get("audience", "everyone")
    if audience not in AUDIENCES:
        errors.add(f"{pointer}/audience", f"must be one of {', '.join(AUDIENCES)}")
    lists: dict[str, Any] = {"audience": audience}
    for name in ("principals", "groups"):
        entries = section.get(name, [])
        if (
            not isinstance(entries, list)
            or len(entries) > MAX_LISTED
            or not all(isinstance(e, str) and e.strip() for e in entries)
        ):
            errors.add(f"{pointer}/{name}", f"must be a list of at most {MAX_LISTED} non-empty ids")
            continue
        if entries and audience != "listed":
            errors.add(f"{pointer}/{name}", "only applies when audience is 'listed'")
        lists[name] = [e.strip() for e in entries]
    return lists


def _responses(value: Any, pointer: str, errors: _Errors) -> dict[str, Any] | None:
    section = _object(value, pointer, _RESPONSE_FIELDS, errors)
    if section is None:
        return None
    sandbox = section.get("sandbox", True)
    if not isinstance(sandbox, bool):
        errors.add(f"{pointer}/sandbox", "must be true or false")
        return None
    return {"sandbox": sandbox}


def _operations(value: Any, pointer: str, errors: _Errors) -> dict[str, Any] | None:
    section = _object(value, pointer, _OPERATION_FIELDS, errors)
    if section is None:
        return None
    pass_through = section.get("passThrough", False)
    if not isinstance(pass_through, bool):
        errors.add(f"{pointer}/passThrough", "must be true or false")
        return None
    return {"passThrough": pass_through}


def parse_policy(value: Any, pointer: str = "/policy") -> ConnectorPolicy | None:
    """The policy in `value` (None for null or {}: no policy). PolicyError lists every problem by JSON pointer."""
    if value is None:
        return None
    errors = _Errors()
    section = _object(value, pointer, _SECTIONS, errors)
    if section is None:
        raise PolicyError(errors.items)
    document: dict[str, Any] = {}
    if section.get("ipFilter") is not None:
        ip_lists = _ip_filter(section["ipFilter"], f"{pointer}/ipFilter", errors)
        if ip_lists is not None and (ip_lists.get("allow") or ip_lists.get("forbid")):
            document["ipFilter"] = ip_lists
    if section.get("rateLimit") is not None:
        document["rateLimit"] = _rate_limit(section["rateLimit"], f"{pointer}/rateLimit", errors)
    if section.get("quota") is not None:
        document["quota"] = _quota(section["quota"], f"{pointer}/quota", errors)
    if section.get("visibility") is not None:
        visibility = _visibility(section["visibility"], f"{pointer}/visibility", errors)
        if visibility is not None and visibility["audience"] != "everyone":
            document["visibility"] = visibility
    if section.get("responses") is not None:
        responses = _responses(section["responses"], f"{pointer}/responses", errors)
        if responses is not None and not responses["sandbox"]:
            document["responses"] = responses  # the default (sandboxed) needs no entry
    if section.get("operations") is not None:
        operations = _operations(section["operations"], f"{pointer}/operations", errors)
        if operations is not None and operations["passThrough"]:
            document["operations"] = operations  # the default (declared operations only) needs no entry
    if errors.items:
        raise PolicyError(errors.items)
    return policy_from_document(document) if document else None


def policy_from_document(document: Mapping[str, Any] | None) -> ConnectorPolicy | None:
    """The policy of a canonical document as `parse_policy` made it (from storage or a snapshot); no checks."""
    if not document:
        return None
    ip_lists = document.get("ipFilter") or {}
    rate = document.get("rateLimit")
    quota = document.get("quota")
    return ConnectorPolicy(
        ip_filter=IpFilter(ip_lists.get("allow", ()), ip_lists.get("forbid", ())),
        rate_limit=None
        if rate is None
        else RateLimitRule(LimitPolicy(rate["calls"], rate["periodSeconds"], f"connector-{rate['key']}"), rate["key"]),
        quota=None
        if quota is None
        else QuotaRule(
            QuotaPolicy(
                quota["calls"],
                quota["bandwidthBytes"],
                quota["renewalPeriodSeconds"],
                f"connector-{quota['key']}-quota",
            ),
            quota["key"],
        ),
        document=dict(document),
        sandbox_responses=(document.get("responses") or {}).get("sandbox", True),
        pass_through=(document.get("operations") or {}).get("passThrough", False),
    )


def counter_key(
    connector_id: str, key: LimitKey, connection_id: str, principal_id: str, subscription_id: str | None
) -> str:
    """The limits-table key a connector's limit counts under: scoped to the connector, then whom it counts."""
    if key == "connection":
        subject = f"connection:{connection_id}"
    elif key == "subscription" and subscription_id:
        subject = f"subscription:{subscription_id}"
    else:  # principal, or subscription for a caller without a subscription key
        subject = f"principal:{principal_id}"
    return f"connector:{connector_id}/{subject}"


def check_connector_ip(policy: ConnectorPolicy | None, connector_id: str, client_ip: str | None) -> None:
    """Raises 403 `ip-forbidden` unless the connector's IP filter admits the caller. Its lists are never echoed."""
    if policy is None or policy.ip_filter.permits(client_ip):
        return
    if client_ip is None:
        detail = (
            f"Connector {connector_id!r} admits only listed IP addresses, and the gateway couldn't determine yours."
        )
    else:
        detail = f"Connector {connector_id!r} doesn't accept calls from your IP address {client_ip}. Ask its maker."
    raise Problem(403, "ip-forbidden", "Forbidden", detail)
