"""The HTTP edge: the front door, authenticate the caller, run a handler, turn every failure into a problem.

Each HTTP function in function_app.py is `endpoint(handler)`, `anonymous_endpoint(handler)` or
`public_endpoint(handler)`; handlers receive a `Call` (or the bare request) and return a
`func.HttpResponse` or raise `Problem`.

The front door runs before the caller is authenticated, so a refused caller learns nothing else:

1. the deployment's IP filter (AUTH_IP_ALLOW / AUTH_IP_FORBID) on the address the trusted proxies
   report (AUTH_TRUSTED_PROXY_HOPS entries from the right of X-Forwarded-For), 403 `ip-forbidden`;
2. the TLS client certificate App Service forwards (AUTH_CLIENT_CERT_MODE): `required` refuses calls
   without a valid one, `optional` checks one when sent; 403 `client-certificate-*`.

A valid certificate is on `Call.certificate`. A call with a certificate and no other credential (no
token, no subscription key) authenticates as the certificate itself, principal `cert|<THUMBPRINT>`
without roles, only when an AUTH_CLIENT_CERT_IDENTITIES entry pins that exact thumbprint; a certificate
accepted by CA or name alone is a second factor, never an identity. `public_endpoint` (health) skips
the front door; `anonymous_endpoint` (browser redirects) has the IP filter but no certificate check.

Every response carries the request's correlation id (`X-Correlation-Id`; from the caller's
`traceparent` trace id or `x-ms-client-request-id`, else minted), every problem has it as the
`correlationId` member, and every log line of the request has it (shared/telemetry).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from cryptography.x509.oid import NameOID
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from shared import frontdoor, problems, telemetry
from shared.callers import Authentication, Principal
from shared.frontdoor import CLIENT_CERTIFICATE_HEADER, CertificateIdentityMatch
from shared.gateway import Gateway, gateway
from shared.json_limits import MAX_DEPTH, nested_deeper_than
from shared.settings import Settings, SettingsError
from shared.stores.clients import request_budget

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 4 * 1024 * 1024
# Parts of one multipart body: an upload has at most a handful; each part costs a parse and a temp buffer.
MAX_MULTIPART_PARTS = 16


@dataclass(frozen=True)
class Part:
    """One multipart/form-data part: its bytes as sent, and its filename when it was a file."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class Call:
    request: func.HttpRequest
    gateway: Gateway
    auth: Authentication
    client_ip: str | None = None  # as the trusted proxies report it; None: unknown
    certificate: CertificateIdentityMatch | None = None  # the validated TLS client certificate, if one was sent

    @property
    def principal(self) -> Principal:
        return self.auth.principal

    def route(self, name: str) -> str:
        return self.request.route_params.get(name, "")

    @property
    def is_maker(self) -> bool:
        return self.gateway.settings.maker_role in self.principal.roles

    @property
    def is_admin(self) -> bool:
        return self.gateway.settings.admin_role in self.principal.roles

    def require_maker(self) -> None:
        if not self.is_maker:
            raise problems.forbidden(
                f"Only makers (role {self.gateway.settings.maker_role!r}) may create, replace or delete connectors."
            )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers, mimetype="application/json", charset="utf-8"
    )


