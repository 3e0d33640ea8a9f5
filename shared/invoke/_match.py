"""Stage 1, match the operation: method plus path template, relative to basePath. Pure.

Each declared operation compiles to a pattern over the guarded (still percent-encoded) path: literal
text as declared, `{name}` as one segment or part of one. The most specific template wins (the most
literal characters; an x-ms-paths template's fixed query values count as more). Path parameter values
are decoded once and checked against their declared type; routing templates get them still encoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from shared import problems
from shared.connectors._operations import PATH_PARAMETER, Operation

_INTEGER = re.compile(r"[+-]?\d{1,19}")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


@dataclass(frozen=True)
class MatchedOperation:
    operation: Operation
    path_values: Mapping[str, str]  # raw, as received (percent-encoding intact)
    decoded: Mapping[str, str]  # decoded once, type-checked


@dataclass(frozen=True)
class _Route:
    operation: Operation
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    query: tuple[tuple[str, str], ...]  # x-ms-paths: fixed query values the call must carry
    specificity: int


def _compile(operation: Operation) -> _Route:
    template, _, fixed_query = operation.path.partition("?")
    names: list[str] = []
    pattern = ""
    position = 0
    for match in PATH_PARAMETER.finditer(template):
        pattern += re.escape(template[position : match.start()]) + "([^/]+?)"
        names.append(match.group(1))
        position = match.end()
    literal = template[position:]
    pattern += re.escape(literal.rstrip("/") if literal != "/" else literal) + "/?"
    query = tuple(parse_qsl(fixed_query, keep_blank_values=True))
    specificity = len(PATH_PARAMETER.sub("", template)) * 4 + len(query)
    return _Route(operation, re.compile(pattern, re.IGNORECASE), tuple(names), query, specificity)


def _valid(value: str, swagger_type: str, swagger_format: str) -> bool:
    if swagger_type == "integer":
        return bool(_INTEGER.fullmatch(value))
    if swagger_type == "number":
        return bool(_NUMBER.fullmatch(value))
    if swagger_type == "boolean":
        return value.lower() in ("true", "false")
    if swagger_format == "uuid":
        return bool(_UUID.fullmatch(value))
    return value != ""


class OperationTable:
    """A connector's operations, ready to match calls against."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        routes = [_compile(operation) for operation in operations]
        self._routes = sorted(routes, key=lambda route: -route.specificity)
        self.operations = tuple(route.operation for route in self._routes)
        # Per method, most specific first: a call tries only its own method's routes (built once, not per call).
        self._by_method: dict[str, list[_Route]] = {}
        for route in self._routes:
            self._by_method.setdefault(route.operation.method, []).append(route)

    def __bool__(self) -> bool:
        return bool(self._routes)

    def match(self, method: str, path: str, raw_query: str) -> MatchedOperation | None:
        """The operation for a call (`path`: guarded, relative to basePath), or None when none is declared."""
        path = path or "/"
        query: set[tuple[str, str]] | None = None  # parsed only when a route's fixed query values need it
        for route in self._by_method.get(method.upper(), ()):
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.query:
                if query is None:
                    query = set(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else set()
                if not all(pair in query for pair in route.query):
                    continue
            raw = dict(zip(route.names, found.groups(), strict=True))
            return MatchedOperation(route.operation, raw, _decoded(route.operation, raw))
        return None


def _decoded(operation: Operation, raw: Mapping[str, str]) -> dict[str, str]:
    decoded: dict[str, str] = {}
    for name, value in raw.items():
        text = unquote(value)  # once: a %2F in a value is a slash in the value, never a segment break
        parameter = operation.parameter(name, "path")
        swagger_type = parameter.type if parameter else "string"
        swagger_format = parameter.format if parameter else ""
        if not _valid(text, swagger_type, swagger_format):
            expected = f"{swagger_type} ({swagger_format})" if swagger_format else swagger_type
            raise problems.Problem(
                400,
                "path-parameter-invalid",
                "Path parameter invalid",
                f"Path parameter {name!r} of operation {operation.operation_id!r} must be a {expected}.",
            )
        decoded[name] = text
    return decoded
