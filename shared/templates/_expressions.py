"""Policy template expressions: the `@...` forms real connectors put in template parameters. Pure.

A parameter is literal text with expressions inside, e.g. `https://@connectionParameters('host')/api`:

    @connectionParameters('name')            a connection parameter's value ("" when it has none)
    @connectionParameters('name','default')  ... or `default` when the connection has no value for it
    @Request.OriginalHTTPMethod              the method the caller used
    @body()                                  the caller's request body, as text
    @headers('x')                            the caller's request header x ("" when absent)
    @queryParameters('x')                    the caller's query parameter x, decoded ("" when absent)

Anything else that looks like an expression (`@triggerBody()`, ...) makes the parameter unsupported: it is
named, never evaluated as literal text. An `@` that starts no expression (`ops@example.com`) is literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Source = Literal["literal", "connection", "method", "body", "header", "query"]
CALLER_SOURCES: frozenset[Source] = frozenset({"body", "header", "query"})  # what a caller controls

_EXPRESSION = re.compile(
    r"@(?:(?P<fn>connectionParameters|headers|queryParameters)\(\s*'(?P<arg>[^']*)'\s*(?:,\s*'(?P<default>[^']*)'\s*)?\)"
    r"|(?P<body>body\(\s*\))|(?P<method>Request\.OriginalHTTPMethod)\b)",
    re.IGNORECASE,
)
_LOOKS_LIKE_EXPRESSION = re.compile(r"@[A-Za-z_][A-Za-z0-9_.]*\(")
_FUNCTIONS: dict[str, Source] = {"connectionparameters": "connection", "headers": "header", "queryparameters": "query"}


class UnsupportedExpression(ValueError):
    """An expression form the gateway doesn't evaluate. The message names it (a maker's own text)."""


@dataclass(frozen=True)
class Part:
    source: Source
    text: str = ""  # literal: the text; connection/header/query: the name
    default: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """What an expression can read of the call in progress."""

    connection: Mapping[str, Any]  # the connection's parameter values, plain and secret
    method: str
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]  # decoded names and values, first value per name
    body: bytes


def parse(text: str) -> tuple[Part, ...]:
    """The parts of a parameter value; UnsupportedExpression naming the first unknown form."""
    parts: list[Part] = []
    position = 0
    for match in _EXPRESSION.finditer(text):
        _literal(text[position : match.start()], parts)
        if match["fn"]:
            parts.append(Part(_FUNCTIONS[match["fn"].lower()], match["arg"], match["default"]))
        elif match["body"]:
            parts.append(Part("body"))
        else:
            parts.append(Part("method"))
        position = match.end()
    _literal(text[position:], parts)
    return tuple(parts)


def _literal(text: str, parts: list[Part]) -> None:
    unknown = _LOOKS_LIKE_EXPRESSION.search(text)
    if unknown:
        raise UnsupportedExpression(f"the expression {unknown.group(0)}...) is not supported")
    if text:
        parts.append(Part("literal", text))


def sources(parts: tuple[Part, ...]) -> frozenset[Source]:
    return frozenset(part.source for part in parts)


def evaluate_part(part: Part, evaluation: Evaluation) -> str:
    if part.source == "literal":
        return part.text
    if part.source == "method":
        return evaluation.method
    if part.source == "body":
        return evaluation.body.decode("utf-8", errors="replace")
    if part.source == "connection":
        value = evaluation.connection.get(part.text)
        if value is None or value == "":
            return part.default or ""
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    found = (evaluation.headers if part.source == "header" else evaluation.query).get(part.text.lower())
    return found if found is not None else (part.default or "")


def evaluate(parts: tuple[Part, ...], evaluation: Evaluation) -> str:
    return "".join(evaluate_part(part, evaluation) for part in parts)
