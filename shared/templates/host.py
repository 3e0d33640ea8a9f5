"""dynamichosturl and dynamicsubdomain: the backend's base URL (scheme, host, base path) built per call.

    x-ms-apimTemplateParameter.urlTemplate  e.g. `https://@connectionParameters('subdomain').example.com/api`

The operation's path (relative to basePath) is appended to the built URL. Each value is checked for the
position it fills (shared/proxy/_url_values.py: one DNS label for a subdomain, a host with an optional
port for a host, an absolute URL for a whole origin), and the address guard judges where the request
connects, at connect time, as for the swagger's host. Plain http only to a loopback host (the https
rule). Values the caller controls (`@headers`, `@queryParameters`, `@body()`) can't decide the host: the
connection's credential would go wherever a caller says, so such an instance is unsupported (501).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.connectors import is_loopback_host
from shared.problems import Problem
from shared.proxy import UnsafeValue, render_url_template
from shared.proxy._url_values import MissingPlaceholder
from shared.templates._base import OutgoingRequest, Template, TemplateUnsupported, register
from shared.templates._expressions import CALLER_SOURCES, Evaluation, Part, evaluate_part, sources


def _placeholders(parts: tuple[Part, ...]) -> str:
    """The template with each expression as `{eN}`, so the URL renderer checks each value for its position."""
    return "".join(part.text if part.source == "literal" else f"{{e{index}}}" for index, part in enumerate(parts))


def render_from_parts(parts: tuple[Part, ...], evaluation: Evaluation, what: str) -> str:
    values = {
        f"e{index}": evaluate_part(part, evaluation) for index, part in enumerate(parts) if part.source != "literal"
    }
    try:
        url, _ = render_url_template(_placeholders(parts), values)
    except (UnsafeValue, MissingPlaceholder) as error:
        # Names the position, never the value (it may be anything a user typed).
        position = error.position.value if isinstance(error, UnsafeValue) else "a value"
        raise Problem(
            400,
            "connection-value-rejected",
            "Connection value rejected",
            f"A connection value used by {what} doesn't fit where it goes in the backend URL: it must be {position}.",
        ) from None
    return url


@register("dynamichosturl")
class DynamicHostUrl(Template):
    template_id = "dynamichosturl"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.url = self.expression("urlTemplate")
        if sources(self.url) & CALLER_SOURCES:
            raise TemplateUnsupported(
                "its URL takes a value from the caller's request (@headers, @queryParameters or @body): the "
                "connection's credential would go to whichever host a caller names"
            )
        if "{" in _placeholders(tuple(p for p in self.url if p.source == "literal")):
            raise TemplateUnsupported("its URL template contains '{'")

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        url = render_from_parts(self.url, evaluation, f"policy template {self.template_id!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise Problem(
                400,
                "connection-value-rejected",
                "Connection value rejected",
                f"Policy template {self.template_id!r} builds a backend URL that isn't an absolute http(s) URL "
                "without query or fragment; check the connection's values.",
            )
        if parts.scheme == "http" and not is_loopback_host(parts.netloc):
            # The https rule, as at upload: only a loopback backend (local development) may be plain http.
            raise Problem(
                400,
                "connection-value-rejected",
                "Connection value rejected",
                f"Policy template {self.template_id!r} builds a plain http URL: credentials go only over https.",
            )
        request.base_url = url.rstrip("/")
        request.base_url_from_connection = True


@register("dynamicsubdomain")
class DynamicSubdomain(DynamicHostUrl):
    """The older name of the same template (AlisQI): the subdomain is a value in the URL template."""

    template_id = "dynamicsubdomain"