def problem_response(problem: problems.Problem) -> func.HttpResponse:
    body = problem.to_dict()
    correlation_id = telemetry.correlation.current_id()
    if correlation_id:
        body.setdefault("correlationId", correlation_id)
    return func.HttpResponse(
        json.dumps(body),
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
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise problems.bad_request("The body is not UTF-8 text.", slug="invalid-json") from None
    except json.JSONDecodeError as error:
        raise problems.bad_request(
            f"The body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}.",
            slug="invalid-json",
        ) from None
    except RecursionError:
        raise problems.bad_request(f"The body nests deeper than {MAX_DEPTH} levels.", slug="invalid-json") from None
    except ValueError:  # e.g. an integer past Python's 4300-digit limit
        raise problems.bad_request("The body holds a number too long to read.", slug="invalid-json") from None
    if nested_deeper_than(document, MAX_DEPTH):
        raise problems.bad_request(f"The body nests deeper than {MAX_DEPTH} levels.", slug="invalid-json")
    return document


def read_multipart(request: func.HttpRequest, max_parts: int = MAX_MULTIPART_PARTS) -> dict[str, Part]:
    """The parts of a multipart/form-data body by name (the first of each name), at most `max_parts` of them.

    Parsed here rather than by HttpRequest.files/form, which read any number of parts."""
    body = request.get_body() or b""
    mimetype, options = parse_options_header(request.headers.get("content-type") or "")
    parser = FormDataParser(max_form_parts=max_parts, silent=False)
    try:
        _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except RequestEntityTooLarge:
        raise problems.Problem(
            413, "too-many-parts", "Too many parts", f"A multipart body may have at most {max_parts} parts."
        ) from None
    except ValueError:
        raise problems.bad_request(
            "The body is not valid multipart/form-data (check the boundary).", slug="invalid-multipart"
        ) from None
    parts = {name: Part(upload.read(), upload.filename or None) for name, upload in files.items()}
    for name, value in form.items():
        parts.setdefault(name, Part(value.encode("utf-8")))
    return parts


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


# Refusals counted by reason (the problem type): who was turned away, and why.
_DENIAL_STATUSES = frozenset({401, 403, 429})


def public_endpoint(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    def run(req: func.HttpRequest) -> func.HttpResponse:
        correlation = telemetry.correlation.from_headers(req.headers)
        with telemetry.correlation.bound(correlation), request_budget():
            response = _answer(handler, req)
            response.headers[telemetry.correlation.CORRELATION_HEADER] = correlation.id
            return response

    return run


def _answer(handler: Callable[[func.HttpRequest], func.HttpResponse], req: func.HttpRequest) -> func.HttpResponse:
    try:
        return handler(req)
    except problems.Problem as problem:
        if problem.status in _DENIAL_STATUSES:
            telemetry.count(telemetry.DENIALS, reason=problem.slug, status=problem.status)
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


def _checked_address(settings: Settings, request: func.HttpRequest) -> str | None:
    """The caller's address, after the deployment's IP filter admitted it."""
    client_ip = frontdoor.client_address(request.headers, settings.trusted_proxy_hops)
    if settings.ip_filter.restricts:
        frontdoor.check(settings.ip_filter, client_ip)
    return client_ip


def _certificate_principal(settings: Settings, certificate: CertificateIdentityMatch | None) -> Principal | None:
    """A client certificate that AUTH_CLIENT_CERT_IDENTITIES pins by thumbprint stands for a principal."""
    policy = settings.client_cert_policy
    if certificate is None or policy is None or not policy.pins(certificate.thumbprint):
        return None
    names = certificate.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else certificate.thumbprint
    return Principal(id=certificate.principal_id, roles=frozenset(), name=name, kind="app")


def _authenticate(
    gw: Gateway, request: func.HttpRequest, certificate: CertificateIdentityMatch | None
) -> Authentication:
    # A JWT or a key wins; the pinned certificate's principal only stands in when neither was sent.
    fallback = _certificate_principal(gw.settings, certificate)
    auth = gw.callers.authenticate(request.headers, request.params, fallback)
    if gw.settings.client_cert_mode != "off":
        # The certificate was for the gateway: keep the backend from taking it as its caller's.
        auth = dataclasses.replace(auth, consumed_headers=auth.consumed_headers | {CLIENT_CERTIFICATE_HEADER.lower()})
    return auth


def endpoint(handler: Callable[[Call], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    @public_endpoint
    def run(req: func.HttpRequest) -> func.HttpResponse:
        gw = gateway()
        settings = gw.settings
        client_ip = _checked_address(settings, req)
        certificate = frontdoor.authenticate_client_certificate(
            req.headers, settings.client_cert_mode, settings.client_cert_policy, datetime.now(UTC)
        )
        auth = _authenticate(gw, req, certificate)
        return handler(Call(req, gw, auth, client_ip, certificate))

    return run


def anonymous_endpoint(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    """No caller authentication, but the deployment's IP filter: for browser redirects, which carry no
    client certificate (exclude their path from App Service's client certificate requirement)."""

    @public_endpoint
    def run(req: func.HttpRequest) -> func.HttpResponse:
        _checked_address(gateway().settings, req)
        return handler(req)

    return run
