"""What a token must satisfy beyond its signature, where it is found, and how a rejection is answered.

Pure rules, modelled on Azure API Management's validate-jwt policy: required-claims (match
all/any, separator), the token's location (header-name / query-parameter-name), the
failed-validation status and message. Plus Entra ID's tenant templates. No I/O;
Settings.from_env parses the JSON settings with these functions, so their errors name the setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared import problems
from shared.settings import SettingsError

TENANT_PLACEHOLDER = "{tenantid}"
_TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name characters
_URL_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986: needs no percent-encoding
AUTHORIZATION = "authorization"
FAILED_STATUSES = (401, 403)
MAX_DESCRIPTION_CHARS = 300


class TokenRejected(Exception):
    """The token isn't acceptable. The message is safe to show the caller: it never quotes the token.

    `insufficient`: the token is genuine but lacks what AUTH_REQUIRED_CLAIMS demands (RFC 6750's
    insufficient_scope, as opposed to invalid_token)."""

    def __init__(self, reason: str, *, insufficient: bool = False) -> None:
        super().__init__(reason)
        self.insufficient = insufficient


def _load_json(setting: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{setting} is not valid JSON: {error.msg} at column {error.colno}") from None


def _string_list(value: Any) -> tuple[str, ...] | None:
    """The value as a tuple of non-empty strings; None when it is anything else."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        return None
    return tuple(item.strip() for item in value)


# --- required claims (APIM <required-claims>) ---------------------------------------------------

REQUIRED_CLAIMS_SETTING = "AUTH_REQUIRED_CLAIMS"
_REQUIRED_CLAIM_EXAMPLE = '[{"name": "scp", "match": "any", "separator": " ", "values": ["Invoke"]}]'


def claim_values(value: Any, separator: str | None) -> frozenset[str]:
    """The values of a claim: an array's items, or a string split at `separator`; numbers and
    booleans as their JSON text. Parts are trimmed; empty parts don't count."""
    values: set[str] = set()
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            text = item
        elif isinstance(item, bool | int | float):
            text = json.dumps(item)
        else:
            continue
        parts = text.split(separator) if separator else [text]
        values.update(part.strip() for part in parts if part.strip())
    return frozenset(values)


@dataclass(frozen=True)
class RequiredClaim:
    """The claim must be present; with values, `all` of them or `any` one must be among its values."""

    name: str
    values: tuple[str, ...] = ()
    match: Literal["all", "any"] = "all"
    separator: str | None = None

    def unmet(self, claims: Mapping[str, Any]) -> str | None:
        """Why the token fails this requirement (a sentence for the caller), or None when it passes."""
        if claims.get(self.name) is None:
            return f"The token lacks the required '{self.name}' claim."
        if not self.values:
            return None
        present = claim_values(claims[self.name], self.separator)
        if self.match == "all":
            missing = [value for value in self.values if value not in present]
            if missing:
                return f"The token's '{self.name}' claim must include all of: {', '.join(missing)}."
        elif present.isdisjoint(self.values):
            return f"The token's '{self.name}' claim must include one of: {', '.join(self.values)}."
        return None


def _required_claim(entry: Any, where: str) -> RequiredClaim:
    if not isinstance(entry, dict):
        raise SettingsError(f"{where} must be an object like {_REQUIRED_CLAIM_EXAMPLE[1:-1]}")
    unknown = sorted(set(entry) - {"name", "match", "separator", "values"})
    if unknown:
        raise SettingsError(f"{where} has unknown members {unknown}; allowed: name, match, separator, values")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(f"{where}.name must be a non-empty string (the claim's name)")
    match = entry.get("match", "all")
    if match not in ("all", "any"):
        raise SettingsError(f"{where}.match must be 'all' or 'any', got {match!r}")
    separator = entry.get("separator")
    if separator is not None and (not isinstance(separator, str) or not separator):
        raise SettingsError(f"{where}.separator must be a non-empty string such as ' ' or ','")
    values = _string_list(entry.get("values", []))
    if values is None:
        raise SettingsError(f"{where}.values must be a list of non-empty strings")
    return RequiredClaim(name.strip(), values, match, separator)


def parse_required_claims(raw: str) -> tuple[RequiredClaim, ...]:
    """AUTH_REQUIRED_CLAIMS: a JSON list like `[{"name": "scp", "match": "any", "separator": " ",
    "values": ["Invoke"]}]`; `match` defaults to all, no `values` means presence only."""
    if not raw.strip():
        return ()
    document = _load_json(REQUIRED_CLAIMS_SETTING, raw)
    if not isinstance(document, list):
        raise SettingsError(f"{REQUIRED_CLAIMS_SETTING} must be a JSON list, e.g. {_REQUIRED_CLAIM_EXAMPLE}")
    return tuple(
        _required_claim(entry, f"{REQUIRED_CLAIMS_SETTING}[{position}]") for position, entry in enumerate(document)
    )


# --- Entra ID tenants --------------------------------------------------------------------------

TENANTS_SETTING = "AUTH_ENTRA_TENANTS"


