"""Connector files for tests: real ones (a curated set in tests/fixtures, the whole corpus when
CONNECTORS_CORPUS names it) and minimal synthetic ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.connectors import Connector, build_connector, is_loopback_host
from shared.connectors._operations import HTTP_METHODS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Real connectors the repo carries (see tests/fixtures/README.md): every test on real files can run on them.
CURATED_CONNECTORS = FIXTURES / "connectors"
CATEGORIES = ("certified-connectors", "independent-publisher-connectors", "custom-connectors")

# The whole upstream corpus (232 connectors) is not in the repo; a whole-corpus test reads it from here.
CORPUS_VARIABLE = "CONNECTORS_CORPUS"
CORPUS_SIZE = 232

# Broken beyond what JSON5 tolerates (a missing comma, a missing brace), in the curated set and the corpus:
# real makers' files, kept as they are.
EXPECTED_FAILURES = {
    "certified-connectors/IN-D Invoice Data Capture": "line 51 column 13: Expecting ',' delimiter",
    "independent-publisher-connectors/AccuWeather": "line 9 column 7: Expecting ',' delimiter",
    "independent-publisher-connectors/Icon Horse": (
        "line 56 column 11: Expecting property name enclosed in double quotes"
    ),
}


def corpus_root() -> Path | None:
    """The folder CONNECTORS_CORPUS names, or None when it is unset. Set to anything but a folder is an error,
    not a quiet skip: whoever set it expected the whole-corpus tests to run."""
    value = os.environ.get(CORPUS_VARIABLE, "").strip()
    if not value:
        return None
    root = Path(value).expanduser().resolve()
    if not root.is_dir():
        raise pytest.UsageError(f"{CORPUS_VARIABLE}={value!r} is not a folder of connectors")
    return root


# Marks a test that needs the whole corpus: without it the test is skipped, and -ra reports why.
whole_corpus = pytest.mark.skipif(
    corpus_root() is None,
    reason=f"whole-corpus test not run: set {CORPUS_VARIABLE} to the folder of the {CORPUS_SIZE} reference "
    "connectors (e.g. ../shared/connectors) to run it",
)


def iter_real_connectors(root: Path = CURATED_CONNECTORS) -> Iterator[tuple[str, Path]]:
    """(name, directory) per connector; name is "category/folder" since some folders repeat across categories."""
    for category in CATEGORIES:
        base = root / category
        if not base.is_dir():
            continue
        for directory in sorted(p for p in base.iterdir() if p.is_dir()):
            yield f"{category}/{directory.name}", directory


def iter_corpus_connectors() -> Iterator[tuple[str, Path]]:
    """The whole corpus's connectors; nothing when CONNECTORS_CORPUS is unset (tests using it are whole_corpus)."""
    root = corpus_root()
    if root is not None:
        yield from iter_real_connectors(root)


def read_connector_files(directory: Path) -> tuple[bytes, bytes]:
    """(apiDefinition bytes, apiProperties bytes); the definition may be the folder's single *.swagger.json."""
    definition = directory / "apiDefinition.swagger.json"
    if not definition.is_file():
        candidates = sorted(directory.glob("*.swagger.json"))
        if len(candidates) != 1:
            raise FileNotFoundError(f"{directory}: no apiDefinition.swagger.json and not exactly one *.swagger.json")
        definition = candidates[0]
    return definition.read_bytes(), (directory / "apiProperties.json").read_bytes()


def make_api_definition(**overrides: Any) -> dict[str, Any]:
    """A minimal valid apiDefinition; keyword arguments replace (or, given None, remove) top-level keys."""
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "Example", "description": "An example API.", "version": "1.0"},
        "host": "api.example.com",
        "basePath": "/v1",
        "schemes": ["https"],
        "paths": {},
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


SEGMENT_OPERATIONS_DEPTH = 6


