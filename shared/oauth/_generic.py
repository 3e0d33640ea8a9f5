"""oauth2generic templates: Power Platform's {Placeholder} strings, rendered. Pure.

Placeholder names are case-insensitive ({ClientId} = {clientId}). The standard ones are filled per
message; any other name is a connection parameter value ("token:ReferooHost" fills {ReferooHost}).
URL templates take each value checked for the position it fills (shared/proxy/_url_values.py: one
DNS label, a host, a path segment, ...); query and body templates take values percent-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from shared.proxy._url_values import PLACEHOLDER, MissingPlaceholder
from shared.proxy._url_values import UnsafeValue as UnsafeValue  # re-exported: _config catches it
from shared.proxy._url_values import render as render_url_template

# Filled per message by the gateway; lower-cased.
STANDARD_PLACEHOLDERS = frozenset(
    {"clientid", "clientsecret", "redirecturl", "scopes", "state", "code", "refreshtoken"}
)

# The customParameters that hold templates, by their OAuthConfig.templates key.
MESSAGE_TEMPLATES = {
    "authorizationurlquerystringtemplate": "authorizationQuery",
    "tokenurlquerystringtemplate": "tokenQuery",
    "tokenbodytemplate": "tokenBody",
    "refreshurlquerystringtemplate": "refreshQuery",
    "refreshbodytemplate": "refreshBody",
}
URL_TEMPLATES = {
    "authorizationurltemplate": "authorization_url",
    "tokenurltemplate": "token_url",
    "refreshurltemplate": "refresh_url",
}


def placeholders(template: str) -> list[str]:
    """The placeholder names in a template, as written."""
    return PLACEHOLDER.findall(template)


def missing_placeholders(template: str, available: Iterable[str]) -> list[str]:
    """Placeholder names (as written) that neither the standard set nor `available` (lower-cased) covers."""
    known = STANDARD_PLACEHOLDERS | {name.lower() for name in available}
    return [name for name in placeholders(template) if name.lower() not in known]


def _render(template: str, values: Mapping[str, str], mode: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name.lower())
        if value is None:
            raise MissingPlaceholder(name)
        return quote(value, safe="") if mode == "encoded" else value

    return PLACEHOLDER.sub(substitute, template)


def render_url(template: str, values: Mapping[str, str], trusted: Iterable[str] = ()) -> tuple[str, frozenset[str]]:
    """A URL template with each value checked for its position; also the (lower-cased) names of the values
    that decided the host. `values` is keyed by lower-cased name; `trusted` names are the maker's values
    (see shared/proxy/_url_values.check_value). MissingPlaceholder, UnsafeValue."""
    return render_url_template(template, values, frozenset(trusted))


def render_encoded(template: str, values: Mapping[str, str]) -> str:
    """A query-string or form-body template with values percent-encoded. `values` keyed by lower-cased name."""
    return _render(template, values, "encoded")


def render_text(template: str, values: Mapping[str, str]) -> str:
    """Plain text (a scope) with values inserted as they are."""
    return _render(template, values, "text")


def with_query(url: str, query_template_output: str) -> str:
    """`url` with a rendered query-string template ("?a=b" or "a=b") appended."""
    query = query_template_output.lstrip("?&")
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


def message_values(
    *,
    client_id: str,
    client_secret: str | None,
    redirect_url: str = "",
    scopes: str = "",
    state: str = "",
    code: str = "",
    refresh_token: str = "",
    template_values: Mapping[str, str],
) -> dict[str, str]:
    """Everything a message template may name, keyed by lower-cased placeholder name."""
    standard = {
        "clientid": client_id,
        "clientsecret": client_secret or "",
        "redirecturl": redirect_url,
        "scopes": scopes,
        "state": state,
        "code": code,
        "refreshtoken": refresh_token,
    }
    return {**template_values, **standard}
