"""The backend host a token response names (Salesforce's `instance_url`), accepted only where the provider says.

A token response is the identity provider's answer, and whoever can answer it (a hostile or spoofed provider, a
stand-in the maker pointed the token URL at) would otherwise choose which host receives the user's token on every
call. So the host must end in one of the provider template's `backend_host_suffixes` (providers.json), be a plain
DNS name on https's default port, and not resolve to an address the gateway's address guard refuses. The guard
still judges every connection at call time: DNS may answer differently later.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

from shared.oauth._config import PROVIDERS
from shared.oauth._config_model import OAuthConfig
from shared.oauth._tokens import OAuthError
from shared.proxy._addresses import AddressPolicy

_DNS_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")


def allowed_host_suffixes(config: OAuthConfig) -> tuple[str, ...]:
    """The config's suffixes, or its provider template's for a config stored before configs carried them."""
    suffixes = config.backend_host_suffixes or PROVIDERS.get(config.identity_provider, {}).get(
        "backend_host_suffixes", ()
    )
    return tuple(suffix.lower() for suffix in suffixes)


def _on_suffix(host: str, suffixes: tuple[str, ...]) -> bool:
    return any(host.endswith(suffix) and len(host) > len(suffix) for suffix in suffixes if suffix.startswith("."))


def _guard_refusal(host: str, policy: AddressPolicy) -> str | None:
    try:
        resolved = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None  # unresolvable now: calls to it fail (and are guarded) later; nothing is sent anywhere now
    return next((r for *_, sockaddr in resolved if (r := policy.refusal(str(sockaddr[0]))) is not None), None)


def backend_url_with_host(config: OAuthConfig, backend_url: str, host_url: str, policy: AddressPolicy) -> str:
    """The backend URL with its host replaced by the one in `host_url`; OAuthError("invalid_response") naming the
    reason when the provider may not name that host."""
    field = config.backend_host_field
    new = urlsplit(host_url)
    try:
        port = new.port
    except ValueError:
        port = -1
    host = (new.hostname or "").lower()
    if new.scheme != "https" or new.username is not None or new.password is not None or port not in (None, 443):
        raise OAuthError("invalid_response", f"the token response's {field} is not a plain https URL")
    suffixes = allowed_host_suffixes(config)
    if not _DNS_NAME.fullmatch(host) or not _on_suffix(host, suffixes):
        allowed = ", ".join(f"*{suffix}" for suffix in suffixes) or "none"
        raise OAuthError(
            "invalid_response",
            f"the token response's {field} names a host the provider doesn't use (allowed: {allowed})",
        )
    refusal = _guard_refusal(host, policy)
    if refusal is not None:
        raise OAuthError(
            "invalid_response", f"the token response's {field} resolves to {refusal}, which the gateway won't call"
        )
    return f"https://{host}{urlsplit(backend_url).path}"
