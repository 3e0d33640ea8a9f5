"""The export's repairs of a maker's own schema mistakes, so that the exported document validates against the
paconn swagger schema and an OpenAPI 2.0 validator and imports into Power Automate or Logic Apps.

Real makers' swaggers carry mistakes that Power Platform tolerates at run time but an importer's validation
refuses: a string default for a boolean, an operation with no responses, an extension the schema doesn't
know. Each fix below repairs one kind, and only in the exported copy: the gateway invokes from the swagger as
uploaded, so nothing here changes what a call does. A value is repaired only when its meaning is unambiguous
("true" for a boolean, "5" for an integer); otherwise the offending keyword goes. Nothing is guessed. On a
document that is already valid every fix is a no-op.

Pure; mutates the document it is given (the export's own deep copy).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from shared.connectors._export_walk import (
    HEADER,
    INFO,
    ITEMS,
    OPERATION,
    PARAMETER,
    PATH_ITEM,
    RESPONSE,
    ROOT,
    SCHEMA,
    walk,
)

# The x-ms- extensions the paconn swagger schema allows on each kind of object; it forbids any other there
# (`additionalProperties: false`, vendor extensions only as `^x-(?!ms-)`).
_PARAMETER_EXTENSIONS = {
    "x-ms-dynamic-list",
    "x-ms-dynamic-values",
    "x-ms-enum-values",
    "x-ms-localizeDefaultValue",
    "x-ms-parameter-location",
    "x-ms-summary",
    "x-ms-test-value",
    "x-ms-trigger-value",
    "x-ms-visibility",
}
_QUERY_EXTENSIONS = _PARAMETER_EXTENSIONS | {"x-ms-dynamic-tree", "x-ms-url-encoding"}
ALLOWED_EXTENSIONS: dict[str, set[str]] = {
    # x-ms-paths isn't the paconn schema's, but it declares operations the gateway runs: the export keeps it.
    ROOT: {"x-ms-capabilities", "x-ms-connector-metadata", "x-ms-docs", "x-ms-paths"},
    INFO: {"x-ms-api-annotation", "x-ms-deployment-version"},
    PATH_ITEM: {"x-ms-notification-content"},
    OPERATION: {
        "x-ms-api-annotation",
        "x-ms-capabilities",
        "x-ms-no-generic-test",
        "x-ms-notification",
        "x-ms-operation-context",
        "x-ms-pageable",
        "x-ms-safe-operation",
        "x-ms-summary",
        "x-ms-trigger",
        "x-ms-trigger-hint",
        "x-ms-trigger-metadata",
        "x-ms-visibility",
    },
    RESPONSE: {"x-ms-summary"},
    HEADER: {"x-ms-summary", "x-ms-visibility"},
    "parameter:body": {
        "x-ms-dynamic-list",
        "x-ms-dynamic-values",
        "x-ms-summary",
        "x-ms-test-value",
        "x-ms-visibility",
    },
    "parameter:header": _PARAMETER_EXTENSIONS,
    "parameter:formData": _PARAMETER_EXTENSIONS,
    "parameter:query": _QUERY_EXTENSIONS,
    "parameter:path": _QUERY_EXTENSIONS | {"x-ms-skip-url-encoding"},
    SCHEMA: {
        "x-ms-dynamic-list",
        "x-ms-dynamic-properties",
        "x-ms-dynamic-schema",
        "x-ms-dynamic-tree",
        "x-ms-dynamic-values",
        "x-ms-enum",
        "x-ms-enum-values",
        "x-ms-localizeDefaultValue",
        "x-ms-media-kind",
        "x-ms-notification-url",
        "x-ms-summary",
        "x-ms-test-value",
        "x-ms-visibility",
    },
}
# The Swagger 2.0 root's fixed fields: anything else that isn't an extension is a misspelling (`basepath`).
_ROOT_FIELDS = {
    "swagger",
    "info",
    "host",
    "basePath",
    "schemes",
    "consumes",
    "produces",
    "paths",
    "definitions",
    "parameters",
    "responses",
    "security",
    "securityDefinitions",
    "tags",
    "externalDocs",
}
# The formats the paconn schema knows (Swagger's, plus Power Platform's date-no-tz and html).
FORMATS = {
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "binary",
    "date",
    "date-time",
    "password",
    "date-no-tz",
    "email",
    "html",
    "uri",
    "uuid",
}
VISIBILITIES = {"important", "advanced", "internal"}
# What the paconn schema allows in x-ms-capabilities at the document's root, member by member.
_CAPABILITIES = {
    "file-picker": {
        "open",
        "browse",
        "value-title",
        "value-collection",
        "value-folder-property",
        "value-media-property",
    },
    "testConnection": {"operationId", "parameters"},
}
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_TYPED = (PARAMETER, ITEMS, HEADER, SCHEMA)  # the kinds that declare a type, and so defaults and enums of it


def _parameter_kind(kind: str, node: dict[str, Any]) -> str:
    return f"parameter:{node.get('in')}" if kind == PARAMETER else kind


def drop_unknown_extensions(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """An x-ms- key the paconn schema doesn't allow on this kind of object (a newer or misspelt extension,
    `x-ms-openai-data`, `x-ms-sumamry`, `x-ms-url-encoding` on a header) fails the import: it goes. Power
    Platform ignores extensions it doesn't know, so the designer shows the same thing without it."""
    allowed = ALLOWED_EXTENSIONS.get(_parameter_kind(kind, node), set())
    for key in [k for k in node if isinstance(k, str) and k.startswith("x-ms-") and k not in allowed]:
        del node[key]


