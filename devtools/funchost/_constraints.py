"""Inline route constraints (`{id:int}`, `{name:alpha}`, `{x:regex(^a+$)}`) as ASP.NET Core checks them.

The Functions host routes with ASP.NET Core, so these follow its built-in constraint map: each one checks a
route value that has already been percent-decoded. Numbers are parsed culture-invariant; `int` is 32-bit.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class RouteConstraint:
    """One parsed constraint: its text as written (for messages) and the check it stands for."""

    text: str
    accepts: Callable[[str], bool]

    def __repr__(self) -> str:
        return f"RouteConstraint({self.text!r})"


def _integer_in(bounds: tuple[int, int]) -> Callable[[str], bool]:
    def accepts(value: str) -> bool:
        return bool(_INTEGER.fullmatch(value)) and bounds[0] <= int(value) <= bounds[1]

    return accepts


def _is_float(value: str) -> bool:
    return bool(_FLOAT.fullmatch(value)) and math.isfinite(float(value))


def _is_guid(value: str) -> bool:
    # Guid.TryParse takes 32 hex digits bare, hyphenated, or wrapped in {} or ().
    inner = value[1:-1] if value[:1] + value[-1:] in ("{}", "()") else value
    if len(inner) not in (32, 36):
        return False
    try:
        uuid.UUID(inner)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_alpha(value: str) -> bool:
    return bool(re.fullmatch(r"[a-zA-Z]*", value))


def _integer_argument(name: str, argument: str | None, count: int) -> list[int]:
    parts = [] if argument is None else [part.strip() for part in argument.split(",")]
    if len(parts) != count or not all(_INTEGER.fullmatch(part) for part in parts):
        raise ValueError(f"route constraint '{name}' takes {count} integer argument(s)")
    return [int(part) for part in parts]


def _length(argument: str | None) -> Callable[[str], bool]:
    if argument is not None and "," in argument:
        low, high = _integer_argument("length", argument, 2)
        return lambda value: low <= len(value) <= high
    (exact,) = _integer_argument("length", argument, 1)
    return lambda value: len(value) == exact


def _regex(argument: str | None) -> Callable[[str], bool]:
    if argument is None:
        raise ValueError("route constraint 'regex' needs a pattern")
    # ASP.NET's RegexRouteConstraint is case-insensitive and NOT anchored: authors add ^...$ themselves.
    pattern = re.compile(argument, re.IGNORECASE)
    return lambda value: pattern.search(value) is not None


def _no_argument(name: str, check: Callable[[str], bool]) -> Callable[[str | None], Callable[[str], bool]]:
    def build(argument: str | None) -> Callable[[str], bool]:
        if argument is not None:
            raise ValueError(f"route constraint '{name}' takes no argument")
        return check

    return build


def _bounded(name: str, compare: Callable[[int, list[int]], bool], count: int) -> Callable[..., Callable[[str], bool]]:
    def build(argument: str | None) -> Callable[[str], bool]:
        bounds = _integer_argument(name, argument, count)
        return lambda value: bool(_INTEGER.fullmatch(value)) and compare(int(value), bounds)

    return build


def _min_length(argument: str | None) -> Callable[[str], bool]:
    (low,) = _integer_argument("minlength", argument, 1)
    return lambda value: len(value) >= low


def _max_length(argument: str | None) -> Callable[[str], bool]:
    (high,) = _integer_argument("maxlength", argument, 1)
    return lambda value: len(value) <= high


_BUILDERS: dict[str, Callable[[str | None], Callable[[str], bool]]] = {
    "int": _no_argument("int", _integer_in(INT32_RANGE)),
    "long": _no_argument("long", _integer_in(INT64_RANGE)),
    "bool": _no_argument("bool", lambda value: value.lower() in ("true", "false")),
    "decimal": _no_argument("decimal", lambda value: bool(_DECIMAL.fullmatch(value))),
    "double": _no_argument("double", _is_float),
    "float": _no_argument("float", _is_float),
    "guid": _no_argument("guid", _is_guid),
    "datetime": _no_argument("datetime", _is_datetime),
    "alpha": _no_argument("alpha", _is_alpha),
    "required": _no_argument("required", lambda value: value != ""),
    "file": _no_argument("file", lambda value: "." in value.rsplit("/", 1)[-1]),
    "nonfile": _no_argument("nonfile", lambda value: "." not in value.rsplit("/", 1)[-1]),
    "min": _bounded("min", lambda number, bounds: number >= bounds[0], 1),
    "max": _bounded("max", lambda number, bounds: number <= bounds[0], 1),
    "range": _bounded("range", lambda number, bounds: bounds[0] <= number <= bounds[1], 2),
    "length": _length,
    "minlength": _min_length,
    "maxlength": _max_length,
    "regex": _regex,
}


def parse_constraint(text: str) -> RouteConstraint:
    """`int`, `length(1,8)`, `regex(^a$)` → a RouteConstraint; unknown names fail like the host's indexing does."""
    match = re.fullmatch(r"([A-Za-z]+)(?:\((.*)\))?", text, re.DOTALL)
    if match is None:
        raise ValueError(f"malformed route constraint '{text}'")
    name, argument = match.group(1).lower(), match.group(2)
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown route constraint '{name}'")
    return RouteConstraint(text, builder(argument))


def sample_value(constraints: tuple[RouteConstraint, ...]) -> str | None:
    """A value every constraint accepts, used to probe whether two templates overlap; None when none is found."""
    for candidate in ("x", "1", "a", "00000000-0000-0000-0000-000000000001", "true", "x.txt", "2024-01-01"):
        if all(constraint.accepts(candidate) for constraint in constraints):
            return candidate
    return None
