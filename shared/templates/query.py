"""setqueryparameter: set, append or keep a query parameter on the backend request.

x-ms-apimTemplateParameter.name         the parameter
x-ms-apimTemplateParameter.value        its value (expressions allowed)
x-ms-apimTemplateParameter.existsAction override (default) | skip (keep the caller's) | append
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from shared.templates._base import OutgoingRequest, Template, TemplateUnsupported, register
from shared.templates._expressions import Evaluation, evaluate
from shared.templates.headers import exists_action


def _caller_has(raw_query: str, name: str) -> bool:
    return any(unquote_plus(part.split("=", 1)[0]) == name for part in raw_query.split("&") if part)


@register("setqueryparameter")
class SetQueryParameter(Template):
    template_id = "setqueryparameter"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.name = self.text("name").strip()
        if not self.name:
            raise TemplateUnsupported("the parameter name is empty")
        self.value = self.expression("value", required=False)
        self.action = exists_action(self)

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        value = evaluate(self.value, evaluation)
        present = self.name in request.query_set or _caller_has(request.raw_query, self.name)
        if self.action == "skip" and present:
            return
        if self.action == "append" and present:
            request.query_added.append((self.name, value))
            return
        request.query_added = [(name, v) for name, v in request.query_added if name != self.name]
        request.query_set[self.name] = value
