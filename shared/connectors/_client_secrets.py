"""OAuth client secrets found inside uploaded connector files: they go to Key Vault, never into a stored document.

Makers (and paconn downloads) put the client secret in apiProperties: `oAuthSettings.clientSecret`, or
`oAuthSettings.customParameters.clientSecret` as `{"value": ...}`, under connectionParameters or inside
connectionParameterSets. Every member named clientSecret (any case) is taken out of apiProperties, wherever it
is, except a connection parameter's own name (connectionParameters maps names to definitions: a parameter
called clientSecret is a definition, not a value). apiDefinition is not scanned: nothing of it that could hold
a secret is stored, and its schemas legitimately describe clientSecret fields of the backend's API.
paconn writes a placeholder such as "[[DUMMY]]" where the portal keeps the secret; placeholders are removed
too, but are no secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.connectors._errors import ConnectorInvalid, ErrorList, json_pointer

_SECRET_MEMBER = "clientsecret"  # noqa: S105 - a member name
# Maps from parameter names to definitions (connectionParameters, and a parameter set's "parameters").
_PARAMETER_MAPS = frozenset({"connectionParameters", "parameters"})
_PLACEHOLDER = re.compile(r"\s*(?:\[\[[^\]]*\]\])?\s*")  # "", or paconn's "[[DUMMY]]"


@dataclass(frozen=True)
class FoundSecret:
    pointer: str  # where it was, e.g. /apiProperties/properties/connectionParameters/token/oAuthSettings/clientSecret
    value: Any = field(repr=False)  # the raw member: a string, or {"value": string} in customParameters


def _value(member: Any) -> Any:
    return member.get("value") if isinstance(member, dict) else member


def take_client_secrets(document: dict[str, Any], root: str) -> tuple[dict[str, Any], list[FoundSecret]]:
    """A copy of `document` without its clientSecret members, and what was taken (pointers start with /root).

    Raises RecursionError for documents nested beyond Python's recursion limit."""
    found: list[FoundSecret] = []

    def walk(node: Any, path: tuple[str | int, ...], parent: str | int | None) -> Any:
        if isinstance(node, dict):
            kept: dict[str, Any] = {}
            for key, member in node.items():
                if isinstance(key, str) and key.lower() == _SECRET_MEMBER and parent not in _PARAMETER_MAPS:
                    found.append(FoundSecret(json_pointer(root, *path, key), _value(member)))
                    continue
                kept[key] = walk(member, (*path, key), key)
            return kept
        if isinstance(node, list):
            return [walk(item, (*path, index), index) for index, item in enumerate(node)]
        return node

    return walk(document, (), None), found


def client_secret_of(found: list[FoundSecret]) -> str | None:
    """The one client secret the files carry (placeholders ignored), or None. Raises ConnectorInvalid when they
    carry a non-string or two different ones; the errors name pointers, never values."""
    errors: ErrorList = []
    secrets: dict[str, str] = {}
    for secret in found:
        if isinstance(secret.value, str) and _PLACEHOLDER.fullmatch(secret.value):
            continue
        if not isinstance(secret.value, str):
            errors.append({"pointer": secret.pointer, "detail": 'A client secret is a string (or {"value": string}).'})
            continue
        secrets.setdefault(secret.value, secret.pointer)
    if len(secrets) > 1:
        detail = "The files carry different client secrets; keep one (or send it as the clientSecret part)."
        errors.extend({"pointer": pointer, "detail": detail} for pointer in secrets.values())
    if errors:
        raise ConnectorInvalid(errors)
    return next(iter(secrets), None)
