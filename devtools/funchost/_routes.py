"""Route templates as the Functions host's ASP.NET Core routing reads them: compile, match, order. Pure, no I/O.

Grammar: segments split on `/`; a segment is literal text (matched case-insensitively), `{name}`,
`{name?}`, `{name=default}`, `{name:c1:c2(arg)}` or a `{*name}` / `{**name}` catch-all (last segment only;
matches the empty rest too). Several parts in one segment (`{file}.{ext}`) work as well. `{{` and `}}` are
literal braces.

Values are matched against the percent-decoded path like Kestrel's: everything is decoded except `%2F`,
which stays encoded so that it cannot split a segment. That holds for the catch-all value too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar
from urllib.parse import unquote

from devtools.funchost._constraints import RouteConstraint, parse_constraint, sample_value

T = TypeVar("T")
RouteOrder = Literal["precedence", "function-name"]
_ENCODED_SLASH = re.compile(r"(%2[fF])")


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[RouteConstraint, ...] = ()

    def accepts(self, value: str) -> bool:
        return all(constraint.accepts(value) for constraint in self.constraints)


Part = str | Parameter  # a str part is literal text


@dataclass(frozen=True)
class Segment:
    parts: tuple[Part, ...]

    @property
    def parameter(self) -> Parameter | None:
        """The parameter when the segment is exactly one, else None."""
        only = self.parts[0] if len(self.parts) == 1 else None
        return only if isinstance(only, Parameter) else None

    @property
    def can_be_absent(self) -> bool:
        parameter = self.parameter
        return parameter is not None and (parameter.optional or parameter.catch_all or parameter.default is not None)

    @property
    def precedence_digit(self) -> int:
        # ASP.NET Core's RoutePrecedence.ComputeInbound: lower digits are tried first.
        if len(self.parts) > 1:
            return 2
        parameter = self.parameter
        if parameter is None:
            return 1
        base = 5 if parameter.catch_all else 3
        return base if parameter.constraints else base + 1

    def match(self, decoded: str, values: dict[str, str]) -> bool:
        """Matches one non-empty request segment, adding captured values; False leaves `values` as it was."""
        parameter = self.parameter
        if parameter is not None:
            if decoded == "" or not parameter.accepts(decoded):
                return False
            values[parameter.name] = decoded
            return True
        if len(self.parts) == 1:
            return decoded.lower() == str(self.parts[0]).lower()
        return self._match_complex(decoded, values)

    def _match_complex(self, decoded: str, values: dict[str, str]) -> bool:
        found = _complex_pattern(self.parts).fullmatch(decoded)
        if found is None:
            return False
        captured: dict[str, str] = {}
        for index, part in enumerate(self.parts):
            if not isinstance(part, Parameter):
                continue
            value = found.group(f"p{index}")
            if value is None:
                if part.default is not None:
                    captured[part.name] = part.default
            elif part.accepts(value):
                captured[part.name] = value
            else:
                return False
        values.update(captured)
        return True


def _complex_pattern(parts: tuple[Part, ...]) -> re.Pattern[str]:
    # Greedy groups make the last literal split the segment, as ASP.NET's right-to-left matching does.
    pieces = [re.escape(part) if isinstance(part, str) else f"(?P<p{index}>.+)" for index, part in enumerate(parts)]
    last = parts[-1]
    if isinstance(last, Parameter) and last.optional and len(parts) > 1 and isinstance(parts[-2], str):
        pieces[-2:] = [f"(?:{pieces[-2]}{pieces[-1]})?"]
    return re.compile("".join(pieces), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    segments: tuple[Segment, ...]

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(segment.precedence_digit for segment in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a raw request path (`/api/a%20b/c`, no query), or None when it does not match."""
        raw = path[1:] if path.startswith("/") else path
        segments = raw.split("/") if raw else []
        trailing_slash = len(segments) > 1 and segments[-1] == ""
        if trailing_slash:
            segments.pop()  # ASP.NET Core ignores one trailing slash
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            parameter = segment.parameter
            if parameter is not None and parameter.catch_all:
                rest = "/".join(segments[index:]) + ("/" if trailing_slash and index < len(segments) else "")
                return values if _capture_rest(parameter, decode_path_segment(rest), values) else None
            if index >= len(segments):
                if not segment.can_be_absent:
                    return None
                if parameter is not None and parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            if not segment.match(decode_path_segment(segments[index]), values):
                return None
        return values if len(segments) <= len(self.segments) else None

    def sample_path(self) -> str | None:
        """One path this template matches (parameters filled with sample values), or None if none is found."""
        pieces: list[str] = []
        for segment in self.segments:
            text = ""
            for part in segment.parts:
                value = part if isinstance(part, str) else part.default or sample_value(part.constraints)
                if value is None:
                    return None
                text += value
            pieces.append(text)
        return "/" + "/".join(pieces)


