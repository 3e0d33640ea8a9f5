"""Policy templates: the base class, the request and response a template changes, and the registry by id.

A template is data (a `policyTemplateInstances` entry: templateId, parameters) plus one small class,
registered by its lower-cased templateId. The class reads its parameters once, at upload
(`TemplateUnsupported` when it can't honour them), and then changes the outgoing request or the
caller's response in place. Adding a template is one module with one `@register`ed class, and its test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.templates._expressions import Evaluation, Part, UnsupportedExpression, parse

PARAMETER_PREFIX = "x-ms-apimTemplateParameter."
REQUEST = "request"
RESPONSE = "response"


class TemplateUnsupported(ValueError):
    """The gateway can't honour this instance. The message says why, in a maker's terms."""


@dataclass
class OutgoingRequest:
    """The backend request the request-section templates shape. `path` is relative to `base_url`."""

    method: str
    base_url: str  # scheme://host[:port][/basePath], no trailing "/"
    path: str
    raw_query: str  # the caller's, as received (gateway credentials are dropped when the URL is built)
    headers: dict[str, str]
    body: bytes
    path_values: Mapping[str, str] = field(default_factory=dict)  # raw (still encoded) path parameter values
    query_set: dict[str, str] = field(default_factory=dict)  # replaces the caller's parameter of that name
    query_added: list[tuple[str, str]] = field(default_factory=list)  # appended after everything else
    base_url_from_connection: bool = False  # a template built the host from connection values
    # Headers templates set: applied after the connection's credential, as Power Platform applies policies
    # after its authentication (a setheader turning an API key into "Bearer <key>" wins over the raw key).
    template_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NextPoll:
    """Where a polling trigger's caller polls next, in the caller's terms; the HTTP adapter makes it the
    absolute gateway URL of its `Location` (only it knows the gateway's public origin and the invoke path)."""

    query: Mapping[str, str]  # the caller's query with these parameters set (the trigger's state)
    link: str | None = None  # or this backend URL (the answer's next page of new items)


@dataclass
class CallerResponse:
    """The backend's answer as the caller will get it; response-section templates change it."""

    status: int
    headers: list[tuple[str, str]]  # repeated names stay repeated (Set-Cookie)
    body: bytes
    next_poll: NextPoll | None = None  # set by pollingtrigger: the caller's Location


# A template's own call to the backend the operation goes to: (method, path relative to base_url, raw query) ->
# its answer. The invoke pipeline supplies it (the connection's credential, the address guard, the limits).
BackendCall = Callable[[str, str, str], CallerResponse]


class Template:
    """One templateId's behaviour. Subclasses set `template_id` and override what their sections do."""

    template_id: ClassVar[str]
    sections: ClassVar[frozenset[str]] = frozenset({REQUEST})
    # Runs in these sections whichever one the instance names (pollingtrigger acts on the answer, and real
    # instances name no section, so Request by default); None: only in the one it names.
    runs_in: ClassVar[frozenset[str] | None] = None
    # Reads the backend's answer as JSON: its operation asks the backend for an unencoded body.
    reads_response_body: ClassVar[bool] = False

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        self.parameters = parameters

    def text(self, name: str, *, required: bool = True, default: str = "") -> str:
        value = self.parameters.get(PARAMETER_PREFIX + name)
        if value is None or value == "":
            if required:
                raise TemplateUnsupported(f"the parameter {PARAMETER_PREFIX}{name} is missing")
            return default
        if not isinstance(value, str):
            raise TemplateUnsupported(f"the parameter {PARAMETER_PREFIX}{name} is not text")
        return value

    def expression(self, name: str, *, required: bool = True, default: str = "") -> tuple[Part, ...]:
        try:
            return parse(self.text(name, required=required, default=default))
        except UnsupportedExpression as error:
            raise TemplateUnsupported(f"{PARAMETER_PREFIX}{name}: {error}") from None

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        """Change the outgoing request (request section)."""

    def apply_request_calling(self, request: OutgoingRequest, evaluation: Evaluation, backend: BackendCall) -> None:
        """Request section, for a template that first asks the backend something (setvaluefromurl)."""
        self.apply_request(request, evaluation)

    def apply_response(self, response: CallerResponse, evaluation: Evaluation) -> None:
        """Change the caller's response (response section)."""


TEMPLATES: dict[str, type[Template]] = {}


def register(*template_ids: str) -> Callable[[type[Template]], type[Template]]:
    def add(cls: type[Template]) -> type[Template]:
        for template_id in template_ids:
            TEMPLATES[template_id.lower()] = cls
        return cls

    return add
