"""A connector's runtime: its operation table, which policy templates apply to each operation, and what
the gateway can't honour (custom code, unsupported templates). Built from the connector record once
per process and runtime version, never per call.

Why a cache keyed by a content hash: operations and templates of a real connector often exceed Table's
64 KiB property limit, so they can't ride in each connection's snapshot, and the invoke path must stay at
one Table point read. The snapshot carries the connector's `runtime_version`; a miss reads the connector
once. A replaced connector has a new hash, so a stale table is never used for it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared import problems
from shared.connectors import Connector
from shared.invoke._match import OperationTable
from shared.templates import REQUEST, RESPONSE, TemplateInstance, instance_warnings, parse_instances

CUSTOM_CODE = "custom code (script.csx) handles it, and this gateway can't run custom code"
MAX_CACHED = 256
NOTHING_DECLARED = (
    "The swagger declares no operations: nothing is callable (404 operation-not-found) unless the connector's"
    " gateway policy sets operations.passThrough: true."
)
UNKNOWN_OPERATIONS = (
    "Stored before operations were kept: every path under basePath is forwarded (pass-through)."
    " Re-upload to enforce operations."
)


@dataclass(frozen=True)
class OperationPlan:
    request: tuple[TemplateInstance, ...]
    response: tuple[TemplateInstance, ...]
    unsupported: tuple[str, ...]  # why the gateway refuses it (501); empty: it runs

    @property
    def templates(self) -> tuple[TemplateInstance, ...]:
        unique = {instance.index: instance for instance in (*self.request, *self.response)}
        return tuple(unique[index] for index in sorted(unique))


def _sections(instance: TemplateInstance) -> frozenset[str]:
    assert instance.template is not None
    return instance.template.runs_in or frozenset({instance.section})


class ConnectorRuntime:
    def __init__(self, connector: Connector) -> None:
        self.connector_id = connector.id
        self.version = connector.runtime_version
        self.table = OperationTable(connector.operations)
        self.instances = parse_instances(connector.policy_template_instances)
        script_operations = (
            None if connector.script_operations is None else {n.lower() for n in connector.script_operations}
        )
        self._custom_code = connector.custom_code
        self._script_operations = script_operations
        self._plans = {operation.operation_id: self._plan(operation.operation_id) for operation in connector.operations}
        self.pass_through_plan = self._plan(None)
        self.warnings = [
            *connector.warnings,
            *instance_warnings(self.instances, (o.operation_id for o in connector.operations)),
        ]
        # Whether undeclared paths are forwarded without the policy opting in: only for a connector stored
        # before operations were kept, whose operations nobody knows. An upload that declares none has nothing
        # callable unless its policy sets operations.passThrough.
        self.passes_undeclared = connector.operations_unknown
        if connector.operations_unknown:
            self.warnings.append({"pointer": "/apiDefinition/paths", "detail": UNKNOWN_OPERATIONS})
        elif not connector.operations:
            self.warnings.append({"pointer": "/apiDefinition/paths", "detail": NOTHING_DECLARED})
        if self._custom_code:
            scope = "every operation" if script_operations is None else "the operations in scriptOperations"
            self.warnings.append(
                {"pointer": "/script", "detail": f"Custom code can't run in this gateway: {scope} answer 501."}
            )

    def _plan(self, operation_id: str | None) -> OperationPlan:
        applying = [instance for instance in self.instances if instance.applies_to(operation_id)]
        unsupported = [
            f"{instance.label} can't be honoured: {instance.unsupported}"
            for instance in applying
            if instance.unsupported
        ]
        if self._custom_code and (
            self._script_operations is None
            or (operation_id is not None and operation_id.lower() in self._script_operations)
        ):
            unsupported.insert(0, CUSTOM_CODE)
        runnable = [instance for instance in applying if instance.template is not None]
        return OperationPlan(
            request=tuple(i for i in runnable if REQUEST in _sections(i)),
            response=tuple(i for i in runnable if RESPONSE in _sections(i)),
            unsupported=tuple(unsupported),
        )

    def plan(self, operation_id: str | None) -> OperationPlan:
        return self._plans[operation_id] if operation_id is not None else self.pass_through_plan

    def describe(self) -> list[dict[str, Any]]:
        """The connector GET's `operations`: what each is, the templates that apply, whether it runs and why not."""
        described = []
        for operation in self.table.operations:
            plan = self.plan(operation.operation_id)
            described.append(
                {
                    "operationId": operation.operation_id,
                    "method": operation.method,
                    "path": operation.path,
                    "summary": operation.summary,
                    "parameters": [
                        {"name": p.name, "in": p.location, "type": p.type, "format": p.format, "required": p.required}
                        for p in operation.parameters
                    ],
                    "trigger": operation.trigger,
                    "notificationUrl": operation.notification_url,
                    "visibility": operation.visibility,
                    "templates": [
                        {"templateId": i.template_id, "section": i.section, "supported": not i.unsupported}
                        for i in self.instances
                        if i.applies_to(operation.operation_id)
                    ],
                    "supported": not plan.unsupported,
                    "unsupportedReasons": list(plan.unsupported),
                }
            )
        return sorted(described, key=lambda entry: (entry["path"], entry["method"]))


class ConnectorRuntimes:
    """Parsed runtimes by (connector id, runtime version): one connector read per miss, bounded in size."""

    def __init__(self, read_connector: Callable[[str], Connector | None], size: int = MAX_CACHED) -> None:
        self._read = read_connector
        self._size = size
        self._cache: OrderedDict[tuple[str, str], ConnectorRuntime] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, connector_id: str, version: str | None) -> ConnectorRuntime:
        if version is not None:
            with self._lock:
                cached = self._cache.get((connector_id, version))
                if cached is not None:
                    self._cache.move_to_end((connector_id, version))
                    return cached
        connector = self._read(connector_id)
        if connector is None:  # deleted meanwhile; its connections go with it
            raise problems.not_found("connector", connector_id)
        return self.of(connector)

    def of(self, connector: Connector) -> ConnectorRuntime:
        """The runtime of a connector already read (a GET, an upload): from the cache when its version is there."""
        key = (connector.id, connector.runtime_version)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        runtime = ConnectorRuntime(connector)
        with self._lock:
            # Cached under its own version: a snapshot a replace hasn't rewritten yet misses again, never
            # gets another connector's table under its old version.
            self._cache[key] = runtime
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return runtime