def _capture_rest(parameter: Parameter, value: str, values: dict[str, str]) -> bool:
    # An empty catch-all yields no route value (null in ASP.NET), so the key is absent from route_params.
    if value:
        if not parameter.accepts(value):
            return False
        values[parameter.name] = value
    elif parameter.default is not None:
        values[parameter.name] = parameter.default
    return True


def decode_path_segment(raw: str) -> str:
    """Percent-decodes like Kestrel does for the request path: every escape except `%2F`."""
    return "".join(
        piece if _ENCODED_SLASH.fullmatch(piece) else unquote(piece, errors="replace")
        for piece in _ENCODED_SLASH.split(raw)
    )


def join_route(prefix: str, route: str) -> str:
    """`api` + `/items/{id}` → `api/items/{id}`; an empty prefix leaves the route alone."""
    return "/".join(piece.strip("/") for piece in (prefix, route.removeprefix("~")) if piece.strip("/"))


def compile_template(text: str) -> RouteTemplate:
    """Parses a route template; raises ValueError for what the host would reject when indexing."""
    segments = tuple(Segment(_parse_segment(piece, text)) for piece in _split_segments(text.strip("/")))
    names: set[str] = set()
    for position, segment in enumerate(segments):
        is_last = position == len(segments) - 1
        for part in segment.parts:
            if not isinstance(part, Parameter):
                continue
            if part.name.lower() in names:
                raise ValueError(f"route '{text}' uses parameter '{part.name}' twice")
            names.add(part.name.lower())
            if part.catch_all and (not is_last or len(segment.parts) > 1):
                raise ValueError(f"route '{text}': a catch-all parameter must be the whole last segment")
            if part.optional and not is_last:
                raise ValueError(f"route '{text}': an optional parameter must be in the last segment")
    return RouteTemplate(text, segments)


def _split_segments(text: str) -> list[str]:
    if not text:
        return []
    pieces, current, depth = [], "", 0
    for char in text:
        if char == "/" and depth == 0:
            pieces.append(current)
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        current += char
    pieces.append(current)
    if any(piece == "" for piece in pieces):
        raise ValueError(f"route '{text}' has an empty segment")
    return pieces


