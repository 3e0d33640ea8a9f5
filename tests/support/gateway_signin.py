"""The gateway's sign-in pages driven like a browser: one requests.Session is one browser (its cookie jar).

browser = requests.Session()
provider_url = to_provider(browser, connection["loginUrl"])   # start page, then its confirm form
callback = sign_in(provider_url, session=browser)              # tests.support.oidc_provider
browser.get(callback)                                          # the same browser, with its binding cookie
"""

from __future__ import annotations

import re

import requests

CSRF_FIELD = re.compile(r"name='csrf' value='([^']+)'")


def open_start_page(browser: requests.Session, login_url: str) -> tuple[requests.Response, str]:
    """GET the loginUrl: the page and the CSRF token of its confirm form."""
    page = browser.get(login_url, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    if page.status_code != 200:
        raise AssertionError(f"the start page answered HTTP {page.status_code}: {page.text[:300]}")
    found = CSRF_FIELD.search(page.text)
    if found is None:
        raise AssertionError("the start page has no confirm form")
    return page, found.group(1)


def confirm(browser: requests.Session, login_url: str, csrf: str | None) -> requests.Response:
    """POST the start page's form (without a csrf field when `csrf` is None)."""
    form = {"csrf": csrf} if csrf is not None else {}
    return browser.post(login_url, data=form, allow_redirects=False, timeout=30)


def to_provider(browser: requests.Session, login_url: str) -> str:
    """Open the start page and confirm it: the identity provider URL the gateway sends this browser to."""
    _, csrf = open_start_page(browser, login_url)
    confirmed = confirm(browser, login_url, csrf)
    if confirmed.status_code != 303:
        raise AssertionError(f"the confirmation answered HTTP {confirmed.status_code}: {confirmed.text[:300]}")
    return confirmed.headers["Location"]
