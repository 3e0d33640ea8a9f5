"""OAuthConfig: what the protocol layer needs to know of one connector's identity provider. Pure.

Kept in connection records, so it round-trips through JSON (config_to_record / config_from_record).
Never holds a client secret. _config.py builds it from a connector.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class OAuthConfigError(ValueError):
    """The OAuth settings can't be used as they are. The message names the field; it never holds a secret."""


@dataclass(frozen=True)
class OAuthConfig:
    """One connector's OAuth 2.0 client configuration. Not hashable (it holds dicts)."""

    identity_provider: str  # a providers.json name: "oauth2", "oauth2generic", "aad", "github", ...
    protocol: str  # "oauth2" | "oauth2generic" | "aad" (aad goes through msal, unless aad_version is "v1")
    client_id: str
    authorization_url: str  # "" for client_credentials
    token_url: str
    refresh_url: str
    revocation_url: str | None = None
    revocation_style: str = "rfc7009"  # | "github" (DELETE /applications/{id}/grant) | "bearer" (token in header)
    scopes: tuple[str, ...] = ()
    scope_delimiter: str = " "
    authorize_params: dict[str, str] = field(default_factory=dict)  # extra authorization-URL parameters
    token_params: dict[str, str] = field(default_factory=dict)  # extra token-request parameters
    pkce: bool = True
    grant_type: str = "authorization_code"  # | "client_credentials"
    token_auth: str = "client_secret_post"  # noqa: S105 | "client_secret_basic" | "private_key_jwt" (aadcertificate)
    accept_json: bool = False  # send Accept: application/json (GitHub answers form-encoded otherwise)
    backend_host_field: str | None = None  # token-response field naming the backend host (Salesforce)
    backend_host_suffixes: tuple[str, ...] = ()  # the only hosts that field may name: ".salesforce.com", ...
    issues_refresh_tokens: bool = True
    nested_token_field: str | None = None  # object holding the tokens when the top level has none (Slack)
    success_field: str | None = None  # a false value here means failure, whatever the HTTP status (Slack "ok")
    error_aliases: dict[str, str] = field(default_factory=dict)  # provider error code -> RFC 6749 code
    tenant_id: str | None = None  # aad
    resource_uri: str | None = None  # aad
    login_uri: str | None = None  # aad
    aad_version: str | None = None  # aad: "v2" (msal) | "v1" (resource parameter, plain OAuth 2.0)
    oidc_authority: str | None = None  # aad: a non-Microsoft OIDC authority for msal (tests, CIAM)
    templates: dict[str, str] = field(default_factory=dict)  # oauth2generic: authorizationQuery, tokenBody, ...
    template_values: dict[str, str] = field(default_factory=dict)  # oauth2generic: placeholder (lower) -> value
    client_secret_parameter: str | None = None  # the connection parameter with a per-connection client secret

    @property
    def uses_msal(self) -> bool:
        return self.protocol == "aad" and self.aad_version != "v1"

    @property
    def authority(self) -> str | None:
        """aad: the msal authority, {login_uri}/{tenant_id}."""
        if self.protocol != "aad" or not self.login_uri:
            return None
        return f"{self.login_uri.rstrip('/')}/{self.tenant_id or 'common'}"


RECORD_VERSION = 1
CONFIG_FIELDS = {f.name for f in dataclasses.fields(OAuthConfig)}


def config_to_record(config: OAuthConfig) -> dict[str, Any]:
    """A JSON-serialisable dict of the config."""
    record = {"recordVersion": RECORD_VERSION, **dataclasses.asdict(config)}
    record["scopes"] = list(config.scopes)
    record["backend_host_suffixes"] = list(config.backend_host_suffixes)
    return record


def config_from_record(record: Mapping[str, Any]) -> OAuthConfig:
    """The inverse of config_to_record. A malformed record is a server fault: ValueError."""
    if record.get("recordVersion") != RECORD_VERSION:
        raise ValueError(f"unknown OAuth config record version {record.get('recordVersion')!r}")
    values = {k: v for k, v in record.items() if k != "recordVersion"}
    unknown = set(values) - CONFIG_FIELDS
    if unknown:
        raise ValueError(f"malformed OAuth config record: unknown fields {sorted(unknown)}")
    try:
        suffixes = tuple(values.get("backend_host_suffixes") or ())
        return OAuthConfig(**{**values, "scopes": tuple(values.get("scopes") or ()), "backend_host_suffixes": suffixes})
    except TypeError as error:
        raise ValueError(f"malformed OAuth config record: {error}") from None
