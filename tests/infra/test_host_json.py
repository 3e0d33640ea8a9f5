"""host.json is valid for the Functions host and keeps the route prefix the redirect URL uses."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.infra.bicep_model import REPO_ROOT

HOST_JSON = REPO_ROOT / "host.json"
# SchemaStore's host.json schema, carried in the repo (tests/fixtures/README.md says where from).
SCHEMA = REPO_ROOT / "tests" / "fixtures" / "schemas" / "host.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    assert SCHEMA.exists(), f"{SCHEMA} is missing"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def host_json() -> dict[str, Any]:
    return json.loads(HOST_JSON.read_text(encoding="utf-8"))


def test_host_json_matches_the_schema(validator: jsonschema.protocols.Validator) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(host_json())]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    "broken",
    [
        {"version": "1.0"},
        {"version": "2.0", "logging": {"logLevel": {"default": "Loud"}}},
        {"version": "2.0", "extensions": {"http": {"routePrefix": 5}}},
    ],
    ids=["v1-host", "bad-log-level", "route-prefix-not-string"],
)
def test_schema_rejects_broken_host_json(validator: jsonschema.protocols.Validator, broken: dict[str, Any]) -> None:
    assert not validator.is_valid(broken)


def test_host_json_is_v2_with_extension_bundle_and_api_prefix() -> None:
    host = host_json()
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    # infra/main.bicep builds the OAuth redirect URL as <public url>/api/oauth/callback.
    assert host["extensions"]["http"]["routePrefix"] == "api"
