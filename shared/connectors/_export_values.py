"""The export's repair of typed values (_export_normalise.py): `enum`, `default` and `x-ms-test-value` as
values of the type their object declares, read through local `$ref`s and `allOf` as a validator reads them.

Linear in the document, whatever a maker wrote: values are compared by a hashable key rather than pair by pair
(an enum of a hundred thousand values would take the export hours), an enum's keys are made once however many
objects refer to it, and a declaration is read through at most MAX_PARTS schemas (_export_walk.parts).

Pure; mutates the object it is given (in the export's own deep copy).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from shared.connectors._export_walk import HEADER, ITEMS, PARAMETER, SCHEMA, parts

TYPED = (PARAMETER, ITEMS, HEADER, SCHEMA)  # the kinds that declare a type, and so defaults and enums of it
_VALUES = ("enum", "default", "x-ms-test-value")
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_INVALID = object()  # a value that is no value of the declared type


def _key(value: Any) -> Hashable:
    """A JSON value as a key equal to another's when the two are the same JSON value: `true` is not `1`."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    return ("json", json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class _Declaration:
    """What a value may be: one of `types` (none: any type) and one of each of `enums` (none: any value)."""

    types: frozenset[str] = frozenset()
    enums: tuple[frozenset[Hashable], ...] = ()

    def allows(self, value: Any) -> bool:
        return _has_type(value, self.types) and all(_key(value) in enum for enum in self.enums)


class ValueTyping:
    """`type_values` over one document: each enum's keys are made once, however many objects refer to it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._enum_keys: dict[int, tuple[list[Any], frozenset[Hashable]]] = {}  # the list too: its id stays its own

    def __call__(self, kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
        """`enum`, `default` and `x-ms-test-value` are values of the declared type: one written as a string
        ("true", "5") is read as the boolean or number it unambiguously is; one that can't be (a null default, a
        default that isn't one of the enum's values, "yes" for a boolean) goes, as does an enum left empty."""
        if kind not in TYPED or (kind == PARAMETER and node.get("in") == "body") or not any(k in node for k in _VALUES):
            return
        declaration = self._declared(node)
        if isinstance(node.get("enum"), list) and declaration.types:
            values: dict[Hashable, Any] = {}
            for value in node["enum"]:
                typed = self._typed(value, _Declaration(declaration.types), None)
                if typed is not _INVALID:
                    values.setdefault(_key(typed), typed)
            if values:
                node["enum"] = list(values.values())
            else:
                del node["enum"]
            declaration = self._declared(node)
        for key in ("default", "x-ms-test-value"):
            if key in node:
                typed = self._typed(node[key], declaration, node.get("items"))
                if typed is _INVALID:
                    del node[key]
                else:
                    node[key] = typed

    def _declared(self, node: dict[str, Any]) -> _Declaration:
        """What the node declares through local `$ref`s and `allOf`: what a validator checks a default against.
        Read through too many schemas to tell, it is any value (which is then kept as it is)."""
        schemas = parts(node, self.document, ("allOf",))
        if schemas is None:
            return _Declaration()
        types: set[str] = set()
        enums = []
        for schema in schemas:
            declared = schema.get("type")
            own = {declared} if isinstance(declared, str) else set()
            if isinstance(declared, list):
                own = {t for t in declared if isinstance(t, str)}
            types = (types & own) if types and own else (types or own)
            if isinstance(schema.get("enum"), list):
                enums.append(self._keys(schema["enum"]))
        return _Declaration(frozenset(types), tuple(enums))

    def _keys(self, enum: list[Any]) -> frozenset[Hashable]:
        known = self._enum_keys.get(id(enum))
        if known is None or known[0] is not enum:
            known = self._enum_keys[id(enum)] = (enum, frozenset(_key(value) for value in enum))
        return known[1]

    def _typed(self, value: Any, declaration: _Declaration, items: Any) -> Any:
        """The value as the declaration allows it, converted from its unambiguous spelling; _INVALID if none.
        An array's elements are typed by its `items`."""
        for candidate in [value, *_conversions(value, declaration.types)]:
            if not declaration.allows(candidate):
                continue
            if isinstance(candidate, list) and isinstance(items, dict):
                inner = self._declared(items)
                elements = [self._typed(element, inner, items.get("items")) for element in candidate]
                if any(element is _INVALID for element in elements):
                    continue
                candidate = elements
            return candidate
        return _INVALID


def _conversions(value: Any, types: frozenset[str]) -> list[Any]:
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


def _has_type(value: Any, types: frozenset[str]) -> bool:
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