def drop_misspelt_root_fields(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """A root member that is neither a Swagger field nor an extension (`basepath` beside `basePath`) is a
    misspelling both validators refuse; nothing reads it, so it goes."""
    if kind == ROOT:
        for key in [k for k in node if k not in _ROOT_FIELDS and not str(k).startswith("x-")]:
            del node[key]


def repair_capabilities(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """x-ms-capabilities at the root lists only what the paconn schema knows (a file picker's `value-path`
    belongs in x-ms-dynamic-values, not here): unknown members go, and a capability left without its
    required part (`open`, `operationId`) goes whole."""
    capabilities = node.get("x-ms-capabilities") if kind == ROOT else None
    if not isinstance(capabilities, dict):
        return
    for name in list(capabilities):
        members = _CAPABILITIES.get(name)
        value = capabilities[name]
        if members is None or not isinstance(value, dict):
            del capabilities[name]
            continue
        for key in [k for k in value if k not in members]:
            del value[key]
        if not ({"open", "operationId"} & set(value)):
            del capabilities[name]


def give_operations_responses(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """Swagger requires an operation to declare at least one response; a maker's `"responses": {}` (or none)
    says nothing about the answer, which is what a `default` response with no schema says too."""
    if kind != OPERATION:
        return
    responses = node.get("responses")
    if not isinstance(responses, dict) or not any(not str(code).startswith("x-") for code in responses):
        extensions = (
            {k: v for k, v in responses.items() if str(k).startswith("x-")} if isinstance(responses, dict) else {}
        )
        node["responses"] = {"default": {"description": "default"}, **extensions}


def file_schema_as_binary(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """`"type": "file"` in a schema (a response that is a file) is Swagger 2.0's way of saying binary content,
    which the paconn schema allows only bare and openapi-spec-validator not at all; `string` with format
    `binary` is the same thing in a form both accept."""
    if kind == SCHEMA and node.get("type") == "file":
        node["type"] = "string"
        node["format"] = "binary"


def drop_unknown_formats(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """A format the paconn schema doesn't know (`phone`, `guid`, an empty string) fails the import; a format is
    a hint for editors and validators, and Power Platform treats an unknown one as none, so it goes."""
    if kind in _TYPED and "format" in node and node["format"] not in FORMATS:
        del node["format"]


def drop_unknown_visibility(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """x-ms-visibility is `important`, `advanced` or `internal`; anything else (an empty string, `none`) means
    the default visibility, which is what no x-ms-visibility means."""
    if "x-ms-visibility" in node and node["x-ms-visibility"] not in VISIBILITIES:
        del node["x-ms-visibility"]


def type_values(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """`enum`, `default` and `x-ms-test-value` are values of the declared type: one written as a string ("true",
    "5") is read as the boolean or number it unambiguously is; one that can't be (a null default, a default
    that isn't one of the enum's values, "yes" for a boolean) goes, as does an enum left empty."""
    if kind not in _TYPED or (kind == PARAMETER and node.get("in") == "body"):
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


FIXES: tuple[Callable[[str, dict[str, Any], dict[str, Any]], None], ...] = (
    drop_misspelt_root_fields,
    drop_unknown_extensions,
    repair_capabilities,
    give_operations_responses,
    file_schema_as_binary,
    drop_unknown_formats,
    drop_unknown_visibility,
    type_values,
)


def normalise(document: dict[str, Any]) -> None:
    """Every fix on every object of the document, in place."""
    for kind, node in walk(document):
        for fix in FIXES:
            fix(kind, node, document)


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
    parts = [_resolve(node["$ref"], document)] if isinstance(node.get("$ref"), str) else []
    parts += [
        _resolve(p["$ref"], document) if "$ref" in p else p for p in node.get("allOf") or () if isinstance(p, dict)
    ]
    for part in parts:
        if not isinstance(part, dict):
            continue
        part_types, part_enum = _declared(part, document, depth + 1)
        types = (types & part_types) if types and part_types else (types or part_types)
        if part_enum is not None:
            enum = [v for v in part_enum if enum is None or any(_same(v, e) for e in enum)]
    return types, enum


def _resolve(reference: Any, document: dict[str, Any]) -> Any:
    """A local JSON pointer (`#/definitions/x`); None for any other reference."""
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return None
    node: Any = document
    for token in reference[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node.get(token) if isinstance(node, dict) else None
    return node


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
