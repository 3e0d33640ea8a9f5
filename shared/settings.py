"""Gateway settings: every environment variable the gateway reads, in one table.

`SETTINGS` is the single list of names. The README's settings table and the Bicep
app settings are checked against it by tests, so a setting can't be added in one
place and forgotten in another.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    """A setting has a value the gateway can't use. The message names the setting."""


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
    Setting("AUTH_CLOCK_SKEW_SECONDS", "60", "Clock skew allowed on `exp` and `nbf`."),
    Setting("AUTH_SUBSCRIPTION_KEY_HEADER", "Ocp-Apim-Subscription-Key", "Header carrying a subscription key."),
    Setting("AUTH_SUBSCRIPTION_KEY_QUERY", "subscription-key", "Query parameter carrying a subscription key."),
    Setting("PROXY_CONNECT_TIMEOUT_SECONDS", "10", "Connect timeout to backends."),
    Setting("PROXY_READ_TIMEOUT_SECONDS", "100", "Read timeout to backends; past it the caller gets 504."),
    Setting("PROXY_MAX_BODY_BYTES", "33554432", "Largest request body forwarded; larger gets 413."),
    Setting(
        "PROXY_ALLOWED_ADDRESSES",
        "",
        "Comma-separated CIDRs exempt from the link-local/metadata block, e.g. `169.254.10.0/24`.",
    ),
    Setting("SECRET_CACHE_SIZE", "1024", "Connection secrets kept in memory, keyed by name and version."),
    Setting("LOG_LEVEL", "INFO", "Log level of the gateway's own loggers."),
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
    clock_skew_seconds: int
    subscription_key_header: str
    subscription_key_query: str
    proxy_connect_timeout: float
    proxy_read_timeout: float
    proxy_max_body_bytes: int
    proxy_allowed_addresses: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    secret_cache_size: int
    log_level: str

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
            clock_skew_seconds=_number(int, 0)("AUTH_CLOCK_SKEW_SECONDS", raw("AUTH_CLOCK_SKEW_SECONDS")),
            subscription_key_header=raw("AUTH_SUBSCRIPTION_KEY_HEADER"),
            subscription_key_query=raw("AUTH_SUBSCRIPTION_KEY_QUERY"),
            proxy_connect_timeout=_number(float, 0.001)(
                "PROXY_CONNECT_TIMEOUT_SECONDS", raw("PROXY_CONNECT_TIMEOUT_SECONDS")
            ),
            proxy_read_timeout=_number(float, 0.001)("PROXY_READ_TIMEOUT_SECONDS", raw("PROXY_READ_TIMEOUT_SECONDS")),
            proxy_max_body_bytes=_number(int, 0)("PROXY_MAX_BODY_BYTES", raw("PROXY_MAX_BODY_BYTES")),
            proxy_allowed_addresses=_networks("PROXY_ALLOWED_ADDRESSES", raw("PROXY_ALLOWED_ADDRESSES")),
            secret_cache_size=_number(int, 0)("SECRET_CACHE_SIZE", raw("SECRET_CACHE_SIZE")),
            log_level=raw("LOG_LEVEL").upper(),
        )