def segment_operations(
    depth: int = SEGMENT_OPERATIONS_DEPTH, methods: tuple[str, ...] = HTTP_METHODS
) -> dict[str, Any]:
    """Swagger `paths` declaring, for each method, `/` and `/{s1}` ... `/{s1}/.../{s<depth>}`: operations that
    cover the paths a test calls on a generic echo backend (`/x`, `/items/42`), declared the way a maker would,
    so every call still goes through operation matching. A call deeper than `depth` segments, or with another
    method, is undeclared (404). Tests about arbitrary paths (the path guard) opt into pass-through instead."""
    paths: dict[str, Any] = {}
    for size in range(depth + 1):
        template = "/" + "/".join(f"{{s{n}}}" for n in range(1, size + 1))
        parameters = [{"name": f"s{n}", "in": "path", "required": True, "type": "string"} for n in range(1, size + 1)]
        paths[template] = {
            method: {"operationId": f"{method}_{size}", "parameters": parameters, "responses": {"default": {}}}
            for method in methods
        }
    return paths


PASS_THROUGH_POLICY = {"operations": {"passThrough": True}}


def make_parameter(parameter_type: str = "string", required: Any = "true", **extra: Any) -> dict[str, Any]:
    """One connection parameter as apiProperties declares it; `constraints` entries merge into uiDefinition."""
    constraints = {"required": required, **extra.pop("constraints", {})}
    return {"type": parameter_type, "uiDefinition": {"displayName": "A parameter", "constraints": constraints}, **extra}


def make_api_properties(parameters: dict[str, Any] | None = None, **properties: Any) -> dict[str, Any]:
    return {"properties": {"connectionParameters": parameters or {}, "iconBrandColor": "#007ee5", **properties}}


API_KEY_HEADER = {"API Key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}


def build_example(
    definition: dict[str, Any] | None = None, properties: dict[str, Any] | None = None, connector_id: str = "example"
) -> Connector:
    return build_connector(connector_id, definition or make_api_definition(), properties or make_api_properties())


def error_pointers(caught: pytest.ExceptionInfo[Any]) -> list[str]:
    """The pointers of a raised ConnectorInvalid / ConnectionValuesInvalid, in order."""
    return [error["pointer"] for error in caught.value.errors]


def scheme_for(host: str) -> str:
    """The scheme a test connector declares: plain http for the tests' loopback backends (the https rule lets
    them through with PROXY_ALLOW_LOOPBACK), https for any other host, as the https rule requires."""
    return "http" if is_loopback_host(host) else "https"


def api_key_connector(host: str, location: str = "header", name: str = "X-Api-Key", base_path: str = "/v1") -> tuple:
    """A minimal apiKey connector pointing at `host`."""
    definition = {
        "swagger": "2.0",
        "info": {"title": "Echo", "description": "Test backend", "version": "1.0"},
        "host": host,
        "basePath": base_path,
        "schemes": [scheme_for(host)],
        "paths": segment_operations(),
        "securityDefinitions": {"api_key": {"type": "apiKey", "in": location, "name": name}},
    }
    properties = {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "API Key",
                        "description": "The key for the echo API",
                        "tooltip": "Provide your key",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                }
            },
            "iconBrandColor": "#007ee5",
            "publisher": "Tests",
        }
    }
    return definition, properties


def oauth_connector(
    host: str,
    authorization_url: str,
    token_url: str,
    revocation_url: str,
    client_id: str,
    base_path: str = "/oauth",
    **custom: str,
) -> tuple[dict, dict]:
    """A generic oauth2 connector pointing at `host`, with the endpoints of a (local) authorization server."""
    definition = {
        "swagger": "2.0",
        "info": {"title": "OAuth echo", "version": "1.0"},
        "host": host,
        "basePath": base_path,
        "schemes": [scheme_for(host)],
        "paths": segment_operations(),
        "securityDefinitions": {
            "oauth2_auth": {
                "type": "oauth2",
                "flow": "accessCode",
                "authorizationUrl": authorization_url,
                "tokenUrl": token_url,
                "scopes": {},
            }
        },
    }
    endpoints = {
        "authorizationUrl": authorization_url,
        "tokenUrl": token_url,
        "refreshUrl": token_url,
        "revocationUrl": revocation_url,
        **custom,
    }
    settings = {
        "identityProvider": "oauth2",
        "clientId": client_id,
        "scopes": ["openid", "offline_access", "api.read"],
        "redirectMode": "GlobalPerConnector",
        "customParameters": {name: {"value": value} for name, value in endpoints.items()},
    }
    properties = {
        "properties": {"connectionParameters": {"token": {"type": "oauthSetting", "oAuthSettings": settings}}}
    }
    return definition, properties
