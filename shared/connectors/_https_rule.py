"""Credentials go only over https, as the Power Platform requires.

A connector whose backend would receive a credential (basic, API key, OAuth token, or any secret
connection parameter a policy template may send) over plain http is refused at upload. The one
exception is a loopback backend, and only where PROXY_ALLOW_LOOPBACK=true (local development and
tests). Where it is off, as deployed, a loopback backend is refused whatever its scheme: on Azure,
loopback is the Functions host itself. Only a literal loopback address or "localhost" counts as
loopback here; a name that resolves to loopback is still refused by the address guard at connect time.
"""

from __future__ import annotations

import ipaddress
import socket

from shared.connectors._errors import ErrorList
from shared.connectors._model import AuthScheme, Connector
from shared.proxy import AddressClass, classify

_CREDENTIAL_KINDS = {"basic": "a password", "apiKey": "an API key", "oauth2": "an OAuth access token"}


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_host(host: str) -> bool:
    """Whether a backend host (name or address, optional port) is literally loopback."""
    name = _hostname(host).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return classify(name) is AddressClass.LOOPBACK
    except ValueError:
        pass
    try:  # the legacy IPv4 spellings a resolver still reads: 127.1, 0x7f.1, 0177.0.0.1
        return classify(ipaddress.IPv4Address(socket.inet_aton(name))) is AddressClass.LOOPBACK
    except OSError:
        return False  # a host name: not an address literal


def _credential_sent(connector: Connector) -> str | None:
    """What credential the backend would receive, or None."""
    schemes: list[AuthScheme] = [connector.auth, *(s.auth for s in connector.parameter_sets)]
    for scheme in schemes:
        if scheme.kind in _CREDENTIAL_KINDS:
            return _CREDENTIAL_KINDS[scheme.kind]
    parameters = [*connector.parameters, *(p for s in connector.parameter_sets for p in s.parameters)]
    if any(p.type == "securestring" for p in parameters):
        return "a secret connection parameter"
    return None


def https_rule_errors(connector: Connector, allow_loopback: bool) -> ErrorList:
    """Errors ({"pointer", "detail"}) when the connector's backend breaks the https rule; empty when it keeps it."""
    backend = connector.backend
    if is_loopback_host(backend.host):
        if allow_loopback:
            return []
        detail = (
            f"The backend {backend.host!r} is a loopback address: this gateway doesn't call loopback backends "
            "(PROXY_ALLOW_LOOPBACK is off; on Azure, loopback is the Functions host itself)."
        )
        return [{"pointer": "/apiDefinition/host", "detail": detail}]
    credential = _credential_sent(connector)
    if backend.scheme != "http" or credential is None:
        return []
    detail = (
        f"The backend is plain http and would receive {credential}: credentials go only over https, as in the "
        'Power Platform. Declare "schemes": ["https"] in apiDefinition.swagger.json.'
    )
    return [{"pointer": "/apiDefinition/schemes", "detail": detail}]
