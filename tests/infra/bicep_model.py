"""Reads the Bicep templates in infra/ with pycep-parser and answers questions about them.

pycep turns a template into nested dicts. Literals and identifiers both come out as plain
strings, so expressions are rendered back to compact Bicep-like text (`render`) for
assertions such as "AZURE_CLIENT_ID is identity.outputs.clientId".
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
MAIN_BICEP = INFRA_DIR / "main.bicep"
MODULES_DIR = INFRA_DIR / "modules"

# pycep's names for Bicep functions that tests meet; others render as their pycep name.
_FUNCTION_NAMES = {"subscription_resource_id": "subscriptionResourceId", "to_lower": "toLower"}


def bicep_files() -> list[Path]:
    return sorted(INFRA_DIR.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def module_template(name: str) -> dict[str, Any]:
    return parse(MODULES_DIR / f"{name}.bicep")


def unquote(key: str) -> str:
    """Object keys keep their quotes in pycep's output when the Bicep source quoted them."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The body of a resource or module, without its `if (...)` condition or `for` loop."""
    config = declaration["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def condition(declaration: dict[str, Any]) -> str | None:
    """The `if (...)` condition of a resource or module, rendered; None when it has none."""
    raw = declaration["config"].get("condition")
    return None if raw is None else render(raw)


def render(expression: Any) -> Any:
    """Bicep-like text for an expression; dicts and lists of plain values are returned as they are."""
    if not isinstance(expression, dict):
        if isinstance(expression, list):
            return [render(item) for item in expression]
        return expression
    if "operator" in expression:
        operator = expression["operator"]
        operands = operator["operands"]
        if operator["type"] == "property_accessor":
            return f"{render(operands['operand_1'])}.{render(operands['operand_2'])}"
        if operator["type"] == "index_accessor":
            return f"{render(operands['operand_1'])}[{render(operands['operand_2'])}]"
        if operator["type"] == "conditional":
            return (
                f"{render(operands['condition'])} ? {render(operands['true_value'])}"
                f" : {render(operands['false_value'])}"
            )
        if operator["type"] == "not":
            return f"!{render(operands['bool_value'])}"
        return f"{operator['type']}({', '.join(str(render(value)) for value in operands.values())})"
    if "function" in expression:
        function = expression["function"]
        name = _FUNCTION_NAMES.get(function["type"], function["type"])
        arguments = [render(value) for value in (function.get("parameters") or {}).values() if value is not None]
        return f"{name}({', '.join(str(argument) for argument in arguments)})"
    return {unquote(key): render(value) for key, value in expression.items()}


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Declared (not `existing`) resources of one type, by symbolic name."""
    return {
        name: declaration
        for name, declaration in template.get("resources", {}).items()
        if declaration["type"] == resource_type and not declaration["existing"]
    }


def the_resource(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The body of the one declared resource of a type; fails if there are none or several."""
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return body(next(iter(found.values())))


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def object_keys(value: Any) -> set[str]:
    assert isinstance(value, dict), f"expected an object literal, got {value!r}"
    return {unquote(key) for key in value}


@dataclass(frozen=True)
class RoleAssignment:
    symbol: str
    role_id: str  # the GUID
    scope: str  # symbolic name of the resource it is scoped to
    principal_id: str  # rendered expression
    principal_type: str  # rendered expression
    condition: str | None


def role_assignments(template: dict[str, Any]) -> Iterator[RoleAssignment]:
    """Role assignments with the role's GUID resolved through the template's `roleIds` variable."""
    declared_ids = template.get("variables", {}).get("roleIds", {}).get("value", {})
    role_ids = {unquote(key): value for key, value in declared_ids.items()}
    for symbol, declaration in resources(template, "Microsoft.Authorization/roleAssignments").items():
        properties = body(declaration)["properties"]
        reference = render(properties["roleDefinitionId"])
        prefix = "subscriptionResourceId(Microsoft.Authorization/roleDefinitions, "
        assert reference.startswith(prefix), f"{symbol}: role must be a built-in role definition, got {reference}"
        role = reference[len(prefix) : -1]
        if role.startswith("roleIds."):
            role = role_ids[role.removeprefix("roleIds.")]
        yield RoleAssignment(
            symbol=symbol,
            role_id=role,
            scope=render(body(declaration)["scope"]),
            principal_id=render(properties["principalId"]),
            principal_type=render(properties["principalType"]),
            condition=condition(declaration),
        )


def parameters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template.get("parameters", {})


def allowed_values(parameter: dict[str, Any]) -> list[Any] | None:
    for decorator in parameter["decorators"]:
        if decorator["type"] == "allowed":
            return decorator["argument"]
    return None
