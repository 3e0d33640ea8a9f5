"""A local OpenID Connect issuer for tests: real keys, real signatures, served over loopback http.

    with OidcIssuer() as issuer:
        token = issuer.mint({"roles": ["Connectors.Manage"]})
        issuer.rotate()                 # new key published, old ones withdrawn
        issuer.fetches[issuer.jwks_path]  # how often the JWKS was fetched

Serves `<issuer>/.well-known/openid-configuration` and `<issuer>/keys` on 127.0.0.1, port chosen
by the OS. Keys are RSA-2048 (RS256/RS512/PS256) or EC P-256 (ES256), generated with
`cryptography`; tokens are signed with PyJWT. `forge_hs256_with_public_key` and `unsigned` build
the classic attack tokens.

Entra-shaped issuers: a path with `{tenantid}` makes one issuer per tenant, like
`https://login.microsoftonline.com/{tenantid}/v2.0` (`OidcIssuer("/{tenantid}/v2.0")`) or the v1
`https://sts.windows.net/{tenantid}/` (`OidcIssuer("/{tenantid}/")`); each tenant has its own
discovery document and JWKS path, all publishing the same keys, and `mint(tenant=...)` fills
`iss` and `tid`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from devtools.http_server import NoDelayHTTPServer

DEFAULT_AUDIENCE = "api://connector-gateway"
DEFAULT_SUBJECT = "user-1"
TENANT_PLACEHOLDER = "{tenantid}"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, algorithm: str = "RS256", kid: str | None = None) -> SigningKey:
        if algorithm == "ES256":
            private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = ec.generate_private_key(ec.SECP256R1())
        elif algorithm in ("RS256", "RS512", "PS256"):
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unsupported algorithm {algorithm}")
        return cls(kid or uuid.uuid4().hex[:16], algorithm, private_key)

    def public_jwk(self, include_alg: bool = False) -> dict[str, Any]:
        """The JWKS entry. Like Entra's, it has no `alg` unless asked for."""
        public_key = self.private_key.public_key()
        exporter = ECAlgorithm if isinstance(public_key, ec.EllipticCurvePublicKey) else RSAAlgorithm
        jwk: dict[str, Any] = json.loads(exporter.to_jwk(public_key))
        jwk.update(kid=self.kid, use="sig")
        if include_alg:
            jwk["alg"] = self.algorithm
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def certificate_pem(self) -> bytes:
        """A self-signed X.509 certificate of the public key, valid for a day."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test signing key {self.kid}")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.private_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class _Server(NoDelayHTTPServer):
    def __init__(self, issuer: OidcIssuer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.issuer = issuer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        status, document = self.server.issuer.respond(self.path)
        body = json.dumps(document).encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        ).encode("ascii")
        self.wfile.write(head + body)  # one send: headers and body together

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OidcIssuer:
    """Start with `with OidcIssuer() as issuer:` (or start()/stop()). One RS256 key is published at start."""

    def __init__(self, path: str = "", audience: str = DEFAULT_AUDIENCE) -> None:
        self.path = path  # a trailing slash stays part of the issuer, as in Entra's v1 issuers
        self.audience = audience
        self.fetches: Counter[str] = Counter()  # request path -> count
        self.discovery_status = 200  # set to 5xx to simulate an outage
        self.jwks_status = 200
        self.extra_jwk_members: dict[str, Any] = {}  # e.g. Entra's {"issuer": ...} on every published key
        self._published: list[SigningKey] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> OidcIssuer:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="oidc-issuer", daemon=True
        )
        self._thread.start()
        if not self._published:
            self.publish(SigningKey.generate("RS256"))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses and counters ---

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the issuer first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        """The issuer; for a tenant template, the template itself (see issuer_for)."""
        return self.base_url + self.path

    def issuer_for(self, tenant: str) -> str:
        return self.issuer.replace(TENANT_PLACEHOLDER, tenant)

    def _path_for(self, tenant: str | None) -> str:
        return self.path.replace(TENANT_PLACEHOLDER, tenant) if tenant else self.path

    def discovery_path_for(self, tenant: str | None = None) -> str:
        return self._path_for(tenant).rstrip("/") + "/.well-known/openid-configuration"

    def jwks_path_for(self, tenant: str | None = None) -> str:
        return self._path_for(tenant).rstrip("/") + "/keys"

    @property
    def discovery_path(self) -> str:
        return self.discovery_path_for()

    @property
    def jwks_path(self) -> str:
        return self.jwks_path_for()

    @property
    def discovery_fetches(self) -> int:
        return self.fetches[self.discovery_path]

    @property
    def jwks_fetches(self) -> int:
        return self.fetches[self.jwks_path]

    # --- keys ---

    @property
    def keys(self) -> list[SigningKey]:
        with self._lock:
            return list(self._published)

    def publish(self, key: SigningKey) -> SigningKey:
        with self._lock:
            self._published.append(key)
        return key

    def unpublish(self, key: SigningKey) -> None:
        with self._lock:
            self._published = [published for published in self._published if published.kid != key.kid]

    def add_key(self, algorithm: str = "RS256", kid: str | None = None) -> SigningKey:
        return self.publish(SigningKey.generate(algorithm, kid))

    def rotate(self, algorithm: str = "RS256") -> SigningKey:
        """Publishes a new key and withdraws all others."""
        key = SigningKey.generate(algorithm)
        with self._lock:
            self._published = [key]
        return key

    # --- tokens ---

    def claims(
        self, overrides: dict[str, Any] | None = None, lifetime: int = 300, tenant: str | None = None
    ) -> dict[str, Any]:
        """Default claims merged with `overrides`; an override of None removes the claim.
        `tenant` sets `tid` and the tenant's issuer."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer_for(tenant) if tenant else self.issuer,
            "sub": DEFAULT_SUBJECT,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        if tenant:
            claims["tid"] = tenant
        claims.update(overrides or {})
        return {name: value for name, value in claims.items() if value is not None}

    def mint(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: SigningKey | None = None,
        algorithm: str | None = None,
        headers: dict[str, Any] | None = None,
        lifetime: int = 300,
        tenant: str | None = None,
    ) -> str:
        """A signed token. `key` defaults to the first published key (it needn't be published);
        `headers` are merged over {"kid": key.kid}, None removing a header."""
        key = key or self.keys[0]
        merged_headers = {"kid": key.kid, **(headers or {})}
        return jwt.encode(
            self.claims(claims, lifetime, tenant),
            key.private_key,
            algorithm=algorithm or key.algorithm,
            headers={name: value for name, value in merged_headers.items() if value is not None},
        )

    def unsigned(self, claims: dict[str, Any] | None = None) -> str:
        """An `alg: none` token."""
        header = {"alg": "none", "typ": "JWT", "kid": self.keys[0].kid}
        return f"{_b64url_json(header)}.{_b64url_json(self.claims(claims))}."

    def forge_hs256_with_public_key(self, claims: dict[str, Any] | None = None, key: SigningKey | None = None) -> str:
        """The algorithm-confusion attack: HMAC-SHA256 keyed with the issuer's public key PEM."""
        key = key or self.keys[0]
        header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(self.claims(claims))}"
        signature = hmac.new(key.public_pem(), signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    # --- HTTP ---

    def _tenant_of(self, path: str, tail: str) -> tuple[bool, str | None]:
        """Whether `path` is `tail` under this issuer's path (any tenant for a template), and the tenant."""
        prefix, templated, suffix = (self.path.rstrip("/") + tail).partition(TENANT_PLACEHOLDER)
        if not templated:
            return path == prefix, None
        tenant = path[len(prefix) : len(path) - len(suffix)]
        matches = path.startswith(prefix) and path.endswith(suffix) and bool(tenant) and "/" not in tenant
        return matches, tenant if matches else None

    def respond(self, request_path: str) -> tuple[int, dict[str, Any]]:
        path = request_path.split("?", 1)[0]
        with self._lock:
            self.fetches[path] += 1
        is_discovery, tenant = self._tenant_of(path, "/.well-known/openid-configuration")
        if is_discovery:
            if self.discovery_status != 200:
                return self.discovery_status, {"error": "unavailable"}
            return 200, {
                "issuer": self.issuer_for(tenant) if tenant else self.issuer,
                "jwks_uri": self.base_url + self.jwks_path_for(tenant),
                "id_token_signing_alg_values_supported": ["RS256", "RS512", "PS256", "ES256"],
            }
        if self._tenant_of(path, "/keys")[0]:
            if self.jwks_status != 200:
                return self.jwks_status, {"error": "unavailable"}
            return 200, {"keys": [key.public_jwk() | self.extra_jwk_members for key in self.keys]}
        return 404, {"error": "not found"}
