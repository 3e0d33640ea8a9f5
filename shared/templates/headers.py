"""setheader: set, append or keep a header on the backend request (Request) or the caller's response (Response).

x-ms-apimTemplateParameter.name         the header
x-ms-apimTemplateParameter.value        its value (expressions allowed)
x-ms-apimTemplateParameter.existsAction override (default) | skip (keep one already there) | append
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared import problems
from shared.templates._base import (
    REQUEST,
    RESPONSE,
    CallerResponse,
    OutgoingRequest,
    Template,
    TemplateUnsupported,
    register,
)
from shared.templates._expressions import Evaluation, evaluate

HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Framing and routing belong to the gateway: a template setting them could desynchronise or re-route the request.
GATEWAY_OWNED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
)
EXISTS_ACTIONS = ("override", "skip", "append")


def exists_action(template: Template) -> str:
    action = template.text("existsAction", required=False, default="override").lower()
    if action not in EXISTS_ACTIONS:
        raise TemplateUnsupported(f"existsAction must be one of {', '.join(EXISTS_ACTIONS)}")
    return action


def _find(headers: Mapping[str, str], name: str) -> str | None:
    return next((key for key in headers if key.lower() == name.lower()), None)


def set_header(headers: dict[str, str], name: str, value: str, action: str) -> None:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise problems.bad_request(f"The value for header {name!r} would contain a line break.", slug="bad-header")
    existing = _find(headers, name)
    if existing is not None and action == "skip":
        return
    if existing is not None and action == "append":
        headers[existing] = f"{headers[existing]},{value}"
        return
    if existing is not None:
        del headers[existing]
    headers[name] = value


def set_response_header(headers: list[tuple[str, str]], name: str, value: str, action: str) -> None:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise problems.Problem(502, "template-failed", "Policy template failed", f"Header {name!r} got a line break.")
    present = any(key.lower() == name.lower() for key, _ in headers)
    if present and action == "skip":
        return
    if action != "append":
        headers[:] = [(key, v) for key, v in headers if key.lower() != name.lower()]
    headers.append((name, value))


@register("setheader")
class SetHeader(Template):
    template_id = "setheader"
    sections = frozenset({REQUEST, RESPONSE})

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.name = self.text("name").strip()
        if not HEADER_NAME.fullmatch(self.name):
            raise TemplateUnsupported(f"{self.name!r} is not a header name")
        if self.name.lower() in GATEWAY_OWNED_HEADERS:
            raise TemplateUnsupported(f"the gateway sets {self.name} itself")
        self.value = self.expression("value", required=False)
        self.action = exists_action(self)

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        set_header(request.headers, self.name, evaluate(self.value, evaluation), self.action)
        if self.action == "override":
            request.template_headers[self.name] = request.headers[self.name]

    def apply_response(self, response: CallerResponse, evaluation: Evaluation) -> None:
        set_response_header(response.headers, self.name, evaluate(self.value, evaluation), self.action)
