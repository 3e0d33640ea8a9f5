"""Gateway settings: every environment variable the gateway reads, in one table.

`SETTINGS` is the single list of names. The README's settings table and the Bicep
app settings are checked against it by tests, so a setting can't be added in one
place and forgotten in another.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.frontdoor import (
    CLIENT_CERTIFICATE_MODES,
    CertificatePolicy,
    ClientCertificateMode,
    IpFilter,
    parse_entry,
    parse_identities,
)
from shared.jwt_settings import (
    RequiredClaim,
    check_token_location,
    parse_failed_status,
    parse_required_claims,
    parse_signing_keys,
    parse_tenants,
)
from shared.proxy._addresses import AddressPolicy, check_private_networks
from shared.setting_errors import SettingsError as SettingsError  # re-exported: its home for callers


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    description: str
    local_only: bool = False  # for the dev stack only; never set in Azure


SETTINGS: tuple[Setting, ...] = (
    Setting("GATEWAY_PORT", "7071", "Port of the local dev host (`make run`).", local_only=True),
    Setting(
        "GATEWAY_PUBLIC_URL",
        "http://localhost:7071",
        "Public base URL of the gateway; OAuth redirect URLs are built from it.",
    ),
    Setting("KEY_VAULT_URL", None, "Key Vault URL, e.g. `https://my-vault.vault.azure.net/`. Required."),
    Setting(
        "KEY_VAULT_EMULATOR",
        "false",
        "Local only: `true` sends a fixed dev token instead of an Entra token (the emulator accepts it;"
        " a real vault refuses it).",
        local_only=True,
    ),
    Setting(
        "KEY_VAULT_CA_BUNDLE",
        None,
        "Local only: PEM file of the CA to trust for `KEY_VAULT_URL`.",
        local_only=True,
    ),
    Setting(
        "TABLES_ENDPOINT",
        None,
        "Table Storage endpoint, e.g. `https://acct.table.core.windows.net`; used with the managed identity.",
    ),
    Setting(
        "TABLES_CONNECTION_STRING",
        None,
        "Table Storage connection string (Azurite locally). Takes precedence over `TABLES_ENDPOINT`.",
        local_only=True,
    ),
    Setting("TABLES_PREFIX", "gw", "Prefix of the gateway's table names (letters and digits)."),
    Setting("AUTH_OIDC_ISSUERS", "", "Comma-separated trusted OIDC issuers (https; http only on loopback)."),
    Setting("AUTH_OIDC_AUDIENCES", "", "Comma-separated accepted `aud` values."),
    Setting("AUTH_MAKER_ROLE", "Connectors.Manage", "Role (JWT `roles` claim or key role) that makes a maker."),
    Setting(
        "AUTH_ADMIN_ROLE",
        "Connectors.Admin",
        "Role (JWT `roles` claim or key role) of the deployment's admins: mint keys for other principals,"
        " see every subscription, manage every connector.",
    ),
    Setting("AUTH_CLOCK_SKEW_SECONDS", "60", "Clock skew allowed on `exp` and `nbf`."),
    Setting("AUTH_SUBSCRIPTION_KEY_HEADER", "Ocp-Apim-Subscription-Key", "Header carrying a subscription key."),
    Setting("AUTH_SUBSCRIPTION_KEY_QUERY", "subscription-key", "Query parameter carrying a subscription key."),
    Setting(
        "AUTH_OIDC_STATIC_ISSUERS",
        "",
        "Comma-separated trusted issuers without discovery, verified with `AUTH_OIDC_SIGNING_KEYS` (never contacted).",
    ),
    Setting(
        "AUTH_OIDC_SIGNING_KEYS",
        "",
        "Public keys of `AUTH_OIDC_STATIC_ISSUERS`: a JWKS JSON document, or PEM public keys / X.509 certificates"
        " (`\\n` may stand for newlines). A key without `kid` is tried for every token.",
    ),
    Setting(
        "AUTH_ENTRA_TENANTS",
        "",
        "Comma-separated tenant IDs (GUIDs) accepted by issuers containing `{tenantid}`, e.g."
        " `https://login.microsoftonline.com/{tenantid}/v2.0`: the token's `tid` must be listed and its `iss` must be"
        " the issuer with that tenant. Each tenant's own metadata is discovered.",
    ),
    Setting(
        "AUTH_REQUIRE_EXPIRATION",
        "true",
        "`false` accepts tokens without `exp` (an `exp` present is still checked).",
    ),
    Setting(
        "AUTH_REQUIRED_CLAIMS",
        "",
        "JSON list of claims every token must carry (APIM required-claims), e.g."
        ' `[{"name": "scp", "match": "any", "separator": " ", "values": ["Invoke"]}]`;'
        " `match` is `all` (default) or `any`; without `values` the claim must just be present.",
    ),
    Setting(
        "AUTH_TOKEN_HEADER",
        "Authorization",
        "Header carrying the JWT: `Authorization` with the `Bearer` scheme, or another header with the bare token.",
    ),
    Setting(
        "AUTH_TOKEN_QUERY",
        "",
        "Query parameter that may carry the JWT instead (it wins, and is stripped before proxying)."
        " Empty: not accepted.",
    ),
    Setting(
        "AUTH_FAILED_VALIDATION_STATUS",
        "401",
        "Status for a rejected token, `401` or `403`"
        " (`403` answers missing required claims with `insufficient_scope`).",
    ),
    Setting(
        "AUTH_FAILED_VALIDATION_MESSAGE",
        "",
        "Message for a rejected token instead of the specific reason (which is still logged).",
    ),
    Setting("PROXY_CONNECT_TIMEOUT_SECONDS", "10", "Connect timeout to backends."),
    Setting(
        "PROXY_READ_TIMEOUT_SECONDS",
        "100",
        "Longest wait for the backend to send anything (each read); past it the caller gets 504.",
    ),
    Setting(
        "PROXY_TOTAL_TIMEOUT",
        "100",
        "Seconds one backend call may take in all, connect to last body byte (well inside Azure's 230 s);"
        " past it the caller gets 504.",
    ),
    Setting("PROXY_MAX_BODY_BYTES", "33554432", "Largest request body forwarded; larger gets 413."),
    Setting(
        "PROXY_MAX_RESPONSE_BYTES",
        "104857600",
        "Largest backend response body passed back; past it the call is cut off and the caller gets 502.",
    ),
    Setting(
        "PROXY_ALLOWED_NETWORKS",
        "",
        "Comma-separated CIDRs: the private networks (RFC 1918, 100.64.0.0/10, fc00::/7) backends and identity"
        " providers may be in, e.g. `10.20.0.0/16`; empty allows every private range, `none` none of them."
        " Public addresses are always allowed; link-local and cloud-metadata addresses never.",
    ),
    Setting(
        "PROXY_ALLOW_LOOPBACK",
        "false",
        "Local only: `true` lets connectors call loopback addresses (127.0.0.0/8, ::1, 0.0.0.0/8), and over plain"
        " http even with a credential; off, a loopback backend is refused at upload. `make run` and the tests set it.",
        local_only=True,
    ),
    Setting("OAUTH_REFRESH_MARGIN_SECONDS", "300", "Refresh an OAuth access token when it expires within this time."),
    Setting(
        "OAUTH_REFRESH_BACKOFF_SECONDS",
        "60",
        "After a transient refresh failure, at most one attempt per connection in this window.",
    ),
    Setting(
        "OAUTH_POST_LOGIN_REDIRECTS",
        "",
        "Comma-separated URL prefixes a connection's `postLoginRedirectUrl` may start with (https, or loopback http).",
    ),
    Setting("SECRET_CACHE_SIZE", "1024", "Connection secrets kept in memory, keyed by name and version."),
    Setting("STORE_RETRIES", "3", "Retries of one Table Storage or Key Vault call (throttling, 5xx, timeouts)."),
    Setting(
        "STORE_ATTEMPT_TIMEOUT_SECONDS",
        "10",
        "Read timeout of one attempt at a Table Storage or Key Vault call (connect: half of it, at most 5 s).",
    ),
    Setting(
        "STORE_DEADLINE_SECONDS",
        "30",
        "No retry of a Table Storage or Key Vault call starts, or waits, past this; then the caller gets 503."
        " A `Retry-After` is obeyed up to 5 s.",
    ),
    Setting("LOG_LEVEL", "INFO", "Log level of the gateway's own loggers."),
    Setting(
        "AUTH_IP_ALLOW",
        "",
        "Comma-separated caller IPs, CIDRs or `from-to` ranges that may call; empty allows everyone not forbidden.",
    ),
    Setting("AUTH_IP_FORBID", "", "Comma-separated caller IPs, CIDRs or `from-to` ranges refused; wins over allow."),
    Setting(
        "AUTH_TRUSTED_PROXY_HOPS",
        "1",
        "Proxies in front of the gateway that append to `X-Forwarded-For` (App Service's front end: 1, plus one per"
        " proxy in front of it). The Functions worker never sees the TCP peer, so 0 means the caller's address is"
        " unknown: `AUTH_IP_ALLOW`/`AUTH_IP_FORBID` are then refused, and connector IP allow lists refuse everyone.",
    ),
    Setting(
        "AUTH_CLIENT_CERT_MODE",
        "off",
        "`off`, `optional` or `required`: TLS client certificates App Service forwards in `X-ARR-ClientCert`.",
    ),
    Setting("AUTH_CLIENT_CERT_CA", "", "CAs trusted to issue client certificates: inline PEM or a PEM file path."),
    Setting(
        "AUTH_CLIENT_CERT_IDENTITIES",
        "",
        "JSON list of allowed certificate identities (APIM `identity` attributes, e.g. `thumbprint`, `subject`);"
        " empty allows any trusted certificate. A certificate an identity pins by `thumbprint` may also call"
        " without a token or key, as principal `cert|<THUMBPRINT>` without roles.",
    ),
    Setting(
        "LIMIT_CONNECTION_CALLS_PER_MINUTE",
        "500",
        "Calls per minute per connection, counted across instances (Power Platform's default); 0 turns it off.",
    ),
    Setting(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "",
        "Application Insights connection string: spans of backend and store calls, metrics and logs are exported"
        " there through OpenTelemetry (`azure-monitor-opentelemetry`). Empty: nothing is exported, and"
        " OpenTelemetry isn't loaded.",
    ),
    Setting(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "",
        "`Authorization=AAD` (with `ClientId=<managed identity client id>`): ingest telemetry with the managed"
        " identity, as a component with local authentication off requires.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _number(kind: Callable[[str], Any], minimum: float) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
        return value

    return parse


def _bool(name: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no", ""):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _networks(name: str, raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in _csv(raw))
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def _allowed_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    """None: every private range. `none`: no private range."""
    if not raw:
        return None
    if raw.lower() == "none":
        return ()
    networks = _networks("PROXY_ALLOWED_NETWORKS", raw)
    try:
        check_private_networks(networks)
    except ValueError as error:
        raise SettingsError(f"PROXY_ALLOWED_NETWORKS: {error}") from None
    return networks


def _redirect_prefixes(raw: str) -> tuple[str, ...]:
    prefixes = _csv(raw)
    for prefix in prefixes:
        parts = urlsplit(prefix)
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if not parts.netloc or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
            raise SettingsError(f"OAUTH_POST_LOGIN_REDIRECTS: {prefix!r} must be an https URL (http only on loopback)")
    return prefixes


def _ip_entries(name: str, raw: str) -> tuple[str, ...]:
    entries = _csv(raw)
    for entry in entries:
        try:
            parse_entry(entry)
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None
    return entries


def _pem_setting(name: str, raw: str) -> str:
    """Inline PEM (real or escaped newlines) or the path of a PEM file."""
    if raw.startswith("-----BEGIN"):
        return raw.replace("\\n", "\n")
    if not raw:
        return ""
    try:
        with open(raw, encoding="ascii") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{name}: can't read the PEM file {raw!r} ({error})") from None


def _client_certificates(
    mode_raw: str, ca_raw: str, identities_raw: str
) -> tuple[ClientCertificateMode, CertificatePolicy | None]:
    mode = mode_raw.lower()
    if mode not in CLIENT_CERTIFICATE_MODES:
        raise SettingsError(f"AUTH_CLIENT_CERT_MODE must be off, optional or required, got {mode_raw!r}")
    if mode == "off":
        return "off", None
    try:
        identities = parse_identities(identities_raw)
    except ValueError as error:
        raise SettingsError(f"AUTH_CLIENT_CERT_IDENTITIES: {error}") from None
    ca = _pem_setting("AUTH_CLIENT_CERT_CA", ca_raw)
    if not ca and not (identities and all(identity.thumbprint for identity in identities)):
        raise SettingsError(
            f"AUTH_CLIENT_CERT_MODE={mode} needs AUTH_CLIENT_CERT_CA, or AUTH_CLIENT_CERT_IDENTITIES"
            " that each pin a thumbprint (without a trusted CA anyone can make a certificate with any name)"
        )
    try:
        policy = CertificatePolicy(ca, validate_trust=bool(ca), identities=identities)
    except ValueError as error:
        raise SettingsError(f"AUTH_CLIENT_CERT_CA: {error}") from None
    return mode, policy  # type: ignore[return-value]  # checked against CLIENT_CERTIFICATE_MODES


def _entra_ingestion(raw: str) -> bool:
    """APPLICATIONINSIGHTS_AUTHENTICATION_STRING as the Functions host reads it: `Authorization=AAD;ClientId=...`."""
    fields = dict(part.split("=", 1) for part in raw.split(";") if "=" in part)
    lowered = {name.strip().lower(): value.strip() for name, value in fields.items()}
    return lowered.get("authorization", "").upper() == "AAD"


@dataclass(frozen=True)
class Settings:
    port: int
    public_url: str
    key_vault_url: str
    key_vault_emulator: bool
    key_vault_ca_bundle: str | None
    tables_endpoint: str | None
    tables_connection_string: str | None
    tables_prefix: str
    oidc_issuers: tuple[str, ...]
    oidc_audiences: tuple[str, ...]
    maker_role: str
    admin_role: str
    clock_skew_seconds: int
    subscription_key_header: str
    subscription_key_query: str
    proxy_connect_timeout: float
    proxy_read_timeout: float
    proxy_max_body_bytes: int
    oauth_refresh_margin_seconds: int
    oauth_refresh_backoff_seconds: int
    oauth_post_login_redirects: tuple[str, ...]
    secret_cache_size: int
    log_level: str
    ip_filter: IpFilter
    trusted_proxy_hops: int
    client_cert_mode: ClientCertificateMode
    client_cert_policy: CertificatePolicy | None  # None when the mode is off
    limit_connection_calls_per_minute: int  # 0: no limit
    # JWT validation beyond issuers and audiences (shared/callers/_jwt_policy.py and _jwt_keys.py).
    oidc_static_issuers: tuple[str, ...] = ()
    oidc_signing_keys: tuple[str, ...] = ()  # public JWKs as JSON texts
    entra_tenants: tuple[str, ...] = ()  # lower-case GUIDs
    require_expiration: bool = True
    required_claims: tuple[RequiredClaim, ...] = ()
    token_header: str = "Authorization"  # noqa: S105 - a header name, not a secret
    token_query: str = ""  # empty: tokens in the query are not accepted
    failed_validation_status: int = 401
    failed_validation_message: str = ""  # empty: the specific reason
    # Table Storage and Key Vault calls (shared/stores/clients.py StorePolicy).
    store_retries: int = 3
    store_attempt_timeout: float = 10.0
    store_deadline: float = 30.0
    # Backend calls (shared/proxy): which addresses, how long in all, how large an answer.
    proxy_address_policy: AddressPolicy = field(default_factory=AddressPolicy)
    proxy_total_timeout: float = 100.0
    proxy_max_response_bytes: int = 104_857_600
    applicationinsights_connection_string: str = ""  # empty: no telemetry export
    applicationinsights_entra: bool = False  # ingest with the managed identity (Authorization=AAD)

    def redirect_allowed(self, url: str) -> bool:
        """A post-login redirect must start with an allowlisted prefix that ends at a path boundary, and be visible
        ASCII without a backslash: the callback writes it into a Location header (a CR/LF would split it), and
        browsers drop tabs and newlines from URLs and read a backslash as a slash."""
        if not all("!" <= char <= "~" and char != "\\" for char in url):
            return False
        return any(
            url == prefix or url.startswith(prefix if prefix.endswith("/") else prefix + "/")
            for prefix in self.oauth_post_login_redirects
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def raw(name: str) -> str:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else (_BY_NAME[name].default or "")

        key_vault_url = raw("KEY_VAULT_URL")
        if not key_vault_url:
            raise SettingsError("KEY_VAULT_URL is required")
        if not (raw("TABLES_CONNECTION_STRING") or raw("TABLES_ENDPOINT")):
            raise SettingsError("TABLES_CONNECTION_STRING or TABLES_ENDPOINT is required")
        prefix = raw("TABLES_PREFIX")
        if not (prefix.isascii() and prefix.isalnum() and prefix[0].isalpha() and len(prefix) <= 20):
            raise SettingsError("TABLES_PREFIX must be 1-20 letters and digits, starting with a letter")
        check_token_location(
            raw("AUTH_TOKEN_HEADER"),
            raw("AUTH_TOKEN_QUERY"),
            raw("AUTH_SUBSCRIPTION_KEY_HEADER"),
            raw("AUTH_SUBSCRIPTION_KEY_QUERY"),
        )
        client_cert_mode, client_cert_policy = _client_certificates(
            raw("AUTH_CLIENT_CERT_MODE"), raw("AUTH_CLIENT_CERT_CA"), raw("AUTH_CLIENT_CERT_IDENTITIES")
        )
        ip_filter = IpFilter(
            _ip_entries("AUTH_IP_ALLOW", raw("AUTH_IP_ALLOW")), _ip_entries("AUTH_IP_FORBID", raw("AUTH_IP_FORBID"))
        )
        trusted_proxy_hops = _number(int, 0)("AUTH_TRUSTED_PROXY_HOPS", raw("AUTH_TRUSTED_PROXY_HOPS"))
        if trusted_proxy_hops == 0 and ip_filter.restricts:
            # The Functions worker never sees the TCP peer: without a trusted proxy no address is known,
            # so an allow list would refuse everyone and a forbid list would never match.
            raise SettingsError(
                "AUTH_IP_ALLOW and AUTH_IP_FORBID need AUTH_TRUSTED_PROXY_HOPS of 1 or more: with 0 the caller's"
                " address is unknown"
            )
        return cls(
            port=_number(int, 1)("GATEWAY_PORT", raw("GATEWAY_PORT")),
            public_url=raw("GATEWAY_PUBLIC_URL").rstrip("/"),
            key_vault_url=key_vault_url,
            key_vault_emulator=_bool("KEY_VAULT_EMULATOR", raw("KEY_VAULT_EMULATOR")),
            key_vault_ca_bundle=raw("KEY_VAULT_CA_BUNDLE") or None,
            tables_endpoint=raw("TABLES_ENDPOINT") or None,
            tables_connection_string=raw("TABLES_CONNECTION_STRING") or None,
            tables_prefix=prefix,
            oidc_issuers=_csv(raw("AUTH_OIDC_ISSUERS")),
            oidc_audiences=_csv(raw("AUTH_OIDC_AUDIENCES")),
            maker_role=raw("AUTH_MAKER_ROLE"),
            admin_role=raw("AUTH_ADMIN_ROLE"),
            clock_skew_seconds=_number(int, 0)("AUTH_CLOCK_SKEW_SECONDS", raw("AUTH_CLOCK_SKEW_SECONDS")),
            subscription_key_header=raw("AUTH_SUBSCRIPTION_KEY_HEADER"),
            subscription_key_query=raw("AUTH_SUBSCRIPTION_KEY_QUERY"),
            proxy_connect_timeout=_number(float, 0.001)(
                "PROXY_CONNECT_TIMEOUT_SECONDS", raw("PROXY_CONNECT_TIMEOUT_SECONDS")
            ),
            proxy_read_timeout=_number(float, 0.001)("PROXY_READ_TIMEOUT_SECONDS", raw("PROXY_READ_TIMEOUT_SECONDS")),
            proxy_max_body_bytes=_number(int, 0)("PROXY_MAX_BODY_BYTES", raw("PROXY_MAX_BODY_BYTES")),
            oauth_refresh_margin_seconds=_number(int, 0)(
                "OAUTH_REFRESH_MARGIN_SECONDS", raw("OAUTH_REFRESH_MARGIN_SECONDS")
            ),
            oauth_refresh_backoff_seconds=_number(int, 1)(
                "OAUTH_REFRESH_BACKOFF_SECONDS", raw("OAUTH_REFRESH_BACKOFF_SECONDS")
            ),
            oauth_post_login_redirects=_redirect_prefixes(raw("OAUTH_POST_LOGIN_REDIRECTS")),
            secret_cache_size=_number(int, 0)("SECRET_CACHE_SIZE", raw("SECRET_CACHE_SIZE")),
            store_retries=_number(int, 0)("STORE_RETRIES", raw("STORE_RETRIES")),
            store_attempt_timeout=_number(float, 0.1)(
                "STORE_ATTEMPT_TIMEOUT_SECONDS", raw("STORE_ATTEMPT_TIMEOUT_SECONDS")
            ),
            store_deadline=_number(float, 0.1)("STORE_DEADLINE_SECONDS", raw("STORE_DEADLINE_SECONDS")),
            log_level=raw("LOG_LEVEL").upper(),
            ip_filter=ip_filter,
            trusted_proxy_hops=trusted_proxy_hops,
            client_cert_mode=client_cert_mode,
            client_cert_policy=client_cert_policy,
            limit_connection_calls_per_minute=_number(int, 0)(
                "LIMIT_CONNECTION_CALLS_PER_MINUTE", raw("LIMIT_CONNECTION_CALLS_PER_MINUTE")
            ),
            oidc_static_issuers=_csv(raw("AUTH_OIDC_STATIC_ISSUERS")),
            oidc_signing_keys=parse_signing_keys(raw("AUTH_OIDC_SIGNING_KEYS")),
            entra_tenants=parse_tenants(raw("AUTH_ENTRA_TENANTS")),
            require_expiration=_bool("AUTH_REQUIRE_EXPIRATION", raw("AUTH_REQUIRE_EXPIRATION")),
            required_claims=parse_required_claims(raw("AUTH_REQUIRED_CLAIMS")),
            token_header=raw("AUTH_TOKEN_HEADER"),
            token_query=raw("AUTH_TOKEN_QUERY"),
            failed_validation_status=parse_failed_status(raw("AUTH_FAILED_VALIDATION_STATUS")),
            failed_validation_message=raw("AUTH_FAILED_VALIDATION_MESSAGE"),
            proxy_address_policy=AddressPolicy(
                allow_loopback=_bool("PROXY_ALLOW_LOOPBACK", raw("PROXY_ALLOW_LOOPBACK")),
                private_networks=_allowed_networks(raw("PROXY_ALLOWED_NETWORKS")),
            ),
            proxy_total_timeout=_number(float, 0.001)("PROXY_TOTAL_TIMEOUT", raw("PROXY_TOTAL_TIMEOUT")),
            proxy_max_response_bytes=_number(int, 0)("PROXY_MAX_RESPONSE_BYTES", raw("PROXY_MAX_RESPONSE_BYTES")),
            applicationinsights_connection_string=raw("APPLICATIONINSIGHTS_CONNECTION_STRING"),
            applicationinsights_entra=_entra_ingestion(raw("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")),
        )
