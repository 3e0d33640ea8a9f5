"""Small stand-ins for identity providers' token endpoints, answering the way each provider documents.

    with ProviderStandin("github") as github:
        code = github.issue_code("https://gw/cb")
        ... OAuthClient(session).exchange_code(config_pointing_at(github.url), ...)
        github.calls("/login/oauth/access_token")[0].form   # what the stand-in received
        github.fail_next("/login/oauth/access_token", Reply(503))

One ThreadingHTTPServer on 127.0.0.1 (port from the OS), HTTP/1.1 keep-alive, TCP_NODELAY and one
send per response; TLS (a self-signed certificate for 127.0.0.1, `ca_file` to trust it) for msal,
which talks https only. Flavours: standard (RFC 6749/7009), github, google, salesforce, facebook,
dropbox, slack, entra. Answers are modelled on each provider's documentation; paths are the real ones.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.secret_scan import SECRETS
from tests.support.standin_server import (
    Received,
    Reply,
    StandinServer,
    form_reply,
    json_reply,
    self_signed,
)

__all__ = ["PATHS", "ProviderStandin", "Received", "Reply", "StandinServer", "json_reply", "self_signed"]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    redirect_uri: str
    code_challenge: str | None
    scope: str
    offline: bool


PATHS = {  # flavour -> (token path, revocation path)
    "standard": ("/oauth/token", "/oauth/revoke"),
    "github": ("/login/oauth/access_token", "/applications/{client_id}/grant"),
    "google": ("/token", "/revoke"),
    "salesforce": ("/services/oauth2/token", "/services/oauth2/revoke"),
    "facebook": ("/v21.0/oauth/access_token", None),
    "dropbox": ("/oauth2/token", "/2/auth/token/revoke"),
    "slack": ("/api/oauth.v2.access", "/api/auth.revoke"),
    "entra": ("/tenant-1/oauth2/v2.0/token", None),
}


# Provider error codes for the RFC 6749 ones, as each provider documents them.
_GITHUB_ERRORS = {"invalid_grant": "bad_verification_code", "invalid_client": "incorrect_client_credentials"}
_SLACK_ERRORS = {"invalid_grant": "invalid_code", "invalid_client": "bad_client_secret"}


class ProviderStandin(StandinServer):
    """An in-memory authorization server of one flavour: issues codes, checks client auth, PKCE and redirect_uri,
    grants and rotates tokens, records revocations."""

    def __init__(
        self,
        flavour: str,
        *,
        client_id: str = "client-1",
        client_secret: str = "secret-1",
        expires_in: Any = 3600,  # standard: an int, a string, or None (left out)
        rotate: bool = True,  # standard/entra: a refresh issues a new refresh token
        expiring: bool = False,  # github: a GitHub App with expiring user tokens (refresh tokens); slack: rotation
        certificate: x509.Certificate | None = None,  # entra: the client's certificate (client assertions)
        instance_url: str = "https://acme.my.salesforce.com",  # salesforce: the org's host its answers name
    ) -> None:
        super().__init__(tls=flavour == "entra")
        self.flavour = flavour
        self.client_id, self.client_secret = client_id, client_secret
        SECRETS.add(client_secret, "OAuth stand-in client secret")
        self.expires_in, self.rotate, self.expiring, self.certificate = expires_in, rotate, expiring, certificate
        self.instance_url = instance_url
        self.grants: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> scope
        self.access_tokens: set[str] = set()
        self.revoked: list[tuple[str, str | None]] = []  # (token, token_type_hint)
        token_path, revocation_path = PATHS[flavour]
        self.token_path = token_path
        self.revocation_path = revocation_path.format(client_id=client_id) if revocation_path else None
        self.route("POST", token_path, self._token)
        if self.revocation_path:
            self.route("DELETE" if flavour == "github" else "POST", self.revocation_path, self._revoke)
        if flavour == "entra":
            self.route("GET", "/tenant-1/v2.0/.well-known/openid-configuration", self._discovery)

    # -- what a test does at the "authorization endpoint" ----------------------------------------

    def issue_code(
        self, redirect_uri: str, code_challenge: str | None = None, scope: str = "read", offline: bool = True
    ) -> str:
        code = f"code-{secrets.token_urlsafe(12)}"
        self.grants[code] = Grant(redirect_uri, code_challenge, scope, offline)
        return code

    def grant_refresh_token(self, scope: str = "read") -> str:
        token = f"rt-{secrets.token_urlsafe(12)}"
        self.refresh_tokens[token] = scope
        return token

    # -- token endpoint ---------------------------------------------------------------------------

    def _client_ok(self, r: Received) -> bool:
        if r.basic is not None:
            return r.basic == (self.client_id, self.client_secret)
        form = r.form
        if "client_assertion" in form:
            return self._assertion_ok(form)
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def _assertion_ok(self, form: dict[str, str]) -> bool:
        import jwt

        if self.certificate is None:
            return False
        header = jwt.get_unverified_header(form["client_assertion"])
        thumbprint = base64.urlsafe_b64encode(self.certificate.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
        try:
            claims = jwt.decode(
                form["client_assertion"],
                self.certificate.public_key(),
                algorithms=["RS256", "PS256"],
                audience=self.url + self.token_path,
            )
        except jwt.InvalidTokenError:
            return False
        return str(header.get("x5t", "")).rstrip("=") == thumbprint and claims["iss"] == claims["sub"] == self.client_id

    def _token(self, r: Received) -> Reply:
        if not self._client_ok(r):
            return self._error(r, "invalid_client", "Client authentication failed.", 401)
        form = r.form
        grant_type = form.get("grant_type", "authorization_code" if self.flavour == "github" else "")
        if grant_type == "authorization_code":
            grant = self.grants.pop(form.get("code", ""), None)
            if grant is None:
                return self._error(r, "invalid_grant", "The code is invalid or expired.", 400)
            if form.get("redirect_uri") != grant.redirect_uri:
                return self._error(r, "invalid_grant", "redirect_uri does not match.", 400)
            if grant.code_challenge and s256(form.get("code_verifier", "")) != grant.code_challenge:
                return self._error(r, "invalid_grant", "PKCE verification failed.", 400)
            return self._success(r, grant.scope, first=True, offline=grant.offline)
        if grant_type == "refresh_token" and self.flavour != "facebook":
            scope = self.refresh_tokens.get(form.get("refresh_token", ""))
            if scope is None:
                return self._error(r, "invalid_grant", "The refresh token is invalid.", 400)
            if self.rotate and self._issues_refresh(first=False, offline=True):  # a new one replaces it
                del self.refresh_tokens[form["refresh_token"]]
            return self._success(r, scope, first=False, offline=True)
        if grant_type == "client_credentials":
            return self._success(r, form.get("scope", ""), first=False, offline=False)
        return self._error(r, "unsupported_grant_type", "Unsupported grant type.", 400)

    def _issues_refresh(self, first: bool, offline: bool) -> bool:
        return {
            "standard": offline and (first or self.rotate),
            "github": self.expiring,
            "google": first and offline,
            "salesforce": first,
            "facebook": False,
            "dropbox": first and offline,
            "slack": self.expiring,
            "entra": offline,
        }[self.flavour]

    def _success(self, r: Received, scope: str, first: bool, offline: bool) -> Reply:
        access = f"at-{secrets.token_urlsafe(12)}"
        self.access_tokens.add(access)
        refresh = f"rt-{secrets.token_urlsafe(12)}" if self._issues_refresh(first, offline) else None
        SECRETS.add(access, f"{self.flavour} stand-in access token")
        SECRETS.add(refresh, f"{self.flavour} stand-in refresh token")
        if refresh:
            self.refresh_tokens[refresh] = scope
        tokens: dict[str, Any] = {"access_token": access}
        if refresh:
            tokens["refresh_token"] = refresh
        flavour = self.flavour
        if flavour == "standard":
            expires = {} if self.expires_in is None else {"expires_in": self.expires_in}
            return json_reply({**tokens, "token_type": "Bearer", "scope": scope, **expires})
        if flavour == "github":  # form-encoded unless the client asks for JSON
            payload = {**tokens, "scope": scope.replace(" ", ","), "token_type": "bearer"}
            if self.expiring:
                payload.update(expires_in=28800, refresh_token_expires_in=15811200)
            wants_json = "application/json" in r.headers.get("accept", "")
            return json_reply(payload) if wants_json else form_reply(payload)
        if flavour == "google":
            return json_reply({**tokens, "expires_in": 3599, "scope": scope, "token_type": "Bearer"})
        if flavour == "salesforce":  # no expires_in; the org's host in instance_url
            return json_reply(
                {
                    **tokens,
                    "signature": "c2lnbmF0dXJl",
                    "scope": scope,
                    "token_type": "Bearer",
                    "instance_url": self.instance_url,
                    "id": "https://login.salesforce.com/id/00Dx/005x",
                    "issued_at": "1700000000000",
                }
            )
        if flavour == "facebook":
            return json_reply({**tokens, "token_type": "bearer", "expires_in": 5183944})
        if flavour == "dropbox":
            extra = {"scope": scope, "account_id": "dbid:AAH4f99", "uid": "12345"} if first else {}
            return json_reply({**tokens, "token_type": "bearer", "expires_in": 14400, **extra})
        if flavour == "slack":
            rotation = {"expires_in": 43200} if self.expiring else {}
            if first:  # a user-scope install: the user's token is nested in authed_user
                user = {"id": "U1234", "scope": scope, **tokens, "token_type": "user", **rotation}
                return json_reply(
                    {
                        "ok": True,
                        "app_id": "A0KRD7HC3",
                        "authed_user": user,
                        "enterprise": None,
                        "team": {"id": "T9TK3CUKW", "name": "Acme"},
                        "is_enterprise_install": False,
                    }
                )
            return json_reply({"ok": True, **tokens, "token_type": "user", "scope": scope, **rotation})
        return json_reply(  # entra
            {
                "token_type": "Bearer",
                "scope": scope or "https://graph.microsoft.com/.default",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                **tokens,
            }
        )

    def _error(self, r: Received, error: str, description: str, status: int) -> Reply:
        flavour = self.flavour
        if flavour == "github":  # errors come with HTTP 200
            payload = {"error": _GITHUB_ERRORS.get(error, error), "error_description": description}
            return json_reply(payload) if "application/json" in r.headers.get("accept", "") else form_reply(payload)
        if flavour == "facebook":
            detail = {"message": description, "type": "OAuthException", "code": 100, "fbtrace_id": "AbCdEf123"}
            return json_reply({"error": detail}, 400)
        if flavour == "slack":
            return json_reply({"ok": False, "error": _SLACK_ERRORS.get(error, error)})
        if flavour == "entra":
            return json_reply(
                {
                    "error": error,
                    "error_description": f"AADSTS70008: {description} Trace ID: 0000",
                    "error_codes": [70008],
                    "trace_id": "0000",
                    "correlation_id": "1111",
                },
                status,
            )
        return json_reply({"error": error, "error_description": description}, status)

    # -- revocation and discovery -----------------------------------------------------------------

    def _revoke(self, r: Received) -> Reply:
        if self.flavour in ("dropbox", "slack"):  # the access token authenticates its own revocation
            known = r.bearer in self.access_tokens
            if known:
                self.access_tokens.discard(r.bearer or "")
                self.revoked.append((r.bearer or "", None))
            if self.flavour == "slack":
                return json_reply({"ok": True, "revoked": True} if known else {"ok": False, "error": "invalid_auth"})
            return json_reply(None) if known else json_reply({"error": {".tag": "invalid_access_token"}}, 401)
        if self.flavour == "github":
            if r.basic != (self.client_id, self.client_secret):
                return json_reply({"message": "Requires authentication"}, 401)
            token = r.json.get("access_token", "")
            if token not in self.access_tokens:
                return json_reply({"message": "Not Found"}, 404)
            self.access_tokens.discard(token)
            self.revoked.append((token, None))
            return Reply(204)
        form = r.form
        if self.flavour != "google" and not self._client_ok(r):
            return json_reply({"error": "invalid_client"}, 401)
        token = form.get("token", "")
        known = token in self.access_tokens or token in self.refresh_tokens
        if known:
            self.access_tokens.discard(token)
            self.refresh_tokens.pop(token, None)
            self.revoked.append((token, form.get("token_type_hint")))
        elif self.flavour == "google":
            return json_reply({"error": "invalid_token", "error_description": "Token expired or revoked"}, 400)
        return Reply(200)

    def _discovery(self, r: Received) -> Reply:
        base = f"{self.url}/tenant-1"
        return json_reply(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )
