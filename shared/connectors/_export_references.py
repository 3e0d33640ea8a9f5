"""The export's repairs of how a maker's swagger ties its parts together (_export_normalise.py runs them):
path templates and their path parameters, `$ref`s, parameter lists. Both validators check these across
objects, so they are repaired over the whole document rather than object by object.

Pure; mutates the document it is given (the export's own deep copy).
"""

from __future__ import annotations

from typing import Any

from shared.connectors._export_walk import resolve_local
from shared.connectors._operations import HTTP_METHODS, PATH_PARAMETER

_REFERRING = ("parameters", "responses")  # where a dangling `$ref` is an entry that goes, not a schema


def drop_dangling_references(document: dict[str, Any]) -> None:
    """A `$ref` to nothing in the document (a definition that isn't there, another file) can't be resolved by
    an importer. A parameter that is only such a reference goes from its list, a response that is one becomes a
    response that says nothing of its body, and a schema loses the `$ref`: what is left claims no more than
    the dangling reference told."""
    for container in ("paths", "x-ms-paths", "definitions", "parameters", "responses"):
        _drop_dangling(document.get(container), container, document)


def _drop_dangling(node: Any, key: str, document: dict[str, Any]) -> None:
    if isinstance(node, list):
        if key == "parameters":
            node[:] = [item for item in node if not _dangling(item, document)]
        for item in node:
            _drop_dangling(item, "", document)
    elif isinstance(node, dict):
        for name, value in list(node.items()):
            if str(name).startswith("x-"):
                continue  # an extension's value is no Swagger object
            if key == "responses" and _dangling(value, document):
                node[name] = {"description": ""}
            elif key not in _REFERRING and name == "$ref" and _dangling(node, document):
                del node["$ref"]
            else:
                _drop_dangling(value, str(name), document)


def _dangling(node: Any, document: dict[str, Any]) -> bool:
    return (
        isinstance(node, dict) and isinstance(node.get("$ref"), str) and resolve_local(node["$ref"], document) is None
    )


def match_path_parameters(document: dict[str, Any]) -> None:
    """A path template and its path parameters must match one to one. A `{name}` in the template that no
    parameter declares is declared, as the required string it is in a URL; a declared path parameter the
    template doesn't have goes (nothing puts it in a URL); one that isn't `required` is (no URL without it)."""
    for container in ("paths", "x-ms-paths"):
        items = document.get(container)
        for template, item in items.items() if isinstance(items, dict) else ():
            if not isinstance(item, dict):
                continue
            names = set(PATH_PARAMETER.findall(str(template).split("?", 1)[0]))
            _keep_template_parameters(item, names, document)
            shared = {p["name"] for p in _path_parameters(item.get("parameters"), document)}
            for method in HTTP_METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                _keep_template_parameters(operation, names, document)
                declared = shared | {p["name"] for p in _path_parameters(operation.get("parameters"), document)}
                missing = [
                    {"name": n, "in": "path", "required": True, "type": "string"} for n in sorted(names - declared)
                ]
                if missing:  # a `parameters` that isn't a list declares nothing: the missing ones replace it
                    listed = operation.get("parameters")
                    operation["parameters"] = [*(listed if isinstance(listed, list) else []), *missing]


def _keep_template_parameters(owner: dict[str, Any], names: set[str], document: dict[str, Any]) -> None:
    parameters = owner.get("parameters")
    if not isinstance(parameters, list):
        return
    kept = []
    for entry in parameters:
        parameter = _resolved(entry, document)
        if isinstance(parameter, dict) and parameter.get("in") == "path":
            if not (isinstance(parameter.get("name"), str) and parameter["name"] in names):
                continue
            parameter["required"] = True
        kept.append(entry)
    parameters[:] = kept


def _path_parameters(parameters: Any, document: dict[str, Any]) -> list[dict[str, Any]]:
    resolved = [_resolved(entry, document) for entry in (parameters if isinstance(parameters, list) else ())]
    return [p for p in resolved if isinstance(p, dict) and p.get("in") == "path" and isinstance(p.get("name"), str)]


def _resolved(entry: Any, document: dict[str, Any]) -> Any:
    return resolve_local(entry["$ref"], document) if isinstance(entry, dict) and "$ref" in entry else entry


def unique_parameters(document: dict[str, Any]) -> None:
    """A parameter list names each (name, location) once; a second one is a copy-paste slip both validators
    refuse, and the gateway's operation reads the first one, so the later ones go."""
    for container in ("paths", "x-ms-paths"):
        items = document.get(container)
        for item in items.values() if isinstance(items, dict) else ():
            owners = [item, *(item.get(m) for m in HTTP_METHODS)] if isinstance(item, dict) else []
            for owner in owners:
                if isinstance(owner, dict) and isinstance(owner.get("parameters"), list):
                    seen: set[tuple[str, str]] = set()
                    kept = []
                    for entry in owner["parameters"]:
                        parameter = _resolved(entry, document)
                        key = (
                            (str(parameter.get("name")), str(parameter.get("in")))
                            if isinstance(parameter, dict)
                            else None
                        )
                        if key is None or key not in seen:
                            kept.append(entry)
                        if key is not None:
                            seen.add(key)
                    owner["parameters"][:] = kept


DOCUMENT_FIXES = (drop_dangling_references, match_path_parameters, unique_parameters)
