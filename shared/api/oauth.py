"""/api/oauth/...: the gateway's own sign-in pages (shared/connections/_signin.py has the flow).

    GET  /api/oauth/start/{ticket}   the start page: what is being connected, and a confirm form
    POST /api/oauth/start/{ticket}   the confirmation (CSRF token + binding cookie) -> 303 to the provider
    GET  /api/oauth/callback         the provider's redirect -> tokens stored, a small page or a redirect

Anonymous by nature (browser navigations): the single-use ticket and state, and the browser's binding
cookie, are the credentials. Every page is no-store, never framed, sends no referrer (URLs carry
tickets and codes) and runs nothing: its CSP allows one fixed stylesheet and form posts to the
gateway and the connector's identity provider only. Errors are HTML pages for browsers
(Accept: text/html) and RFC 9457 problems for everything else.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

import azure.functions as func

from shared import problems
from shared.connections import Consent
from shared.gateway import gateway
from shared.web import anonymous_endpoint

MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 10
_STYLE = "body{font-family:sans-serif;margin:3em;max-width:40em}dt{font-weight:bold}button{font-size:1.1em}"
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")


def page_headers(form_targets: str = "'none'") -> dict[str, str]:
    csp = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action {form_targets}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
    }


def _page(
    status: int, title: str, body_html: str, headers: dict[str, str] | None = None, form_targets: str = "'none'"
) -> func.HttpResponse:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return func.HttpResponse(
        body,
        status_code=status,
        headers={**page_headers(form_targets), **(headers or {})},
        mimetype="text/html",
        charset="utf-8",
    )


def _message(status: int, title: str, detail: str) -> func.HttpResponse:
    return _page(status, title, f"<p>{html.escape(detail)}</p>")


def _wants_html(request: func.HttpRequest) -> bool:
    return "text/html" in (request.headers.get("accept") or "")


def _browser_page(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    """A refused sign-in step is a page for a browser and a problem (with the page's headers) for anything else."""

    @anonymous_endpoint  # the deployment's IP filter applies
    def run(request: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(request)
        except problems.Problem as problem:
            if _wants_html(request):
                return _message(problem.status, problem.title, problem.detail)
            problem.headers = {**page_headers(), **problem.headers}
            raise

    return run


def _binding(request: func.HttpRequest) -> str | None:
    return gateway().signin.cookie.read(request.headers.get("cookie"))


def _consent_html(consent: Consent) -> str:
    scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in consent.scopes) or "<li>(none requested)</li>"
    return (
        "<p>You are about to sign in to an identity provider and give this gateway connection its token.</p>"
        f"<dl><dt>Connection</dt><dd>{html.escape(consent.display_name)}</dd>"
        f"<dt>Connector</dt><dd>{html.escape(consent.connector_id)}</dd>"
        f"<dt>Owner of the connection</dt><dd>{html.escape(consent.owner)}</dd>"
        f"<dt>Access requested</dt><dd><ul>{scopes}</ul></dd>"
        f"<dt>Identity provider</dt><dd>{html.escape(consent.provider_origin)}</dd></dl>"
        "<p>Continue only if you started this sign-in yourself. Whoever signs in here gives the "
        "connection's owner and those it is shared with use of their account.</p>"
        "<form method='post'>"  # no action: back to this page's own URL
        f"<input type='hidden' name='csrf' value='{html.escape(consent.csrf, quote=True)}'>"
        "<button type='submit'>Continue to sign in</button></form>"
    )


@_browser_page
def start_page(request: func.HttpRequest) -> func.HttpResponse:
    signin = gateway().signin
    ticket = request.route_params.get("ticket", "")
    consent = signin.open(ticket, _binding(request))
    targets = f"'self' {consent.provider_origin}".strip()  # the confirmed form is redirected on to the provider
    cookie = {"Set-Cookie": signin.cookie.header(consent.binding)}
    return _page(200, "Connect your account", _consent_html(consent), cookie, targets)


@_browser_page
def confirm(request: func.HttpRequest) -> func.HttpResponse:
    body = request.get_body() or b""
    if len(body) > MAX_FORM_BYTES:
        raise problems.Problem(413, "body-too-large", "Body too large", f"The form is over {MAX_FORM_BYTES} bytes.")
    try:
        form = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than the confirm form has: not ours
        raise problems.bad_request(
            f"The form has more than {MAX_FORM_FIELDS} fields; the confirm form sends only its csrf token.",
            slug="invalid-form",
        ) from None
    csrf = (form.get("csrf") or [""])[0]
    provider_url = gateway().signin.confirm(request.route_params.get("ticket", ""), _binding(request), csrf)
    return func.HttpResponse(status_code=303, headers={**page_headers(), "Location": provider_url})


@_browser_page
def callback(request: func.HttpRequest) -> func.HttpResponse:
    result = gateway().signin.complete(request.params, _binding(request))
    if result.redirect_to:
        separator = "&" if "?" in result.redirect_to else "?"
        query = urlencode({"connectionId": result.connection_id, "status": result.status})
        return func.HttpResponse(
            status_code=302, headers={**page_headers(), "Location": result.redirect_to + separator + query}
        )
    if result.status == "Connected":
        return _message(200, "Connected", f"{result.detail} You can close this window.")
    return _message(400, "Sign-in did not complete", result.detail)
