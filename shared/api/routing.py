"""The FunctionApp that remembers its HTTP routes, so the OpenAPI document is generated from the routing itself.

function_app.py keeps plain Azure Functions v2 decorators (`@app.route(route=..., methods=[...])`), which the
Functions host indexes as usual. `GatewayApp.route` records each registration as it happens: the route
template, the methods and the function's name. shared/api/openapi.py reads that record, so a route that is
registered is documented and one that isn't can't be: adding a route is one decorator in function_app.py
(plus, for its summary, schemas and problems, an entry in shared/api/catalog.py; a test asks for it).

The record exists because FunctionApp.get_functions() may run only once per app (the host calls it; a
second call reports every name as a duplicate), so the document can't be built from it at request time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import azure.functions as func

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class RegisteredRoute:
    """One HTTP function as function_app.py registered it (route without host.json's routePrefix)."""

    function_name: str
    route: str
    methods: tuple[str, ...]


def _function_name(function: Any) -> str:
    name = getattr(function, "__name__", None)
    if isinstance(name, str):
        return name
    # Under other decorators (e.g. @app.function_name) the route decorator gets their FunctionBuilder.
    return function._function.get_function_name()  # azure.functions has no public accessor


def _method_names(methods: Iterable[str | Enum] | None) -> tuple[str, ...]:
    if methods is None:
        return ALL_METHODS
    names = (method.value if isinstance(method, Enum) else str(method) for method in methods)
    return tuple(dict.fromkeys(name.upper() for name in names))


class GatewayApp(func.FunctionApp):
    """A FunctionApp whose `route` decorator also keeps (route, methods, function name) in `http_routes`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http_routes: list[RegisteredRoute] = []

    def route(  # type: ignore[override]
        self, route: str | None = None, *args: Any, methods: Iterable[str] | None = None, **kwargs: Any
    ) -> Callable[..., Any]:
        register = super().route(route, *args, methods=methods, **kwargs)

        def record(function: Any) -> Any:
            registered = register(function)
            name = _function_name(function)
            self.http_routes.append(RegisteredRoute(name, (route or name).strip("/"), _method_names(methods)))
            return registered

        return record
