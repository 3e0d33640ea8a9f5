"""The e2e secret scan's own tests: it finds a secret in every form a log could hold it, and only there."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.support.secret_scan import MIN_LENGTH, SecretRegistry, find_leaks, harvest_http, harvest_secret_document

SECRET = 'sk-"live"/key+42='


@pytest.mark.parametrize(
    "line",
    [
        f"invoke with {SECRET}",
        json.dumps({"message": f"header {SECRET}"}),  # JSON-escaped quotes
        f"GET /x?api_key={quote(SECRET, safe='')}",  # URL-encoded
        f"Authorization: Basic {base64.b64encode(SECRET.encode()).decode()}",  # Base64
    ],
)
def test_a_secret_is_found_in_any_encoding(line: str) -> None:
    leaks = find_leaks({"gateway.log": f"first line\n{line}\nlast line"}, {SECRET: "a test's api_key"})
    assert len(leaks) >= 1 and leaks[0].log == "gateway.log" and "<SECRET>" in leaks[0].line
    assert SECRET not in str(leaks[0])  # the report doesn't repeat the secret


def test_a_clean_log_has_no_leaks() -> None:
    assert find_leaks({"gateway.log": "invoke c1 GET -> 200\n"}, {SECRET: "x"}) == []


def test_credentials_are_collected_from_headers_query_and_bodies() -> None:
    registry = SecretRegistry()
    basic = base64.b64encode(b"ann:basic-password").decode()
    harvest_http(registry, "http://127.0.0.1/x?subscription-key=query-key-123&page=2", {}, None, "t")
    harvest_http(registry, "http://127.0.0.1/x", {"Authorization": "Bearer eyJhbGciOi.jwt.sig"}, None, "t")
    harvest_http(registry, "http://127.0.0.1/x", {"Authorization": f"Basic {basic}"}, None, "t")
    harvest_http(registry, "http://127.0.0.1/x", {"Ocp-Apim-Subscription-Key": "header-key-123"}, None, "t")
    body = json.dumps({"displayName": "my connection", "parameters": {"api_key": "body-key-123"}}).encode()
    harvest_http(registry, "http://127.0.0.1/x", {}, body, "t")
    harvest_http(registry, "", {}, b"grant_type=refresh_token&refresh_token=rt-form-123", "t")

    assert set(registry.values()) >= {
        "query-key-123",
        "eyJhbGciOi.jwt.sig",
        "basic-password",
        "header-key-123",
        "body-key-123",
        "rt-form-123",
    }
    assert "my connection" not in registry.values() and "2" not in registry.values()


def test_short_values_are_not_collected() -> None:
    registry = SecretRegistry()
    registry.add("k" * (MIN_LENGTH - 1), "t")
    assert registry.values() == {}


def test_only_secret_named_fields_of_a_document_are_collected() -> None:
    registry = SecretRegistry()
    document = {
        "parameters": {"api_key": "k" * 9, "region": "mars-north"},
        "tokenExpiresAt": "2026-01-01T00:00:00Z",
        "PartitionKey": "connection-1",
        "tokens": {"access_token": "at-123456789", "token_type": "Bearer-ish"},
    }
    harvest_secret_document(registry, document, "x")
    assert registry.values() == {"k" * 9: "x: api_key", "at-123456789": "x: access_token"}


def test_a_streamed_body_is_left_alone() -> None:
    # requests sends an iterator chunked: the harvest must neither fail on it nor use up what would be sent.
    registry = SecretRegistry()
    parts = iter([b'{"password": "', b"not-read-because-streamed", b'"}'])
    harvest_http(registry, "http://127.0.0.1/x", {}, parts, "sent")
    assert next(parts) == b'{"password": "'
    assert registry.values() == {}
