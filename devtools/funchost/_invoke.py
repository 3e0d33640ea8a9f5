"""Turn raw HTTP into the worker's objects and back, and call user functions. No sockets here."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from azure.functions._abc import TraceContext
from azure.functions.timer import TimerRequest

from devtools.funchost._app import RETURN_BINDING, FunctionEntry
from devtools.funchost._host_http import response_headers
from devtools.funchost._worker_http import encode_http_result


def parse_query(raw_query: str) -> dict[str, str]:
    """The host's query dictionary: keys case-insensitive (first spelling kept), repeated values joined with ",",
    empty values dropped (azure-functions-python-worker#894; the host's ToRpcHttp skips empty strings)."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        grouped.setdefault(key.lower(), (key, []))[1].append(value)
    joined = {key: ",".join(values) for key, values in grouped.values()}
    return {key: value for key, value in joined.items() if value}


def merge_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with "," as ASP.NET's StringValues.ToString() does."""
    merged: dict[str, list[str]] = {}
    for name, value in items:
        merged.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in merged.items()}


def build_http_request(
    method: str,
    url: str,
    raw_query: str,
    headers: dict[str, str],
    route_params: dict[str, str],
    body: bytes,
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method.upper(),
        url=url,
        headers=headers,
        params=parse_query(raw_query),
        route_params=route_params,
        body=body,
    )


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_wire_response(result: Any) -> WireResponse:
    """A function's return value as the host sends it: the library's HttpResponseConverter and the worker's
    RpcHttp conversion (_worker_http), then the host's RawScriptResult (_host_http)."""
    if result is None:
        return WireResponse(204, [], b"")  # the documented default response of an HTTP function
    encoded = encode_http_result(result)
    if isinstance(encoded, str):
        return WireResponse(200, [("Content-Type", "text/plain; charset=utf-8")], encoded.encode())
    return WireResponse(int(encoded.status_code), response_headers(encoded), encoded.body)


class CapturingOut(func.Out):
    """An output binding argument: keeps what the function sets (the dev host has no queue or blob to send it to)."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class _TraceContext(TraceContext):
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._trace_parent, self._trace_state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class InvocationContext(func.Context):
    """The `context` argument the worker passes to functions that declare one."""

    def __init__(
        self, function_name: str, function_directory: str, trace_parent: str = "", trace_state: str = ""
    ) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = _TraceContext(trace_parent, trace_state)
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> Any:
        return None  # no retry policy runs here

    @property
    def thread_local_storage(self) -> threading.local:
        return self._thread_local_storage


def admin_trigger_input(entry: FunctionEntry, input_text: str) -> Any:
    """The trigger argument of an admin-API run: TimerRequest for timers, QueueMessage for queues, else the text."""
    if entry.trigger_type == "timerTrigger":
        return TimerRequest(past_due=False)  # func.TimerRequest is only the abstract base
    if entry.trigger_type == "queueTrigger":
        return func.QueueMessage(id=str(uuid.uuid4()), body=input_text.encode())
    return input_text


class AsyncRunner:
    """One event loop on its own thread for every async function, as the worker runs them on a single loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="funchost-asyncio", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


def call_function(entry: FunctionEntry, trigger_value: Any, context: func.Context, runner: AsyncRunner) -> Any:
    """Calls the user function with its trigger, `context` and output arguments; returns what the host would use
    as the result (an HTTP function's Out-bound response when it does not use $return)."""
    outputs = {name: CapturingOut() for name in entry.output_args if name in entry.parameters}
    supplied = {entry.trigger_arg: trigger_value, "context": context, **outputs}
    arguments = {name: supplied.get(name) for name in entry.parameters}  # None for unsupported input bindings
    result = entry.user_function(**arguments)
    if entry.is_async:
        result = runner.run(result)
    if entry.is_http and entry.http_output_arg != RETURN_BINDING and entry.http_output_arg in outputs:
        return outputs[entry.http_output_arg].get()
    return result
