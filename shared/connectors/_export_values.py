"""The export's repair of typed values (_export_normalise.py): `enum`, `default` and `x-ms-test-value` as
values of the type their object declares, read through local `$ref`s and `allOf` as a validator reads them.

Pure; mutates the object it is given (in the export's own deep copy).
"""

from __future__ import annotations

import math
import re
from typing import Any

from shared.connectors._export_walk import HEADER, ITEMS, PARAMETER, SCHEMA, resolve_local

TYPED = (PARAMETER, ITEMS, HEADER, SCHEMA)  # the kinds that declare a type, and so defaults and enums of it
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def type_values(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """`enum`, `default` and `x-ms-test-value` are values of the declared type: one written as a string ("true",
    "5") is read as the boolean or number it unambiguously is; one that can't be (a null default, a default
    that isn't one of the enum's values, "yes" for a boolean) goes, as does an enum left empty."""
    if kind not in TYPED or (kind == PARAMETER and node.get("in") == "body"):
        return
    types, enum = _declared(node, document, depth=0)
    if isinstance(node.get("enum"), list) and types:
        values: list[Any] = []
        for value in node["enum"]:
            typed = _typed(value, types, None)
            if typed is not _INVALID and not any(_same(typed, v) for v in values):
                values.append(typed)
        if values:
            node["enum"] = values
        else:
            del node["enum"]
        types, enum = _declared(node, document, depth=0)
    for key in ("default", "x-ms-test-value"):
        if key in node:
            typed = _typed(node[key], types, enum, node.get("items"), document)
            if typed is _INVALID:
                del node[key]
            else:
                node[key] = typed


_INVALID = object()  # a value that is no value of the declared type


def _declared(node: dict[str, Any], document: dict[str, Any], depth: int) -> tuple[set[str], list[Any] | None]:
    """(the types a value may have, the values it may take) as the node declares them, through local `$ref`s
    and `allOf`: what a validator checks a default against. An empty set is any type; None is any value."""
    if depth > 16:  # a cycle of references: nothing more is known
        return set(), None
    types: set[str] = set()
    enum: list[Any] | None = node.get("enum") if isinstance(node.get("enum"), list) else None
    declared = node.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    parts = [resolve_local(node["$ref"], document)] if isinstance(node.get("$ref"), str) else []
    parts += [
        resolve_local(p["$ref"], document) if "$ref" in p else p for p in node.get("allOf") or () if isinstance(p, dict)
    ]
    for part in parts:
        if not isinstance(part, dict):
            continue
        part_types, part_enum = _declared(part, document, depth + 1)
        types = (types & part_types) if types and part_types else (types or part_types)
        if part_enum is not None:
            enum = [v for v in part_enum if enum is None or any(_same(v, e) for e in enum)]
    return types, enum


def _typed(value: Any, types: set[str], enum: list[Any] | None, items: Any = None, document: Any = None) -> Any:
    """The value as one of `types` (and of `enum`), converted from its unambiguous spelling; _INVALID if none."""
    candidates = [value, *_conversions(value, types)]
    for candidate in candidates:
        if _has_type(candidate, types) and (enum is None or any(_same(candidate, e) for e in enum)):
            if isinstance(candidate, list) and isinstance(items, dict) and document is not None:
                item_types, item_enum = _declared(items, document, depth=0)
                elements = [_typed(v, item_types, item_enum, items.get("items"), document) for v in candidate]
                if any(e is _INVALID for e in elements):
                    continue
                candidate = elements
            return candidate
    return _INVALID


def _conversions(value: Any, types: set[str]) -> list[Any]:
    """A value's other spellings that mean the same thing, for the declared types."""
    found: list[Any] = []
    if isinstance(value, str):
        text = value.strip()
        if "boolean" in types and text.lower() in ("true", "false"):
            found.append(text.lower() == "true")
        if types & {"integer", "number"} and _INTEGER.fullmatch(text):
            found.append(int(text))
        if "number" in types and _NUMBER.fullmatch(text) and math.isfinite(float(text)):
            found.append(float(text))
    elif isinstance(value, bool):
        if "string" in types:
            found.append("true" if value else "false")
    elif isinstance(value, int):
        if "string" in types:
            found.append(str(value))
    elif isinstance(value, float) and value.is_integer() and "integer" in types:
        found.append(int(value))
    return found


def _has_type(value: Any, types: set[str]) -> bool:
    if not types:
        return True
    checks = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
        "null": lambda v: v is None,
        "file": lambda v: True,
    }
    return any(checks.get(t, lambda v: True)(value) for t in types)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)
