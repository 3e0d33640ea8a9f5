"""A real OAuth 2.0 / OpenID Connect authorization server (npm oidc-provider) for tests, on loopback.

    with OidcProvider().start([{"client_id": "gw", "client_secret": "s", "redirect_uris": [callback]}]) as op:
        callback_url = sign_in(login_url)          # signs alice in, consents, returns redirect_uri?code=...
        op.outage(503, count=1)                    # the next token-endpoint call fails with 503
        op.stats()["grants"]["refresh_token"]      # successful refreshes so far

The server is `server.mjs` beside this file, run by node from the repo's node_modules. Clients are
oidc-provider client metadata; defaults: grant_types authorization_code + refresh_token (+
client_credentials for confidential clients), response_types code, client_secret_basic (secret
clients also accept client_secret_post). `"require_pkce": True` on a client makes PKCE mandatory for
it; public clients (`token_endpoint_auth_method: none`) always need PKCE S256.

Refresh tokens are issued to every client allowed the grant and rotate on each use; reusing a
consumed one fails with invalid_grant *and revokes the whole grant* (oidc-provider's replay
detection), so the newer refresh token stops working too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from tests.support.secret_scan import LOGS, SECRETS, harvest_secret_document

REPO = Path(__file__).resolve().parents[3]
SERVER_SCRIPT = Path(__file__).resolve().parent / "server.mjs"
AUTHORIZATION_PATH = "/auth"
INTERACTION_PREFIX = "/interaction/"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_SIGN_IN_STEPS = 20


class OidcProviderError(RuntimeError):
    """The provider could not be started or used."""


class SignInError(RuntimeError):
    """The sign-in flow did not end in a redirect to the client."""


# ---- pure protocol helpers ------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def origin(url: str) -> str:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or default_port}"


class _FormActions(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        action = dict(attrs).get("action")
        if tag == "form" and action:
            self.actions.append(action)


def interaction_actions(html: str, page_url: str) -> dict[str, str]:
    """The interaction page's form targets by their last path segment: login, confirm, abort."""
    parser = _FormActions()
    parser.feed(html)
    return {action.rstrip("/").rsplit("/", 1)[-1]: urljoin(page_url, action) for action in parser.actions}


def next_interaction(actions: dict[str, str], username: str, consent: bool) -> tuple[str, dict[str, str]]:
    """What a user does on an interaction page: sign in, then allow (or deny) the requested access."""
    if "login" in actions:
        return actions["login"], {"login": username}
    if "confirm" in actions:
        return (actions["confirm"], {}) if consent else (actions["abort"], {})
    raise SignInError(f"interaction page offers no known form: {sorted(actions)}")


def redirect_target(response: requests.Response) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    return urljoin(response.url, response.headers["Location"])


# ---- the browser-like driver ----------------------------------------------------------------------


def sign_in(
    login_url: str,
    username: str = "alice",
    consent: bool = True,
    session: requests.Session | None = None,
    issuer: str | None = None,
) -> str:
    """Walk the authorization flow like a browser and return the URL the provider finally redirects to.

    Starts at `login_url` (the provider's authorization URL, or a gateway URL that redirects there),
    signs `username` in, consents (or aborts when `consent` is False) and stops at the first redirect
    from the provider to another origin — the client's redirect_uri with `code`/`state` or `error`.
    That URL is returned unfetched. The provider is `issuer`, or else the origin whose path is `/auth`.
    """
    browser = session or requests.Session()
    provider = origin(issuer) if issuer else None
    method, url, form = "GET", login_url, None
    for _ in range(MAX_SIGN_IN_STEPS):
        response = browser.request(method, url, data=form, allow_redirects=False, timeout=10)
        if provider is None and urlsplit(url).path == AUTHORIZATION_PATH:
            provider = origin(url)
        on_provider = provider is not None and origin(url) == provider
        location = redirect_target(response)
        if location is not None:
            if on_provider and origin(location) != provider:
                return location
            if response.status_code not in (307, 308):
                method, form = "GET", None
            url = location
            continue
        if on_provider and response.status_code == 200 and urlsplit(url).path.startswith(INTERACTION_PREFIX):
            method = "POST"
            url, form = next_interaction(interaction_actions(response.text, url), username, consent)
            continue
        raise SignInError(f"sign-in stopped at {urlsplit(url).path} with HTTP {response.status_code}")
    raise SignInError(f"sign-in did not finish within {MAX_SIGN_IN_STEPS} steps")


# ---- the server process -----------------------------------------------------------------------------


