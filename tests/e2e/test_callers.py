"""Caller authentication over HTTP: every bad credential gets the exact RFC 6750 answer, and nothing else leaks."""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.conftest import MAKER_ROLE, Stack, problem
from tests.support.oidc_issuer import SigningKey


def bad_tokens(stack: Stack) -> dict[str, str]:
    issuer = stack.issuer
    return {
        "expired": issuer.mint({"sub": "eve", "exp": int(time.time()) - 3600, "nbf": int(time.time()) - 7200}),
        "not yet valid": issuer.mint({"sub": "eve", "nbf": int(time.time()) + 3600}),
        "wrong audience": issuer.mint({"sub": "eve", "aud": "api://someone-else"}),
        "untrusted issuer": issuer.mint({"sub": "eve", "iss": "https://evil.example/"}),
        "alg none": issuer.unsigned({"sub": "eve"}),
        "HS256 with the public key": issuer.forge_hs256_with_public_key({"sub": "eve"}),
        "unknown kid": issuer.mint({"sub": "eve"}, key=SigningKey.generate("RS256")),
        "foreign signature": issuer.mint(
            {"sub": "eve"}, key=SigningKey.generate("RS256"), headers={"kid": issuer.keys[0].kid}
        ),
        "no exp": issuer.mint({"sub": "eve", "exp": None}),
        "garbage": "not-a-jwt",
        "EC key nobody published": issuer.mint({"sub": "eve"}, key=SigningKey.generate("ES256")),
    }


CASES = [
    "expired",
    "not yet valid",
    "wrong audience",
    "untrusted issuer",
    "alg none",
    "HS256 with the public key",
    "unknown kid",
    "foreign signature",
    "no exp",
    "garbage",
    "EC key nobody published",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_jwts_get_401_invalid_token(stack: Stack, case: str) -> None:
    token = bad_tokens(stack)[case]
    for url in (f"{stack.url}/api/connections", f"{stack.url}/api/connectors"):
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 401, (case, response.text)
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer ")
        assert 'error="invalid_token"' in challenge
        assert token not in response.text
        problem(response)


def test_no_credential_gets_401_without_an_error_code(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/api/connections", timeout=10)
    assert response.status_code == 401
    assert "error=" not in response.headers["WWW-Authenticate"]
    assert "subscription key" in problem(response)["detail"]


def test_revoked_and_unknown_keys_get_401(stack: Stack) -> None:
    from devtools.stack import REPO

    key = stack.key("revoked-caller")
    header = {"Ocp-Apim-Subscription-Key": key}
    assert requests.get(f"{stack.url}/api/connections", headers=header, timeout=10).status_code == 200
    listing = _cli(stack, REPO, "keys", "list").splitlines()
    key_id = next(line.split()[0] for line in listing if "revoked-caller" in line and "active" in line)
    _cli(stack, REPO, "keys", "revoke", key_id)
    for value in (key, "cgk_never-issued-never-issued"):
        response = requests.get(
            f"{stack.url}/api/connections", headers={"Ocp-Apim-Subscription-Key": value}, timeout=10
        )
        assert response.status_code == 401
        assert value not in response.text
        problem(response)


def _cli(stack: Stack, repo: object, *args: str) -> str:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], cwd=repo, env=stack.env, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_authenticated_but_not_a_maker_gets_403(stack: Stack) -> None:
    body = {"apiDefinition": {}, "apiProperties": {}}
    response = stack.client("plain-user").put(f"{stack.url}/api/connectors/anything", json=body)
    assert response.status_code == 403
    assert MAKER_ROLE in problem(response)["detail"]
    assert "WWW-Authenticate" not in response.headers
