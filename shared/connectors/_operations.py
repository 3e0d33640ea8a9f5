"""A connector's operations, as its swagger declares them: what an invocation may call.

Kept at upload from `paths` and `x-ms-paths` (the latter lets one path carry several operations told
apart by fixed query values, `/items?op=list`). Each operation keeps what the gateway matches on
(method and path template) and what makers and flows see (operationId, summary, parameters,
`x-ms-trigger`, `x-ms-notification-url`, `x-ms-visibility`). Path templates are relative to basePath,
as Power Platform and APIM read them.

Pure. Real makers' swaggers are loose: an entry that can't be an operation is left out with a warning
(a JSON pointer and why), never a failed upload of a file that works in Power Platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from typing import Any

from shared.connectors._errors import ErrorList, json_pointer

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
PATH_PARAMETER = re.compile(r"\{([^{}/]+)\}")
_SWAGGER_PARAMETER_LOCATIONS = ("path", "query", "header", "body", "formData")
MAX_OPERATIONS = 1000


@dataclass(frozen=True)
class OperationParameter:
    name: str
    location: str  # "path" | "query" | "header" | "body" | "formData"
    type: str  # swagger type ("string", "integer", "number", "boolean", "array", "object", "file"); "" for body
    required: bool
    format: str = ""


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # the template relative to basePath, as declared: "/items/{id}"; x-ms-paths keep their "?a=b"
    summary: str
    parameters: tuple[OperationParameter, ...]
    trigger: str | None  # x-ms-trigger: "single", "batch" or another value as declared
    notification_url: bool  # a webhook trigger: a parameter (or a property of its body) carries x-ms-notification-url
    visibility: str | None  # x-ms-visibility: "important", "advanced", "internal"
    next_link_name: str | None = None  # x-ms-pageable nextLinkName: the answer's property naming the next page

    def parameter(self, name: str, location: str) -> OperationParameter | None:
        return next((p for p in self.parameters if p.name == name and p.location == location), None)


def _resolve(raw: Any, api_definition: dict[str, Any]) -> Any:
    """A shared parameter (`{"$ref": "#/parameters/x"}`) as declared under `parameters`; anything else as is."""
    if isinstance(raw, dict) and isinstance(raw.get("$ref"), str) and raw["$ref"].startswith("#/parameters/"):
        shared = api_definition.get("parameters")
        return shared.get(raw["$ref"].removeprefix("#/parameters/")) if isinstance(shared, dict) else None
    return raw


_NOTIFICATION_URL_DEPTH = 16  # how deep in a body schema a callback URL property is looked for
# How many schemas of one body are looked at: real ones take under 150 (the corpus's callback URLs are among the
# first 13). Each operation reads its own body, so without a bound a hostile upload of a thousand operations that
# all refer to one huge schema would read it a thousand times.
_NOTIFICATION_URL_SCHEMAS = 1000


def _is_notification_url(node: dict[str, Any]) -> bool:
    return node.get("x-ms-notification-url") in (True, "true")


def _carries_notification_url(parameter: dict[str, Any], api_definition: dict[str, Any]) -> bool:
    """The parameter is the flow's callback URL, or (most real webhook triggers: Stormboard, CiviQ, SignNow) its
    body schema has a property that is, directly or through `#/definitions/...` (each definition read once)."""
    if _is_notification_url(parameter):
        return True
    definitions = api_definition.get("definitions")
    definitions = definitions if isinstance(definitions, dict) else {}
    seen: set[str] = set()
    pending: list[tuple[Any, int]] = [(parameter.get("schema"), 0)]
    looked = 0
    while pending:
        schema, depth = pending.pop()
        reference = schema.get("$ref") if isinstance(schema, dict) else None
        if isinstance(reference, str) and reference.startswith("#/definitions/"):
            name = reference.removeprefix("#/definitions/")
            if name in seen:  # a recursive schema, or one referred to twice
                continue
            seen.add(name)
            schema, depth = definitions.get(name), depth + 1
        if not isinstance(schema, dict) or depth > _NOTIFICATION_URL_DEPTH:
            continue
        properties = schema.get("properties")
        for child in chain(properties.values() if isinstance(properties, dict) else (), [schema.get("items")]):
            if not isinstance(child, dict):
                continue
            looked += 1
            if looked > _NOTIFICATION_URL_SCHEMAS:
                return False
            if _is_notification_url(child):
                return True
            pending.append((child, depth + 1))
    return False


def _parameters(raw_lists: list[Any], api_definition: dict[str, Any]) -> tuple[tuple[OperationParameter, ...], bool]:
    """The parameters (an operation's own win over its path's of the same name and location), and whether one
    carries x-ms-notification-url."""
    found: dict[tuple[str, str], OperationParameter] = {}
    notification = False
    for raw_list in raw_lists:
        for raw in raw_list if isinstance(raw_list, list) else []:
            parameter = _resolve(raw, api_definition)
            if not isinstance(parameter, dict):
                continue
            name, location = parameter.get("name"), parameter.get("in")
            if not isinstance(name, str) or location not in _SWAGGER_PARAMETER_LOCATIONS:
                continue
            notification = notification or _carries_notification_url(parameter, api_definition)
            kind = parameter.get("type")
            fmt = parameter.get("format")
            found[(name, location)] = OperationParameter(
                name=name,
                location=location,
                type=kind if isinstance(kind, str) else "",
                required=parameter.get("required") is True or location == "path",
                format=fmt if isinstance(fmt, str) else "",
            )
    return tuple(found.values()), notification


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _operations_of(
    paths: Any, section: str, api_definition: dict[str, Any], warnings: ErrorList
) -> list[tuple[Operation, str]]:
    if paths is None:
        return []
    if not isinstance(paths, dict):
        warnings.append({"pointer": json_pointer("apiDefinition", section), "detail": "Not an object of paths."})
        return []
    found: list[tuple[Operation, str]] = []
    for path, item in paths.items():
        pointer = json_pointer("apiDefinition", section, path)
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(item, dict):
            warnings.append({"pointer": pointer, "detail": "Left out: a path starts with '/' and maps to an object."})
            continue
        for method in HTTP_METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            if not isinstance(raw, dict):
                warnings.append({"pointer": f"{pointer}/{method}", "detail": "Left out: not an object."})
                continue
            parameters, notification = _parameters([item.get("parameters"), raw.get("parameters")], api_definition)
            operation_id = _text(raw.get("operationId")) or f"{method.upper()} {path}"
            found.append(
                (
                    Operation(
                        operation_id=operation_id,
                        method=method.upper(),
                        path=path,
                        summary=_text(raw.get("summary")) or "",
                        parameters=parameters,
                        trigger=_text(raw.get("x-ms-trigger")),
                        notification_url=notification,
                        visibility=_text(raw.get("x-ms-visibility")),
                        next_link_name=_next_link_name(raw.get("x-ms-pageable")),
                    ),
                    f"{pointer}/{method}",
                )
            )
    return found


def _next_link_name(pageable: Any) -> str | None:
    """x-ms-pageable's nextLinkName ("nextLink" when the extension is there without one, as Power Platform reads it)."""
    if not isinstance(pageable, dict):
        return None
    name = pageable.get("nextLinkName", "nextLink")
    return name if isinstance(name, str) and name else None