class OidcProvider:
    """oidc-provider in a node child process; see the module docstring."""

    def __init__(self, node: str = "node") -> None:
        self.node = node
        self.process: subprocess.Popen[str] | None = None
        self.metadata: dict[str, Any] = {}
        self.http = requests.Session()
        self._log: IO[str] | None = None

    def start(
        self,
        clients: list[dict[str, Any]],
        access_token_ttl: int = 5,
        require_pkce: bool = False,
        scopes: list[str] | None = None,
        rotate_refresh_token: bool = True,
        ttl: dict[str, int] | None = None,
        startup_timeout: float = 30.0,
    ) -> OidcProvider:
        """Start the server. `ttl` overrides oidc-provider ttls (seconds) beyond the access-token ones."""
        node = shutil.which(self.node)
        if node is None:
            raise OidcProviderError(f"node executable {self.node!r} not found on PATH; install Node.js")
        if not (REPO / "node_modules" / "oidc-provider").is_dir():
            raise OidcProviderError(f"{REPO / 'node_modules'} has no oidc-provider; run `npm ci` in {REPO}")
        config: dict[str, Any] = {
            "port": 0,
            "clients": clients,
            "requirePkce": require_pkce,
            "rotateRefreshToken": rotate_refresh_token,
            "ttl": {"AccessToken": access_token_ttl, "ClientCredentials": access_token_ttl, **(ttl or {})},
        }
        if scopes is not None:
            config["scopes"] = scopes
        for client in clients:
            harvest_secret_document(SECRETS, client, "oidc-provider client")
        self._log = tempfile.NamedTemporaryFile("w+", prefix="oidc-provider-", suffix=".log")  # noqa: SIM115
        # Config (with client secrets) goes by environment, not argv, to stay out of process listings.
        self.process = subprocess.Popen(
            [node, str(SERVER_SCRIPT)],
            cwd=REPO,
            env={**os.environ, "OIDC_PROVIDER_CONFIG": json.dumps(config)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        try:
            issuer = self._read_ready_line(startup_timeout)
            self.metadata = self.http.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_ready_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            reason = "exited" if self.process.poll() is not None else f"was not ready within {timeout:.0f}s"
            raise OidcProviderError(f"oidc-provider {reason}; its log ends:\n{self.log_text()[-2000:]}")
        return str(json.loads(line)["issuer"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.http.close()
        if self._log is not None:
            LOGS.keep("oidc-provider", self.log_text())  # for the e2e secret scan; the file goes on close
            self._log.close()
            self._log = None

    def __enter__(self) -> OidcProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def log_text(self) -> str:
        """What the server wrote to stderr so far (no secrets or tokens are logged)."""
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    # ---- endpoints ----

    @property
    def issuer(self) -> str:
        return str(self.metadata["issuer"])

    @property
    def authorization_endpoint(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def revocation_endpoint(self) -> str:
        return str(self.metadata["revocation_endpoint"])

    @property
    def introspection_endpoint(self) -> str:
        return str(self.metadata["introspection_endpoint"])

    def authorization_url(self, client: dict[str, Any], **params: str) -> str:
        """An authorization-code request URL for `client` (its first redirect_uri unless given)."""
        query = {
            "client_id": client["client_id"],
            "response_type": "code",
            "redirect_uri": client["redirect_uris"][0],
            "scope": "openid",
            **params,
        }
        return f"{self.authorization_endpoint}?{urlencode(query)}"

    def sign_in(self, login_url: str, **options: Any) -> str:
        """`sign_in` with this provider as the issuer."""
        return sign_in(login_url, issuer=self.issuer, **options)

    # ---- client calls, authenticated the way the client is registered ----

    def _client_request(self, url: str, client: dict[str, Any], form: dict[str, str]) -> requests.Response:
        method = client.get("token_endpoint_auth_method", "client_secret_basic")
        if method == "client_secret_basic":
            return self.http.post(url, data=form, auth=(client["client_id"], client["client_secret"]), timeout=10)
        credentials = {"client_id": client["client_id"]}
        if method == "client_secret_post":
            credentials["client_secret"] = client["client_secret"]
        return self.http.post(url, data={**form, **credentials}, timeout=10)

    def token(self, client: dict[str, Any], **form: str) -> requests.Response:
        """A token-endpoint call, e.g. `token(client, grant_type="client_credentials")`."""
        return self._client_request(self.token_endpoint, client, form)

    def revoke(self, token: str, client: dict[str, Any]) -> requests.Response:
        return self._client_request(self.revocation_endpoint, client, {"token": token})

    def introspect(self, token: str, client: dict[str, Any]) -> dict[str, Any]:
        response = self._client_request(self.introspection_endpoint, client, {"token": token})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    # ---- test hooks ----

    def _test_hook(self, method: str, name: str, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, f"{self.issuer}/_test/{name}", timeout=10, **kwargs)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def outage(self, status: int = 503, count: int = 1) -> None:
        """Make the next `count` token-endpoint calls fail with `status` (body error temporarily_unavailable)."""
        self._test_hook("POST", "outage", json={"status": status, "count": count})

    def stats(self) -> dict[str, Any]:
        """Since the last reset: {"token_calls": every token-endpoint call, "token_errors": failed ones,
        "grants": {grant_type: successful calls}, "revocations": successful revocation calls}."""
        return self._test_hook("GET", "stats")

    def reset(self) -> None:
        """Zero the counters and cancel any pending outage."""
        self._test_hook("POST", "reset")
