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

from collections.abc import Callable
from typing import Any

from shared.connectors._export_references import DOCUMENT_FIXES
from shared.connectors._export_values import TYPED, ValueTyping
from shared.connectors._export_walk import (
    HEADER,
    INFO,
    OPERATION,
    PARAMETER,
    PATH_ITEM,
    RESPONSE,
    ROOT,
    SCHEMA,
    one_of,
    parts,
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
_PRIMITIVES = {"string", "number", "boolean", "integer", "array"}
_WIRE_TYPES = {"path": _PRIMITIVES, "query": _PRIMITIVES, "header": _PRIMITIVES, "formData": _PRIMITIVES | {"file"}}
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
    if kind in TYPED and "format" in node and not one_of(node["format"], FORMATS):
        del node["format"]


def drop_unknown_visibility(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """x-ms-visibility is `important`, `advanced` or `internal`; anything else (an empty string, `none`) means
    the default visibility, which is what no x-ms-visibility means."""
    if "x-ms-visibility" in node and not one_of(node["x-ms-visibility"], VISIBILITIES):
        del node["x-ms-visibility"]


def describe_responses(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """A response must have a description (both validators require one); an empty one says no less than none."""
    if kind == RESPONSE and not isinstance(node.get("description"), str):
        node["description"] = ""


def drop_unnamed_operation_ids(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """An operationId is a string; a null or a number one names nothing a flow can call (the gateway names such
    an operation by method and path itself), so it goes: Swagger doesn't require one."""
    if kind == OPERATION and "operationId" in node and not isinstance(node["operationId"], str):
        del node["operationId"]


def type_wire_parameters(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """A path, query, header or form parameter is text on the wire: with no type, or one such a parameter can't
    have (`object`), it is declared as the string it is sent as."""
    location = node.get("in") if kind == PARAMETER else None
    if one_of(location, _WIRE_TYPES) and not one_of(node.get("type"), _WIRE_TYPES[location]):
        node["type"] = "string"


def stringify_info(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """The info's title and version are strings; a number written bare (`"version": 1`) is the same text."""
    if kind == INFO:
        for key in ("title", "version"):
            if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
                node[key] = str(node[key])


def drop_undeclared_required(kind: str, node: dict[str, Any], document: dict[str, Any]) -> None:
    """A schema built with `allOf` requires only properties that it or its parts declare (openapi-spec-validator
    refuses others): a required name no part describes is a leftover that nothing fills in, so it goes."""
    required = node.get("required") if kind == SCHEMA and "allOf" in node else None
    schemas = parts(node, document, ("allOf", "anyOf", "oneOf", "items", "not")) if isinstance(required, list) else None
    if schemas is None:
        return  # none, or made of too many schemas to tell: left as declared
    declared = [schema["properties"] for schema in schemas if isinstance(schema.get("properties"), dict)]
    node["required"] = [name for name in required if isinstance(name, str) and any(name in p for p in declared)]
    if not node["required"]:
        del node["required"]


FIXES: tuple[Callable[[str, dict[str, Any], dict[str, Any]], None], ...] = (
    drop_misspelt_root_fields,
    drop_unknown_extensions,
    repair_capabilities,
    stringify_info,
    give_operations_responses,
    drop_unnamed_operation_ids,
    describe_responses,
    type_wire_parameters,
    drop_undeclared_required,
    file_schema_as_binary,
    drop_unknown_formats,
    drop_unknown_visibility,
)


def normalise(document: dict[str, Any]) -> None:
    """Every fix on the document, then on each of its objects, in place."""
    for document_fix in DOCUMENT_FIXES:
        document_fix(document)
    fixes = (*FIXES, ValueTyping(document))
    for kind, node in walk(document):
        for fix in fixes:
            fix(kind, node, document)
