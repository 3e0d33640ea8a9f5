"""Every object of a Swagger 2.0 document, with what it is: the export's normalisation (_export_normalise.py)
fixes each by its kind, as the paconn swagger schema types it.

Pure, read-only: it yields the document's own dicts (a fix may change one before its children are visited)
and never resolves a `$ref` (a referred-to object is visited where it is declared, under `definitions`,
`parameters` or `responses`). Extension values (`x-...`) are not walked: their insides are no Swagger objects.
The repairs that must read through references (a default checked against the enum its `allOf` refers to) use
`resolve_local` and `parts`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from shared.connectors._operations import HTTP_METHODS

ROOT = "root"
INFO = "info"
PLAIN = "plain"  # contact, license, externalDocs, xml, tag: Swagger objects with no x-ms- extension of their own
PATH_ITEM = "pathItem"
OPERATION = "operation"
PARAMETER = "parameter"  # its location (`in`) says which of the paconn schema's five parameter kinds it is
ITEMS = "items"  # a non-body parameter's or a header's `items` (the paconn schema's primitivesItems)
RESPONSE = "response"
HEADER = "header"
SCHEMA = "schema"

Visit = tuple[str, dict[str, Any]]


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The dict values of a dict or list; nothing for anything else."""
    values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    yield from (v for v in values if isinstance(v, dict))


def _own(node: dict[str, Any]) -> bool:
    """A declared object, not a reference to one (`{"$ref": ...}` is visited where it points)."""
    return "$ref" not in node


def walk(document: dict[str, Any]) -> Iterator[Visit]:
    yield ROOT, document
    info = document.get("info")
    if isinstance(info, dict):
        yield INFO, info
        for key in ("contact", "license"):
            if isinstance(info.get(key), dict):
                yield PLAIN, info[key]
    if isinstance(document.get("externalDocs"), dict):
        yield PLAIN, document["externalDocs"]
    for tag in _dicts(document.get("tags")):
        yield PLAIN, tag
        if isinstance(tag.get("externalDocs"), dict):
            yield PLAIN, tag["externalDocs"]
    for container in ("paths", "x-ms-paths"):
        for key, item in (document.get(container) or {}).items() if isinstance(document.get(container), dict) else ():
            if isinstance(item, dict) and key.startswith("/"):
                yield from _path_item(item)
    for schema in _dicts(document.get("definitions")):
        yield from _schema(schema)
    for parameter in _dicts(document.get("parameters")):
        yield from _parameter(parameter)
    for response in _dicts(document.get("responses")):
        yield from _response(response)


def _path_item(item: dict[str, Any]) -> Iterator[Visit]:
    yield PATH_ITEM, item
    for parameter in _dicts(item.get("parameters")):
        yield from _parameter(parameter)
    for method in HTTP_METHODS:
        operation = item.get(method)
        if isinstance(operation, dict):
            yield OPERATION, operation
            if isinstance(operation.get("externalDocs"), dict):
                yield PLAIN, operation["externalDocs"]
            for parameter in _dicts(operation.get("parameters")):
                yield from _parameter(parameter)
            for code, response in (
                operation.get("responses", {}).items() if isinstance(operation.get("responses"), dict) else ()
            ):
                if isinstance(response, dict) and not code.startswith("x-"):
                    yield from _response(response)


def _parameter(parameter: dict[str, Any]) -> Iterator[Visit]:
    if not _own(parameter):
        return
    yield PARAMETER, parameter
    if parameter.get("in") == "body":
        if isinstance(parameter.get("schema"), dict):
            yield from _schema(parameter["schema"])
    else:
        yield from _items(parameter.get("items"))


def _items(items: Any) -> Iterator[Visit]:
    while isinstance(items, dict):
        yield ITEMS, items
        items = items.get("items")


def _response(response: dict[str, Any]) -> Iterator[Visit]:
    if not _own(response):
        return
    yield RESPONSE, response
    if isinstance(response.get("schema"), dict):
        yield from _schema(response["schema"])
    for header in _dicts(response.get("headers")):
        yield HEADER, header
        yield from _items(header.get("items"))


def _schema(schema: dict[str, Any]) -> Iterator[Visit]:
    if not _own(schema):
        return
    yield SCHEMA, schema
    if isinstance(schema.get("xml"), dict):
        yield PLAIN, schema["xml"]
    if isinstance(schema.get("externalDocs"), dict):
        yield PLAIN, schema["externalDocs"]
    for key in ("properties", "allOf", "anyOf", "oneOf"):
        for inner in _dicts(schema.get(key)):
            yield from _schema(inner)
    for key in ("items", "additionalProperties", "not"):
        value = schema.get(key)
        for inner in [value] if isinstance(value, dict) else _dicts(value) if key == "items" else ():
            yield from _schema(inner)


def one_of(value: Any, names: Collection[str]) -> bool:
    """Whether a maker's value is one of these names; a list or an object (unhashable) is none of them."""
    return isinstance(value, str) and value in names


def resolve_local(reference: Any, document: dict[str, Any]) -> Any:
    """A local JSON pointer (`#/definitions/x`); None for any other reference."""
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return None
    node: Any = document
    for token in reference[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node.get(token) if isinstance(node, dict) else None
    return node


MAX_PARTS = 64  # schemas one schema is read through: real ones take a handful; a maker's fan-out of $refs isn't read


def parts(schema: Any, document: dict[str, Any], through: Sequence[str]) -> list[dict[str, Any]] | None:
    """The schema and those it is made of through local `$ref`s and the `through` keywords (`allOf`), each once
    however often it is referred to (a cycle ends); None past MAX_PARTS, which the caller reads as "unknown".
    Bounded because a maker's `allOf` of `$ref`s to schemas that are themselves such `allOf`s is a fan-out that
    multiplies at each level: read one path at a time, a small swagger would take the export years."""
    found: list[dict[str, Any]] = []
    seen: set[int] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        found.append(node)
        if len(found) > MAX_PARTS:
            return None
        if "$ref" in node:
            pending.append(resolve_local(node["$ref"], document))
        for key in through:
            inner = node.get(key)
            pending.extend(inner if isinstance(inner, list) else [inner])
    return found
