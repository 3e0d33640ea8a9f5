"""pollingtrigger: an action becomes a polling trigger, the gateway keeping its state in the next poll's URL.

x-ms-apimTemplateParameter.triggerConfig    {query parameter: value}: the next poll's query, from the last answer.
                                            A value is `@triggerBody().path` (the value there), text with
                                            `@{triggerBody().path}` inside, or a literal. The key
                                            `x-ms-triggerConfig-nextLink` names the answer's next-page property
                                            (`@odata.nextLink` by default).
x-ms-apimTemplateParameter.triggerDataPath  `@triggerBody().path`: the answer's new items.

Feathery Forms: `{"last_requested_at": "@{triggerBody().requested_at}"}` and `@triggerBody().results`.

The protocol is Microsoft's "Use a custom polling trigger": the flow engine calls the operation; the connector
calls the backend and answers `202 Accepted` with a `Location` that carries the state, and the first call only
establishes that state. Each later call (the flow engine following `Location`) answers the backend's body
when it has new items, or `202` with no body when it has none, and always a `Location` for the poll after:

    first poll (no `gateway-poll` in the query)   202, no body            Location: query + state
    next poll, items at triggerDataPath           the backend's answer    Location: query + state (or next page)
    next poll, no items                           202, no body            Location: query + state

The state is the caller's own query with the triggerConfig parameters set, plus `gateway-poll=next`, which
marks a follow-up poll and never reaches a backend (the forward stage drops it from every call). A value
the answer lacks keeps the caller's current one, so the state never goes back. The backend's `Retry-After`
passes through; without one the flow's own recurrence decides. A backend error passes unchanged (no
`Location`: the flow retries its last poll). The HTTP adapter turns the state into the absolute gateway URL
(shared/invoke/_polling.py). Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shared.templates._body as _body
from shared.problems import Problem
from shared.templates._base import (
    PARAMETER_PREFIX,
    REQUEST,
    RESPONSE,
    CallerResponse,
    NextPoll,
    Template,
    TemplateUnsupported,
    register,
)
from shared.templates._expressions import Evaluation

NEXT_POLL_MARKER = "gateway-poll"  # in the query of every poll after the first; never forwarded
NEXT_LINK_KEY = "x-ms-triggerConfig-nextLink"
DEFAULT_NEXT_LINK = "@odata.nextLink"
MAX_STATE_VALUE = 2048  # characters of one state value taken from the backend's answer (it ends up in a header)
MAX_NEXT_LINK = 8192  # characters of a next page followed (it becomes the Location header)

_PATH = re.compile(rf"triggerBody\(\)((?:{_body.STEP})*)")
_WHOLE = re.compile(rf"@{_PATH.pattern}")
_INTERPOLATION = re.compile(rf"@\{{\s*{_PATH.pattern}\s*\}}")
_OTHER_EXPRESSION = re.compile(r"@\{|@[A-Za-z_][A-Za-z0-9_]*\(")


@dataclass(frozen=True)
class StateValue:
    """One triggerConfig value: literal text and `triggerBody()` paths. A sole `@triggerBody()...` keeps its
    value's own text (a number stays `5`); an interpolated one is rendered into the text."""

    parts: tuple[str | tuple[_body.Step, ...], ...]

    @classmethod
    def parse(cls, name: str, value: Any) -> StateValue:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TemplateUnsupported(f"triggerConfig's {name!r} must be text")
        text = str(value).strip() if isinstance(value, str) else json.dumps(value)
        whole = _WHOLE.fullmatch(text)
        if whole:
            return cls((_body.steps(whole.group(1)),))
        parts: list[str | tuple[_body.Step, ...]] = []
        position = 0
        for match in _INTERPOLATION.finditer(text):
            parts.append(text[position : match.start()])
            parts.append(_body.steps(match.group(1)))
            position = match.end()
        parts.append(text[position:])
        literal = "".join(part for part in parts if isinstance(part, str))
        if _OTHER_EXPRESSION.search(literal):
            raise TemplateUnsupported(
                f"triggerConfig's {name!r} uses an expression other than @triggerBody() paths, which is not supported"
            )
        return cls(tuple(part for part in parts if part != ""))

    def render(self, answer: Any) -> str | None:
        """The value for this answer; None when a path finds nothing (the caller's current value stays)."""
        rendered = []
        for part in self.parts:
            if isinstance(part, str):
                rendered.append(part)
                continue
            value = _body.get(answer, part)
            if not _body.found(value) or value is None:
                return None
            rendered.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        return "".join(rendered)


