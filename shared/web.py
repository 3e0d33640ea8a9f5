"""The HTTP edge: authenticate the caller, run a handler, turn every failure into a problem.

Each HTTP function in function_app.py is `endpoint(handler)` or `public_endpoint(handler)`;
handlers receive a `Call` and return a `func.HttpResponse` or raise `Problem`.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from shared import problems
from shared.callers import Authentication, Principal
from shared.gateway import Gateway, gateway
from shared.settings import SettingsError

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Call:
    request: func.HttpRequest
    gateway: Gateway
    auth: Authentication

    @property
    def principal(self) -> Principal:
        return self.auth.principal

    def route(self, name: str) -> str:
        return self.request.route_params.get(name, "")

    def require_maker(self) -> None:
        if self.gateway.settings.maker_role not in self.principal.roles:
            raise problems.forbidden(
                f"Only makers (role {self.gateway.settings.maker_role!r}) may create, replace or delete connectors."
            )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers, mimetype="application/json", charset="utf-8"
    )


def problem_response(problem: problems.Problem) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(problem.to_dict()),
        status_code=problem.status,
        headers=problem.headers,
        mimetype=problems.PROBLEM_CONTENT_TYPE,
        charset="utf-8",
    )


def read_json(request: func.HttpRequest, limit: int = MAX_JSON_BYTES) -> Any:
    body = request.get_body() or b""
    if len(body) > limit:
        raise problems.Problem(413, "body-too-large", "Body too large", f"The body is over {limit} bytes.")
    if not body.strip():
        raise problems.bad_request("The request needs a JSON body.", slug="invalid-json")
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise problems.bad_request("The body is not UTF-8 text.", slug="invalid-json") from None
    except json.JSONDecodeError as error:
        raise problems.bad_request(
            f"The body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}.",
            slug="invalid-json",
        ) from None


def _unexpected(error: Exception) -> func.HttpResponse:
    # Frames only: an exception's message may quote a URL with a key in it.
    incident = uuid.uuid4().hex[:12]
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("unexpected %s (incident %s)\n%s", type(error).__name__, incident, frames)
    return problem_response(
        problems.Problem(
            500, "internal-error", "Internal error", f"The gateway failed unexpectedly; incident {incident}."
        )
    )


def public_endpoint(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    def run(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except problems.Problem as problem:
            return problem_response(problem)
        except SettingsError as error:
            log.error("gateway misconfigured: %s", error)
            return problem_response(
                problems.Problem(
                    500, "misconfigured", "Gateway misconfigured", "The gateway is misconfigured; see its log."
                )
            )
        except Exception as error:
            return _unexpected(error)

    return run


def endpoint(handler: Callable[[Call], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    @public_endpoint
    def run(req: func.HttpRequest) -> func.HttpResponse:
        gw = gateway()
        auth = gw.callers.authenticate(req.headers, req.params)
        return handler(Call(req, gw, auth))

    return run