def _parse_segment(piece: str, template: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    literal, index = "", 0
    while index < len(piece):
        pair = piece[index : index + 2]
        if pair in ("{{", "}}"):
            literal += pair[0]
            index += 2
        elif piece[index] == "{":
            body, index = _read_parameter(piece, index + 1, template)
            if literal:
                parts.append(literal)
                literal = ""
            if parts and isinstance(parts[-1], Parameter):
                raise ValueError(f"route '{template}': two parameters need literal text between them")
            parts.append(_parse_parameter(body, template))
        elif piece[index] == "}":
            raise ValueError(f"route '{template}' has an unmatched '}}'")
        else:
            literal += piece[index]
            index += 1
    if literal:
        parts.append(literal)
    return tuple(parts)


def _read_parameter(piece: str, start: int, template: str) -> tuple[str, int]:
    body, index = "", start
    while index < len(piece):
        if piece[index] == "}":
            if piece[index : index + 2] == "}}":
                body += "}"
                index += 2
                continue
            return body, index + 1
        if piece[index : index + 2] == "{{":
            body += "{"
            index += 2
            continue
        body += piece[index]
        index += 1
    raise ValueError(f"route '{template}' has an unclosed '{{'")


def _parse_parameter(body: str, template: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    head, *defaults = _split_top_level(body, "=")
    default = "=".join(defaults) if defaults else None
    optional = head.endswith("?")
    head = head.removesuffix("?")
    name, *constraint_texts = _split_top_level(head, ":")
    if not re.fullmatch(r"[^{}/?*=:\s]+", name):
        raise ValueError(f"route '{template}' has an invalid parameter name '{name}'")
    if catch_all and optional:
        raise ValueError(f"route '{template}': a catch-all parameter cannot be optional")
    if optional and default is not None:
        raise ValueError(f"route '{template}': an optional parameter cannot have a default")
    constraints = tuple(parse_constraint(text) for text in constraint_texts)
    return Parameter(name, optional, catch_all, default, constraints)


def _split_top_level(text: str, separator: str) -> list[str]:
    """Splits on `separator` outside parentheses (a regex constraint may contain ':' or '=')."""
    pieces, current, depth = [], "", 0
    for char in text:
        if char == separator and depth == 0:
            pieces.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    pieces.append(current)
    return pieces


@dataclass(frozen=True)
class Route(Generic[T]):
    """One HTTP function's route: `methods` None means every method."""

    name: str
    template: RouteTemplate
    methods: frozenset[str] | None
    target: T

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


def _order_key(route: Route[T], order: RouteOrder) -> tuple[object, ...]:
    if order == "function-name":
        return (route.name.lower(),)
    return (route.template.precedence, route.template.text.lower(), route.name.lower())


class RouteTable(Generic[T]):
    """Tries routes in order; the first whose template matches AND whose methods allow the request wins.

    A route whose methods do not allow the request is skipped like any other non-match, so a known path
    with an unsupported method ends in 404, not 405: the host adds each HTTP function as an ASP.NET route
    with an HTTP-method constraint (azure-functions-host#10098; HEAD on a GET-only function is 404 too, #11625).
    """

    def __init__(self, routes: Iterable[Route[T]], order: RouteOrder = "precedence") -> None:
        self.order = order
        self.routes: tuple[Route[T], ...] = tuple(sorted(routes, key=lambda route: _order_key(route, order)))

    def resolve(self, method: str, path: str) -> tuple[Route[T], dict[str, str]] | None:
        for route in self.routes:
            if not route.allows(method):
                continue
            values = route.template.match(path)
            if values is not None:
                return route, values
        return None


def find_order_conflicts(routes: Sequence[Route[T]]) -> list[str]:
    """Pairs of overlapping routes that precedence order and the real host's function-name order resolve differently.

    Today's Functions host tries routes in function-name order, not by ASP.NET precedence
    (azure-functions-host#9876, #3153), so such a pair works here but may call the other function on Azure.
    """
    by_precedence = RouteTable(routes, "precedence").routes
    name_rank = {id(route): rank for rank, route in enumerate(RouteTable(routes, "function-name").routes)}
    conflicts = []
    for position, first in enumerate(by_precedence):
        for second in by_precedence[position + 1 :]:
            if name_rank[id(first)] < name_rank[id(second)] or not _methods_overlap(first, second):
                continue
            overlapping = _shared_path(first.template, second.template)
            if overlapping is not None:
                conflicts.append(
                    f"'{overlapping}' matches both {first.name} ({first.template.text}) and {second.name} "
                    f"({second.template.text}): this host calls {first.name}, the Functions host tries "
                    f"routes in function-name order and would call {second.name}"
                )
    return conflicts


def _methods_overlap(first: Route[T], second: Route[T]) -> bool:
    return first.methods is None or second.methods is None or bool(first.methods & second.methods)


def _shared_path(first: RouteTemplate, second: RouteTemplate) -> str | None:
    for candidate in (first.sample_path(), second.sample_path()):
        if candidate is not None and first.match(candidate) is not None and second.match(candidate) is not None:
            return candidate
    return None