def has_items(value: Any) -> bool:
    """New items: a non-empty array at the data path (or a non-empty object or a value, for a single item)."""
    if not _body.found(value) or value is None:
        return False
    return bool(value) if isinstance(value, list | dict | str) else True


@register("pollingtrigger")
class PollingTrigger(Template):
    template_id = "pollingtrigger"
    sections = frozenset({REQUEST, RESPONSE})
    runs_in = frozenset({RESPONSE})  # real instances name no section (Request); it acts on the answer
    reads_response_body = True

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        config = parameters.get(PARAMETER_PREFIX + "triggerConfig")
        if not isinstance(config, dict):
            raise TemplateUnsupported(f"the parameter {PARAMETER_PREFIX}triggerConfig must be an object")
        next_link = config.get(NEXT_LINK_KEY, DEFAULT_NEXT_LINK)
        if not isinstance(next_link, str) or not next_link.strip():
            raise TemplateUnsupported(f"triggerConfig's {NEXT_LINK_KEY} must name a property")
        self.next_link_property = next_link.strip()
        self.state = {name: StateValue.parse(name, value) for name, value in config.items() if name != NEXT_LINK_KEY}
        if any(not name.strip() for name in self.state):
            raise TemplateUnsupported("each triggerConfig key must name a query parameter")
        data_path = self.text("triggerDataPath").strip()
        whole = _WHOLE.fullmatch(data_path) or _INTERPOLATION.fullmatch(data_path)
        if whole is None:
            raise TemplateUnsupported("its triggerDataPath must be @triggerBody() or a path below it")
        self.items_path = _body.steps(whole.group(1))

    def apply_response(self, response: CallerResponse, evaluation: Evaluation) -> None:
        if not 200 <= response.status < 300:
            return  # the flow sees the failure and retries the poll it made
        follow_up = NEXT_POLL_MARKER in evaluation.query
        answer = _body.load(response.body, response.headers, self.template_id) if response.body.strip() else None
        if response.body.strip() and not _body.found(answer):
            raise Problem(
                502,
                "template-failed",
                "Policy template failed",
                "Policy template 'pollingtrigger' can't read the backend's answer: it isn't JSON, so the trigger's "
                "items and next state can't be found in it.",
            )
        response.next_poll = NextPoll(query=self._state(answer), link=self._next_page(answer) if follow_up else None)
        if follow_up and has_items(_body.get(answer, self.items_path)):
            return  # the flow fires with the backend's answer
        response.status = 202
        response.body = b""
        response.headers = [
            (name, value)
            for name, value in response.headers
            if name.lower() not in ("content-type", "content-length", "content-encoding", "etag")
        ]

    def _state(self, answer: Any) -> dict[str, str]:
        state = {}
        for name, value in self.state.items():
            rendered = value.render(answer)
            if rendered is None:
                continue
            if len(rendered) > MAX_STATE_VALUE:
                raise Problem(
                    502,
                    "template-failed",
                    "Policy template failed",
                    f"Policy template 'pollingtrigger': the backend's answer gives triggerConfig's {name!r} a value "
                    f"longer than {MAX_STATE_VALUE} characters, too long for the next poll's URL.",
                )
            state[name] = rendered
        return state

    def _next_page(self, answer: Any) -> str | None:
        link = answer.get(self.next_link_property) if isinstance(answer, dict) else None
        return link if isinstance(link, str) and link.strip() and len(link) <= MAX_NEXT_LINK else None
