"""JSON bodies for the data templates (setproperty, convertobjecttoarray, stringreplace, setvaluefromurl): paths,
value templates, and the base class that loads, reshapes and writes a body back. Pure.

A path is a root followed by property names and indexes, in either of the expression language's spellings:
`@body()`, `@body().sounds`, `@body().items[0].id`, `@body()['@odata.etag']`, `@body()?['a']?.b`. The root is
`@body()` (the whole document) or, in a value, `@item()` (the object of a collection being changed). A value
template is literal text with `{@body().path}` or `{@item().path}` references: `{@body().firstName}
{@body().lastName}`; a template that is one reference keeps the value's JSON type. A value wholly in single
quotes is a string literal of the expression language and the quotes go (FreeAgent's
`'{@item()['id']}-{@item()['reference']}'` sets `7-INV-7`).

A body that isn't JSON (empty, an HTML error page) is left as it is: the templates
reshape JSON documents, as in Power Platform, and an error answer passes through untouched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shared.json_limits import MAX_DEPTH, nested_deeper_than
from shared.problems import Problem
from shared.templates._base import REQUEST, RESPONSE, CallerResponse, OutgoingRequest, Template, TemplateUnsupported
from shared.templates._expressions import Evaluation

Step = str | int
_NAME = r"[^.\[\]{}@'()?\s]+"  # a dotted name: no spaces (`['a b']` holds those)
STEP = rf"\??\.{_NAME}|\??\[\s*'[^']*'\s*\]|\??\[\d+\]"
_STEP_PARTS = re.compile(rf"\??\.({_NAME})|\??\[\s*'([^']*)'\s*\]|\??\[(\d+)\]")
_PATH = re.compile(rf"@body\(\)((?:{STEP})*)")
_ITEM_PATH = re.compile(rf"@item\(\)((?:{STEP})*)")
_REFERENCE = re.compile(rf"\{{\s*@(body|item)\(\)((?:{STEP})*)\s*\}}")
_MISSING = object()
_TOO_DEEP = object()


def steps(text: str) -> tuple[Step, ...]:
    """The steps of a path's tail (`.a['b'][0]`)."""
    return tuple(int(index) if index else (name or quoted) for name, quoted, index in _STEP_PARTS.findall(text))


def parse_path(text: str, what: str) -> tuple[Step, ...]:
    match = _PATH.fullmatch(text.strip())
    if match is None:
        raise TemplateUnsupported(f"{what} must be @body() or a path below it, like @body().items")
    return steps(match.group(1))


def item_path(text: str, what: str) -> tuple[Step, ...]:
    """A property of the collection's object being changed: `@item().id`, `@item()['id']`; never the item itself."""
    match = _ITEM_PATH.fullmatch(text.strip())
    if match is None or not match.group(1):
        raise TemplateUnsupported(f"{what} must be a property of the item, like @item().id")
    return steps(match.group(1))


def sub_path(text: str) -> tuple[Step, ...]:
    """A path relative to a parent (`nextLink`, `a.b`, `Submission Date`); empty: the parent itself."""
    text = text.strip()
    if text and not any(character in text for character in ".[]{}@'()?"):
        return (text,)  # one property, whatever its name holds (spaces included)
    return parse_path("@body()." + text, "the sub path") if text else ()


def path_parameter(template: Template, name: str) -> tuple[Step, ...]:
    return parse_path(template.text(name), f"the parameter {name}")


def get(document: Any, path: tuple[Step, ...]) -> Any:
    """The value at `path`, or _MISSING."""
    node = document
    for step in path:
        in_list = isinstance(step, int) and isinstance(node, list) and step < len(node)
        in_object = isinstance(step, str) and isinstance(node, dict) and step in node
        if not (in_list or in_object):
            return _MISSING
        node = node[step]
    return node


def found(value: Any) -> bool:
    return value is not _MISSING


