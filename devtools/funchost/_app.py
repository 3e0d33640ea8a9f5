"""Load a Python v2-model app the way the worker indexes it: import `function_app`, find its FunctionApp."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import azure.functions as func
import json5

from devtools.funchost._routes import Route, RouteOrder, RouteTable, compile_template, find_order_conflicts, join_route

log = logging.getLogger("devtools.funchost")
DEFAULT_ROUTE_PREFIX = "api"
HTTP_TRIGGER = "httpTrigger"
BINDING_DIRECTION_OUT = 1
RETURN_BINDING = "$return"
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class FunctionEntry:
    """One indexed function: what the host needs to call it."""

    name: str
    trigger_type: str
    trigger_arg: str
    user_function: Callable[..., Any]
    parameters: tuple[str, ...]  # the ones without a default: each gets a value on every call
    output_args: frozenset[str] = frozenset()
    http_output_arg: str = RETURN_BINDING  # where an HTTP function's response comes from
    route: str | None = None  # full template including the route prefix (HTTP only)
    methods: tuple[str, ...] | None = None  # None = every method (HTTP only)

    @property
    def is_http(self) -> bool:
        return self.trigger_type == HTTP_TRIGGER

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


@dataclass
class LoadedApp:
    app_dir: Path
    route_prefix: str
    functions: dict[str, FunctionEntry]  # keyed by lower-cased name: function names are case-insensitive
    routes: RouteTable[FunctionEntry] = field(repr=False)

    def describe(self, base_url: str) -> list[str]:
        """The function list as `func start` prints it."""
        lines = []
        for entry in sorted(self.functions.values(), key=lambda entry: entry.name.lower()):
            if entry.is_http:
                methods = f"[{','.join(entry.methods)}] " if entry.methods else ""
                lines.append(f"{entry.name}: {methods}{base_url}/{entry.route}")
            else:
                lines.append(f"{entry.name}: {entry.trigger_type}")
        return lines


def read_route_prefix(app_dir: Path) -> str:
    """host.json's extensions.http.routePrefix ("api" when absent; "" is allowed). host.json may carry comments."""
    host_json = app_dir / "host.json"
    if not host_json.is_file():
        return DEFAULT_ROUTE_PREFIX
    config = json5.loads(host_json.read_text(encoding="utf-8-sig"))
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise ValueError(f"{host_json}: extensions.http.routePrefix must be a string")
    return prefix.strip("/")


def import_function_app(app_dir: Path) -> Any:
    """Imports DIR/function_app.py as module `function_app` with DIR on sys.path, as the worker does."""
    script = app_dir / "function_app.py"
    if not script.is_file():
        raise FileNotFoundError(f"no function_app.py in {app_dir}")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module  # loading by path lets tests serve several app dirs in one process
    spec.loader.exec_module(module)
    return module


def find_function_app(module: Any) -> func.FunctionRegister:
    """The one module-level FunctionApp (or Asgi/Wsgi/DF app); the worker refuses zero or several."""
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if len(apps) != 1:
        raise ValueError(f"function_app.py must define exactly one module-level FunctionApp, found {len(apps)}")
    return apps[0]


def _method_names(methods: Any) -> tuple[str, ...] | None:
    if methods is None:
        return None
    names = [method.value if isinstance(method, Enum) else str(method) for method in methods]
    return tuple(dict.fromkeys(name.upper() for name in names))


def build_entry(function: func.decorators.function_app.Function, route_prefix: str) -> FunctionEntry:
    trigger = function.get_trigger()
    if trigger is None:
        raise ValueError(f"function {function.get_function_name()} has no trigger")
    user_function = function.get_user_function()
    signature = inspect.signature(user_function).parameters.values()
    parameters = tuple(param.name for param in signature if param.kind not in _VARIADIC and param.default is _EMPTY)
    outputs = [binding for binding in function.get_bindings() if binding.direction == BINDING_DIRECTION_OUT]
    entry = FunctionEntry(
        name=function.get_function_name(),
        trigger_type=trigger.type,
        trigger_arg=trigger.name,
        user_function=user_function,
        parameters=parameters,
        output_args=frozenset(binding.name for binding in outputs if binding.name != RETURN_BINDING),
        http_output_arg=next((binding.name for binding in outputs if binding.type == "http"), RETURN_BINDING),
    )
    if entry.is_http:
        route = join_route(route_prefix, getattr(trigger, "route", None) or entry.name)
        entry = dataclasses.replace(entry, route=route, methods=_method_names(trigger.methods))
    _warn_about_unbound_parameters(entry)
    return entry


def _warn_about_unbound_parameters(entry: FunctionEntry) -> None:
    bound = {entry.trigger_arg, "context", *entry.output_args}
    unbound = [name for name in entry.parameters if name not in bound]
    if unbound:
        log.warning("%s: the dev host passes None for input binding(s) %s", entry.name, ", ".join(unbound))


def load_app(app_dir: Path, route_order: RouteOrder = "precedence") -> LoadedApp:
    app_dir = app_dir.resolve()
    route_prefix = read_route_prefix(app_dir)
    app = find_function_app(import_function_app(app_dir))
    # get_functions() may run only once per app: a second call reports every name as a duplicate.
    entries = [build_entry(function, route_prefix) for function in app.get_functions()]
    routes = [
        Route(entry.name, compile_template(entry.route), frozenset(entry.methods) if entry.methods else None, entry)
        for entry in entries
        if entry.is_http and entry.route is not None
    ]
    for conflict in find_order_conflicts(routes):
        log.warning("route order: %s", conflict)
    return LoadedApp(
        app_dir=app_dir,
        route_prefix=route_prefix,
        functions={entry.name.lower(): entry for entry in entries},
        routes=RouteTable(routes, route_order),
    )