def parse_tenants(raw: str) -> tuple[str, ...]:
    """AUTH_ENTRA_TENANTS: comma-separated tenant IDs (GUIDs), kept lower-case as Entra writes `tid`."""
    tenants = []
    for part in raw.split(","):
        tenant = part.strip().lower()
        if not tenant:
            continue
        if not _TENANT_ID.fullmatch(tenant):
            raise SettingsError(
                f"{TENANTS_SETTING}: {part.strip()!r} is not a tenant ID; give GUIDs such as "
                "'72f988bf-86f1-41af-91ab-2d7cd011db47' (domain names are not accepted)"
            )
        tenants.append(tenant)
    return tuple(dict.fromkeys(tenants))


def check_issuer_template(setting: str, issuer: str) -> None:
    """An issuer may contain `{tenantid}` once (an Entra multi-tenant template) and no other braces."""
    rest = issuer.replace(TENANT_PLACEHOLDER, "", 1)
    if "{" in rest or "}" in rest:
        raise SettingsError(
            f"{setting}: issuer {issuer!r} may contain the placeholder {TENANT_PLACEHOLDER} once and no other braces"
        )


def issuer_for_tenant(template: str, tenant: str) -> str:
    return template.replace(TENANT_PLACEHOLDER, tenant)


def tenant_in_issuer(template: str, issuer: str) -> str | None:
    """The tenant part of `issuer` when it has the template's shape, else None."""
    prefix, found, suffix = template.partition(TENANT_PLACEHOLDER)
    if not found or len(issuer) <= len(prefix) + len(suffix):
        return None
    if not (issuer.startswith(prefix) and issuer.endswith(suffix)):
        return None
    tenant = issuer[len(prefix) : len(issuer) - len(suffix)]
    return None if "/" in tenant else tenant


# --- where the token is (APIM header-name / query-parameter-name) -------------------------------


def bearer_token(authorization: str) -> str | None:
    """The token of a `Bearer` Authorization value (scheme is case-insensitive); None for other schemes."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


@dataclass(frozen=True)
class FoundToken:
    token: str
    consumed_headers: frozenset[str] = frozenset()
    consumed_query: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TokenLocation:
    """The Authorization header needs the Bearer scheme; another header carries the bare token
    (a `Bearer ` prefix is tolerated). A token in the query parameter, when one is configured,
    wins: the caller chose it, and a header then belongs to the backend."""

    header: str = "Authorization"
    query: str = ""

    def find(self, headers: Mapping[str, str], query: Mapping[str, str]) -> FoundToken | None:
        """`headers` with lower-case names. None when no token was sent at all."""
        if self.query and self.query in query:
            return FoundToken(query[self.query].strip(), consumed_query=frozenset({self.query}))
        name = self.header.lower()
        value = headers.get(name)
        if value is None:
            return None
        token = bearer_token(value)
        if token is None:
            if name == AUTHORIZATION:
                return None  # another scheme (Basic, ...): not a gateway credential
            token = value.strip()
        return FoundToken(token, consumed_headers=frozenset({name}))

    def hint(self) -> str:
        where = (
            "a bearer token in the Authorization header"
            if self.header.lower() == AUTHORIZATION
            else f"a token in the '{self.header}' header"
        )
        return where + (f" or the '{self.query}' query parameter" if self.query else "")


def check_token_location(header: str, query: str, key_header: str, key_query: str) -> None:
    if not _HTTP_TOKEN.fullmatch(header):
        raise SettingsError(f"AUTH_TOKEN_HEADER must be an HTTP header name, got {header!r}")
    if header.lower() == key_header.lower():
        raise SettingsError("AUTH_TOKEN_HEADER must differ from AUTH_SUBSCRIPTION_KEY_HEADER")
    if query and not _URL_UNRESERVED.fullmatch(query):
        raise SettingsError(f"AUTH_TOKEN_QUERY must be a plain query parameter name, got {query!r}")
    if query and query == key_query:
        raise SettingsError("AUTH_TOKEN_QUERY must differ from AUTH_SUBSCRIPTION_KEY_QUERY")


# --- the answer to a rejected token (APIM failed-validation-httpcode / -error-message) -----------


def parse_failed_status(raw: str) -> int:
    if raw not in {str(status) for status in FAILED_STATUSES}:
        raise SettingsError(f"AUTH_FAILED_VALIDATION_STATUS must be 401 or 403, got {raw!r}")
    return int(raw)


def challenge_text(text: str) -> str:
    """Text fit for a quoted challenge parameter: RFC 6750 allows printable ASCII except `"` and `\\`."""
    cleaned = "".join(char for char in text.replace('"', "'").replace("\\", "/") if " " <= char <= "~")
    return cleaned[:MAX_DESCRIPTION_CHARS]


def rejection_problem(rejection: TokenRejected, status: int = 401, message: str = "") -> problems.Problem:
    """The configured status (APIM answers every failed validation with it) and an RFC 6750
    challenge: insufficient_scope for a genuine token lacking required claims when the status is
    403, invalid_token otherwise. `message`, when set, replaces the specific reason."""
    detail = message or str(rejection)
    insufficient = status == 403 and rejection.insufficient
    problem = problems.unauthorized(detail, error="insufficient_scope" if insufficient else "invalid_token")
    challenge = f'{problem.headers["WWW-Authenticate"]}, error_description="{challenge_text(detail)}"'
    if status == 401:
        problem.headers["WWW-Authenticate"] = challenge
        return problem
    slug = "insufficient-scope" if insufficient else "token-rejected"
    return problems.Problem(403, slug, "Forbidden", detail, headers={"WWW-Authenticate": challenge})