def put(document: Any, path: tuple[Step, ...], value: Any) -> bool:
    """Set the value at `path` (its parent must exist and be an object); False when it can't be placed."""
    if not path:
        return False
    parent = get(document, path[:-1])
    last = path[-1]
    if isinstance(last, str) and isinstance(parent, dict):
        parent[last] = value
        return True
    if isinstance(last, int) and isinstance(parent, list) and last < len(parent):
        parent[last] = value
        return True
    return False


@dataclass(frozen=True)
class Reference:
    root: str  # "body" or "item"
    path: tuple[Step, ...]


@dataclass(frozen=True)
class ValueTemplate:
    """A constant, `{@body().x}` / `{@item().x}` references, or both."""

    parts: tuple[str | Reference, ...]

    @classmethod
    def parse(cls, text: str) -> ValueTemplate:
        if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
            text = text[1:-1]
        parts: list[str | Reference] = []
        position = 0
        for match in _REFERENCE.finditer(text):
            if match.start() > position:
                parts.append(text[position : match.start()])
            parts.append(Reference(match.group(1), steps(match.group(2))))
            position = match.end()
        if position < len(text):
            parts.append(text[position:])
        literal = "".join(part for part in parts if isinstance(part, str))
        if re.search(r"@[A-Za-z_][A-Za-z0-9_.]*\(", literal):
            raise TemplateUnsupported(
                "a value may only reference {@body()...} or {@item()...}: other expressions are not supported"
            )
        return cls(tuple(parts))

    def render(self, document: Any, item: Any = _MISSING) -> Any:
        """The value for `document` (and the collection's `item` being changed); _MISSING when a sole reference
        finds nothing (the property is then not set)."""

        def resolve(reference: Reference) -> Any:
            return get(document if reference.root == "body" else item, reference.path)

        if len(self.parts) == 1 and isinstance(self.parts[0], Reference):
            return resolve(self.parts[0])
        rendered = []
        for part in self.parts:
            if isinstance(part, str):
                rendered.append(part)
                continue
            value = resolve(part)
            if not found(value) or value is None:
                rendered.append("")
            else:
                rendered.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        return "".join(rendered)


def load(body: bytes, headers: list[tuple[str, str]] | dict[str, str], template_id: str) -> Any:
    """The body as JSON, or _MISSING when it isn't a JSON document this template may reshape. An encoded body
    (the operation asks the backend for identity; one that answers gzip anyway) is a 502 naming the template:
    passing it on unchanged would skip the template silently."""
    pairs = headers.items() if isinstance(headers, dict) else headers
    for name, value in pairs:
        if name.lower() == "content-encoding" and value.strip().lower() not in ("", "identity"):
            raise Problem(
                502,
                "template-failed",
                "Policy template failed",
                f"Policy template {template_id!r} can't read the backend's answer: it came {value.strip()}-encoded.",
            )
    if not body.strip():
        return _MISSING
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _MISSING
    except RecursionError:
        document = _TOO_DEEP
    if document is _TOO_DEEP or nested_deeper_than(document):
        # A hostile backend's answer; reshaping it (or dumping it again) could exhaust the recursion limit.
        raise Problem(
            502,
            "template-failed",
            "Policy template failed",
            f"Policy template {template_id!r} can't read the backend's answer: it nests deeper than {MAX_DEPTH} "
            "levels.",
        )
    return document


def dump(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class BodyTemplate(Template):
    """A template that reshapes the JSON body, in the request or the caller's answer: the body is read once,
    `reshape` changes it in place, and it is written back when `reshape` says it changed."""

    sections = frozenset({REQUEST, RESPONSE})
    reads_response_body = True

    def reshape(self, document: Any) -> bool:
        raise NotImplementedError

    def _reshaped(self, body: bytes, headers: list[tuple[str, str]] | dict[str, str]) -> bytes | None:
        document = load(body, headers, self.template_id)
        if found(document) and self.reshape(document):
            return dump(document)
        return None

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        body = self._reshaped(request.body, request.headers)
        if body is not None:
            request.body = body

    def apply_response(self, response: CallerResponse, evaluation: Evaluation) -> None:
        body = self._reshaped(response.body, response.headers)
        if body is not None:
            response.body = body