def parse_operations(api_definition: dict[str, Any], warnings: ErrorList) -> tuple[Operation, ...]:
    """Every operation of `paths` and `x-ms-paths`. `warnings` collects warnings: left-out entries, a second
    operation under an operationId already used (templates name operations by id: the first one keeps it)."""
    found = [
        *_operations_of(api_definition.get("paths"), "paths", api_definition, warnings),
        *_operations_of(api_definition.get("x-ms-paths"), "x-ms-paths", api_definition, warnings),
    ]
    if len(found) > MAX_OPERATIONS:
        detail = f"Only the first {MAX_OPERATIONS} operations are kept."
        warnings.append({"pointer": "/apiDefinition/paths", "detail": detail})
        found = found[:MAX_OPERATIONS]
    seen: set[str] = set()
    kept: list[Operation] = []
    for operation, pointer in found:
        if operation.operation_id.lower() in seen:
            detail = "The operationId is used twice; this operation is left out."
            warnings.append({"pointer": f"{pointer}/operationId", "detail": detail})
            continue
        seen.add(operation.operation_id.lower())
        kept.append(operation)
    return tuple(kept)


def operation_to_record(operation: Operation) -> dict[str, Any]:
    return {
        "operation_id": operation.operation_id,
        "method": operation.method,
        "path": operation.path,
        "summary": operation.summary,
        "parameters": [
            {"name": p.name, "location": p.location, "type": p.type, "required": p.required, "format": p.format}
            for p in operation.parameters
        ],
        "trigger": operation.trigger,
        "notification_url": operation.notification_url,
        "visibility": operation.visibility,
        "next_link_name": operation.next_link_name,
    }


def operation_from_record(record: dict[str, Any]) -> Operation:
    return Operation(
        operation_id=record["operation_id"],
        method=record["method"],
        path=record["path"],
        summary=record["summary"],
        parameters=tuple(OperationParameter(**p) for p in record["parameters"]),
        trigger=record["trigger"],
        notification_url=record["notification_url"],
        visibility=record["visibility"],
        next_link_name=record.get("next_link_name"),  # records stored before it was kept have none
    )
