"""routerequesttoendpoint: send the operation's call to another path (and maybe method) on the backend.

    x-ms-apimTemplateParameter.newPath     relative to basePath, like the swagger's paths; `{name}` takes the
                                           operation's path parameter, expressions take connection values
    x-ms-apimTemplateParameter.httpMethod  a method, or @Request.OriginalHTTPMethod (the default)

The new path is guarded like a caller's path (no dot segments, no way off the backend) when the URL is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.problems import Problem
from shared.templates._base import OutgoingRequest, Template, TemplateUnsupported, register
from shared.templates._expressions import CALLER_SOURCES, Evaluation, Part, evaluate_part, sources
from shared.templates.host import render_from_parts

_PATH_PARAMETER = re.compile(r"\{([^{}/]+)\}")
_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")


@register("routerequesttoendpoint")
class RouteRequestToEndpoint(Template):
    template_id = "routerequesttoendpoint"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.path = self.expression("newPath")
        if sources(self.path) & CALLER_SOURCES:
            raise TemplateUnsupported("its newPath takes a value from the caller's request")
        if not "".join(p.text for p in self.path if p.source == "literal").startswith("/"):
            raise TemplateUnsupported("its newPath must start with '/'")
        method = self.expression("httpMethod", required=False, default="@Request.OriginalHTTPMethod")
        if len(method) != 1 or (method[0].source == "literal" and method[0].text.upper() not in _METHODS):
            raise TemplateUnsupported(f"its httpMethod must be one of {', '.join(_METHODS)} or the original method")
        if method[0].source not in ("literal", "method"):
            raise TemplateUnsupported("its httpMethod must be a method or @Request.OriginalHTTPMethod")
        self.method: Part = method[0]

    def _with_path_values(self, request: OutgoingRequest) -> tuple[Part, ...]:
        def fill(match: re.Match[str]) -> str:
            value = request.path_values.get(match.group(1))
            if value is None:
                raise Problem(
                    502,
                    "template-failed",
                    "Policy template failed",
                    f"Policy template {self.template_id!r} names path parameter {match.group(1)!r}, which this "
                    "operation doesn't have.",
                )
            return value

        # Path values are the caller's raw segments, already guarded; they contain no braces (those are encoded).
        return tuple(
            Part("literal", _PATH_PARAMETER.sub(fill, part.text)) if part.source == "literal" else part
            for part in self.path
        )

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        request.path = render_from_parts(
            self._with_path_values(request), evaluation, "policy template 'routerequesttoendpoint'"
        )
        request.method = evaluate_part(self.method, evaluation).upper()
