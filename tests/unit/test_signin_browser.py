"""The sign-in pages' browser side: the binding cookie (`__Host-` on https deployments, a path-limited non-Secure
cookie on http dev hosts) and the provider origin the page's CSP allows."""

from __future__ import annotations

from http.cookiejar import CookieJar
from urllib.request import Request

import azure.functions as func
import requests

from devtools.funchost._invoke import to_wire_response
from shared.connections._signin import BrowserBinding

VALUE = "x" * 43


def test_an_https_deployment_sets_a_host_prefixed_secure_cookie() -> None:
    binding = BrowserBinding.for_public_url("https://gateway.example.com")
    header = binding.header(VALUE)
    assert header.startswith(f"__Host-cg-signin={VALUE}; ")
    attributes = {part.strip().split("=")[0] for part in header.split(";")[1:]}
    assert {"Path", "Secure", "HttpOnly", "SameSite", "Max-Age"} <= attributes
    assert "Domain" not in attributes  # __Host- forbids it
    assert "Path=/;" in header and "SameSite=Lax" in header


def test_the_functions_host_keeps_what_host_prefix_needs() -> None:
    """A Set-Cookie goes through the Python worker's cookie parsing and the host's cookie writing."""
    header = BrowserBinding.for_public_url("https://gateway.example.com").header(VALUE)
    wire = to_wire_response(func.HttpResponse("page", headers={"Set-Cookie": header}))
    [written] = [value for name, value in wire.headers if name.lower() == "set-cookie"]
    name_value, *rest = [part.strip() for part in written.split(";")]
    assert name_value == f"__Host-cg-signin={VALUE}"
    assert {"path=/", "secure", "httponly", "samesite=lax", "max-age=600"} == {part.lower() for part in rest}


def test_an_http_dev_host_sets_a_cookie_requests_sends_back_over_http() -> None:
    binding = BrowserBinding.for_public_url("http://localhost:7071")
    header = binding.header(VALUE)
    assert header.startswith(f"cg-signin={VALUE}; ") and "Secure" not in header
    assert "Path=/api/oauth/;" in header  # never sent to /api/connections/{id}/invoke

    session = requests.Session()
    response = requests.Response()
    response.headers["Set-Cookie"] = header
    session.cookies.extract_cookies(_Fake(response), Request("http://localhost:7071/api/oauth/start/t"))
    callback = Request("http://localhost:7071/api/oauth/callback?state=s")
    session.cookies.add_cookie_header(callback)
    assert callback.get_header("Cookie") == f"cg-signin={VALUE}"
    invoke = Request("http://localhost:7071/api/connections/abc/invoke/x")
    session.cookies.add_cookie_header(invoke)
    assert invoke.get_header("Cookie") is None


def test_requests_never_sends_a_secure_cookie_over_http() -> None:
    """Why the http variant exists: http.cookiejar keeps Secure cookies for https only."""
    jar = CookieJar()
    header = BrowserBinding.for_public_url("https://localhost:7071").header(VALUE).replace("__Host-", "")
    response = requests.Response()
    response.headers["Set-Cookie"] = header
    jar.extract_cookies(_Fake(response), Request("http://localhost:7071/api/oauth/start/t"))
    request = Request("http://localhost:7071/api/oauth/callback")
    jar.add_cookie_header(request)
    assert request.get_header("Cookie") is None


def test_only_a_well_formed_binding_is_read() -> None:
    binding = BrowserBinding.for_public_url("https://gateway.example.com")
    assert binding.read(f"a=b; __Host-cg-signin={VALUE}; c=d") == VALUE
    assert binding.read("__Host-cg-signin=short") is None
    assert binding.read(f"cg-signin={VALUE}") is None  # the http name is not the https one
    assert binding.read(None) is None


class _Fake:
    """What http.cookiejar reads from a response: info() with the headers."""

    def __init__(self, response: requests.Response) -> None:
        self._headers = response.headers

    def info(self) -> _Fake:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._headers.get(name)
        return [value] if value else (default or [])


def test_only_a_plain_provider_origin_goes_into_the_pages_csp() -> None:
    from shared.connections._signin import _origin

    assert _origin("https://login.example.com/oauth/authorize?x=1") == "https://login.example.com"
    assert _origin("http://127.0.0.1:4000/auth") == "http://127.0.0.1:4000"
    assert _origin("https://[::1]:8443/auth") == "https://[::1]:8443"
    assert _origin("https://evil.example; script-src *@x/auth") == ""
    assert _origin("https://a'b.example/auth") == ""
