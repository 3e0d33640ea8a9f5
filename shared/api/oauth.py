"""/oauth/callback: where the identity provider sends the person back after sign-in.

Anonymous by nature (it is a browser redirect): the single-use `state` is what binds
the callback to a connection and the principal who started the sign-in.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

import azure.functions as func

from shared import problems
from shared.gateway import gateway
from shared.web import anonymous_endpoint

# The URL carries an authorization code: no caching, no referrer, nothing executable.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def _page(status: int, title: str, detail: str) -> func.HttpResponse:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:3em;max-width:40em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p></body></html>"
    )
    return func.HttpResponse(body, status_code=status, headers=PAGE_HEADERS, mimetype="text/html", charset="utf-8")


def _wants_html(request: func.HttpRequest) -> bool:
    accept = request.headers.get("accept") or ""
    return "text/html" in accept


@anonymous_endpoint  # the deployment's IP filter applies; the state is the credential
def callback(request: func.HttpRequest) -> func.HttpResponse:
    try:
        result = gateway().signin.complete(request.params)
    except problems.Problem as problem:
        if _wants_html(request):
            return _page(problem.status, problem.title, problem.detail)
        raise
    if result.redirect_to:
        separator = "&" if "?" in result.redirect_to else "?"
        query = urlencode({"connectionId": result.connection_id, "status": result.status})
        return func.HttpResponse(
            status_code=302, headers={**PAGE_HEADERS, "Location": result.redirect_to + separator + query}
        )
    if result.status == "Connected":
        return _page(200, "Connected", f"{result.detail} You can close this window.")
    return _page(400, "Sign-in did not complete", result.detail)
