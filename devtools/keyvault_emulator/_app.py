"""Turns one parsed request into one response: test hooks, auth, faults, then the vault routes.

Order matters and mirrors what a client of the real service sees: an unauthenticated
request only ever gets the 401 challenge; injected faults hit authenticated requests
(so the SDK's challenge round trip is not consumed by them) before anything is validated.
"""

from __future__ import annotations

import hmac
from typing import Any

from devtools.keyvault_emulator._hooks import FaultInjector, RequestCounter, build_fault
from devtools.keyvault_emulator._protocol import (
    Request,
    Response,
    check_api_version,
    error_response,
    json_response,
    match_route,
    parse_json_object,
    path_is_known,
)
from devtools.keyvault_emulator._store import SecretStore, VaultError, bad_parameter
from shared.stores.clients import EMULATOR_TOKEN

HOOK_PREFIX = "/_emulator/"
CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", '
    'resource="https://vault.azure.net"'
)


class EmulatorApp:
    def __init__(self, store: SecretStore, token: str = EMULATOR_TOKEN) -> None:
        self.store = store
        self.faults = FaultInjector()
        self.requests = RequestCounter()
        self._token = token

    def handle(self, request: Request, base_url: str) -> Response:
        try:
            if request.path.startswith(HOOK_PREFIX):
                return self._handle_hook(request)
            return self._handle_vault(request, base_url)
        except VaultError as error:
            return error_response(error)

    def _handle_vault(self, request: Request, base_url: str) -> Response:
        unauthorized = self._check_bearer(request.headers.get("Authorization"))
        if unauthorized is not None:
            return unauthorized
        matched = match_route(request.method, request.path)
        self.requests.count(matched[0].label if matched else f"{request.method} (no route)")
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            return fault
        check_api_version(request.query)
        if matched is None:
            if path_is_known(request.path):
                raise VaultError(405, "MethodNotAllowed", f"The method {request.method} is not allowed here.")
            raise VaultError(404, "NotFound", "The requested resource does not exist.")
        route, params = matched
        return route.handler(self.store, request, params, base_url)

    def _check_bearer(self, authorization: str | None) -> Response | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._token.encode()):
            return None
        message = "Request is missing a Bearer token." if not authorization else "The bearer token is not valid."
        return error_response(VaultError(401, "Unauthorized", message), (("WWW-Authenticate", CHALLENGE),))

    def _handle_hook(self, request: Request) -> Response:
        hook = request.path[len(HOOK_PREFIX) :].rstrip("/")
        action = (request.method, hook)
        if action == ("POST", "faults"):
            self.faults.add(build_fault(**_hook_arguments(request.body)))
            return json_response(200, {"pending": self.faults.pending()})
        if action == ("GET", "faults"):
            return json_response(200, {"pending": self.faults.pending()})
        if action == ("POST", "held/wait"):
            return json_response(200, {"held": self.faults.wait_held(timeout=30)})
        if action == ("DELETE", "faults"):
            self.faults.clear()
            return Response(204)
        if action == ("GET", "requests"):
            return json_response(200, self.requests.snapshot())
        if action == ("DELETE", "requests"):
            self.requests.reset()
            return Response(204)
        if action == ("GET", "state"):
            active, deleted = self.store.names()
            return json_response(200, {"secrets": active, "deleted": deleted})
        raise VaultError(404, "NotFound", f"No test hook {request.method} {HOOK_PREFIX}{hook}.")


_FAULT_FIELDS = ("status", "count", "retry_after", "method", "path_regex", "hold")


def _hook_arguments(body: bytes) -> dict[str, Any]:
    document = parse_json_object(body)
    if "count" not in document or not ({"status", "hold"} & document.keys()):
        raise bad_parameter("Expected a JSON object with at least 'status' (or 'hold') and 'count'.")
    unknown = sorted(set(document) - set(_FAULT_FIELDS))
    if unknown:
        raise bad_parameter(f"Unknown fields: {', '.join(unknown)}.")
    return document
