"""x-ms-capabilities.testConnection: the operation the Power Platform calls with a new connection's
credential before keeping it. Resolved here, at upload, to a method and a path template; a capability
that names no declared operation, or one needing path values it doesn't give, is a warning (connections
are then created untested), never a silent skip."""

from __future__ import annotations

import re
from typing import Any

from shared.connectors._errors import ErrorList
from shared.connectors._model import ConnectionCheck

_POINTER = "/apiDefinition/x-ms-capabilities/testConnection"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_PATH_HOLE = re.compile(r"\{([^{}]+)\}")


def check_value(raw: Any) -> Any:
    """A testConnection parameter value: paconn writes {"value": x}; a bare x is taken as it is."""
    return raw.get("value") if isinstance(raw, dict) else raw


def _find_operation(api_definition: dict[str, Any], operation_id: str) -> tuple[str, str] | None:
    paths = api_definition.get("paths")
    for path, operations in paths.items() if isinstance(paths, dict) else ():
        for method in _METHODS:
            operation = operations.get(method) if isinstance(operations, dict) else None
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return method.upper(), path
    return None


def parse_connection_check(api_definition: dict[str, Any], warnings: ErrorList) -> ConnectionCheck | None:
    capabilities = api_definition.get("x-ms-capabilities")
    raw = capabilities.get("testConnection") if isinstance(capabilities, dict) else None
    if raw is None:
        return None
    operation_id = raw.get("operationId") if isinstance(raw, dict) else None
    if not isinstance(operation_id, str) or not operation_id:
        warnings.append(
            {"pointer": _POINTER, "detail": "testConnection names no operationId: connections are not tested."}
        )
        return None
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        parameters = {}
    found = _find_operation(api_definition, operation_id)
    if found is None:
        detail = (
            f"testConnection names operation {operation_id[:80]!r}, which no path declares: connections are not tested."
        )
        warnings.append({"pointer": f"{_POINTER}/operationId", "detail": detail})
        return None
    method, path = found
    missing = [name for name in _PATH_HOLE.findall(path) if check_value(parameters.get(name)) in (None, "")]
    if missing:
        detail = (
            f"testConnection gives no value for path parameter(s) {', '.join(missing)}: connections are not tested."
        )
        warnings.append({"pointer": f"{_POINTER}/parameters", "detail": detail})
        return None
    return ConnectionCheck(operation_id, method, "/" + path.lstrip("/"), parameters)
