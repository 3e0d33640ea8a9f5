"""What a token must satisfy beyond its signature, where it is found, and how a rejection is answered.

Pure rules, modelled on Azure API Management's validate-jwt policy: required-claims (match
all/any, separator), the token's location (header-name / query-parameter-name), the
failed-validation status and message. Plus Entra ID's tenant templates. No I/O;
Settings.from_env parses the JSON settings with these functions, so their errors name the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared import problems
from shared.jwt_settings import (  # noqa: F401  (re-exported: the callers package's names for them)
    _HTTP_TOKEN,
    FAILED_STATUSES,
    REQUIRED_CLAIMS_SETTING,
    TENANT_PLACEHOLDER,
    TENANTS_SETTING,
    RequiredClaim,
    _load_json,
    _string_list,
    check_token_location,
    claim_values,
    parse_failed_status,
    parse_required_claims,
    parse_tenants,
)
from shared.settings import SettingsError

AUTHORIZATION = "authorization"
MAX_DESCRIPTION_CHARS = 300


class TokenRejected(Exception):
    """The token isn't acceptable. The message is safe to show the caller: it never quotes the token.

    `insufficient`: the token is genuine but lacks what AUTH_REQUIRED_CLAIMS demands (RFC 6750's
    insufficient_scope, as opposed to invalid_token)."""

    def __init__(self, reason: str, *, insufficient: bool = False) -> None:
        super().__init__(reason)
        self.insufficient = insufficient


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


# --- the answer to a rejected token (APIM failed-validation-httpcode / -error-message) -----------


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
