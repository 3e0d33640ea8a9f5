"""GET /api/connectors/{id}/apiDefinition and /apiProperties: the uploaded files as they were, never a client secret."""

from __future__ import annotations

import json
import os
import uuid

from tests.e2e.conftest import MAKER_ROLE, Stack, api_key_connector, host_of, problem
from tests.support.connector_files import CURATED_CONNECTORS

REAL = CURATED_CONNECTORS / "independent-publisher-connectors" / "Nationalize.io"


def test_multipart_upload_downloads_byte_for_byte(stack: Stack) -> None:
    files = {
        "apiDefinition": ("apiDefinition.swagger.json", (REAL / "apiDefinition.swagger.json").read_bytes()),
        "apiProperties": ("apiProperties.json", (REAL / "apiProperties.json").read_bytes()),
    }
    maker = stack.maker()
    assert maker.put(f"{stack.url}/api/connectors/dl-real", files=files).status_code == 201
    for name, (_, data) in files.items():
        response = maker.get(f"{stack.url}/api/connectors/dl-real/{name}")
        assert response.status_code == 200, response.text
        assert response.content == data
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        # Those who only use the connector see it, but not its files: they may hold what GET never shows.
        user = stack.client("someone").get(f"{stack.url}/api/connectors/dl-real/{name}")
        assert user.status_code == 403
        assert problem(user)["type"].endswith("forbidden")
    missing = maker.get(f"{stack.url}/api/connectors/dl-real/icon")
    assert missing.status_code == 404
    assert problem(missing)["type"].endswith("file-not-kept")


def test_a_client_secret_in_the_files_is_never_downloaded(stack: Stack) -> None:
    secret = "cs-" + uuid.uuid4().hex
    definition, _ = api_key_connector(host_of(stack.backend.url))
    definition["securityDefinitions"] = {
        "oauth2": {
            "type": "oauth2",
            "flow": "accessCode",
            "authorizationUrl": "https://login.example.com/authorize",
            "tokenUrl": "https://login.example.com/token",
            "scopes": {},
        }
    }
    properties = {
        "properties": {
            "connectionParameters": {
                "token": {
                    "type": "oauthSetting",
                    "oAuthSettings": {
                        "identityProvider": "oauth2",
                        "clientId": "client-1",
                        "clientSecret": secret,
                        "scopes": ["read"],
                        "redirectMode": "Global",
                        "customParameters": {
                            "authorizationUrl": {"value": "https://login.example.com/authorize"},
                            "tokenUrl": {"value": "https://login.example.com/token"},
                            "refreshUrl": {"value": "https://login.example.com/token"},
                        },
                    },
                }
            }
        }
    }
    raw_definition = json.dumps(definition, indent=4).encode()
    files = {
        "apiDefinition": ("apiDefinition.swagger.json", raw_definition),
        "apiProperties": ("apiProperties.json", json.dumps(properties).encode()),
    }
    response = stack.maker().put(f"{stack.url}/api/connectors/dl-secret", files=files)
    assert response.status_code == 201, response.text
    assert stack.maker().get(f"{stack.url}/api/connectors/dl-secret/apiDefinition").content == raw_definition
    downloaded = stack.maker().get(f"{stack.url}/api/connectors/dl-secret/apiProperties")
    assert downloaded.status_code == 200
    assert secret not in downloaded.text
    kept = downloaded.json()["properties"]["connectionParameters"]["token"]["oAuthSettings"]
    assert "clientSecret" not in kept
    assert kept["clientId"] == "client-1"
    assert secret not in repr(stack.entities("connectors"))


def test_editors_download_hidden_connectors_look_absent_and_deletes_take_the_files(stack: Stack) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    maker = stack.maker()
    body = {"apiDefinition": definition, "apiProperties": properties, "policy": {"visibility": {"audience": "makers"}}}
    response = maker.put(f"{stack.url}/api/connectors/dl-hidden", json=body)
    assert response.status_code == 201, response.text
    downloaded = maker.get(f"{stack.url}/api/connectors/dl-hidden/apiDefinition")
    assert downloaded.json() == definition  # a JSON upload is kept as the JSON it was sent as
    hidden = stack.client("not-a-maker").get(f"{stack.url}/api/connectors/dl-hidden/apiDefinition")
    assert hidden.status_code == 404
    assert problem(hidden)["type"].endswith("connector-not-found")
    assert any(e["PartitionKey"] == "file|dl-hidden" for e in stack.entities("connectors"))
    assert maker.delete(f"{stack.url}/api/connectors/dl-hidden").status_code == 204
    assert not any(e["PartitionKey"] == "file|dl-hidden" for e in stack.entities("connectors"))


def test_a_file_larger_than_a_table_entity_comes_back_whole(stack: Stack) -> None:
    """A Table entity holds at most 1 MiB: a 2.5 MB file (here: padded with whitespace and a long comment, which
    JSON5 reading ignores) is kept over several entities and downloaded byte for byte."""
    definition, properties = api_key_connector(host_of(stack.backend.url))
    body = json.dumps(definition, indent=2).encode()
    padded = body[:-1] + b"\n" + b" " * 1_500_000 + b"// " + os.urandom(500_000).hex().encode() + b"\n}"
    files = {
        "apiDefinition": ("apiDefinition.swagger.json", padded),
        "apiProperties": ("apiProperties.json", json.dumps(properties).encode()),
    }
    maker = stack.maker()
    response = maker.put(f"{stack.url}/api/connectors/dl-large", files=files)
    assert response.status_code == 201, response.text
    downloaded = maker.get(f"{stack.url}/api/connectors/dl-large/apiDefinition")
    assert downloaded.status_code == 200
    assert downloaded.content == padded
    rows = [e for e in stack.entities("connectors") if e["PartitionKey"] == "file|dl-large"]
    assert len(rows) >= 3  # apiProperties, and apiDefinition over at least two entities

    # A replace with other bytes drops the old copy's rows once the connector names the new ones.
    files["apiDefinition"] = ("apiDefinition.swagger.json", body)
    assert maker.put(f"{stack.url}/api/connectors/dl-large", files=files).status_code == 200
    assert maker.get(f"{stack.url}/api/connectors/dl-large/apiDefinition").content == body
    rows = [e for e in stack.entities("connectors") if e["PartitionKey"] == "file|dl-large"]
    assert len(rows) == 2


def test_the_dry_run_says_when_put_would_refuse_a_replace(stack: Stack) -> None:
    definition, properties = api_key_connector(host_of(stack.backend.url))
    stack.register("dry-theirs", definition, properties)  # owned by "maker"
    body = {"apiDefinition": definition, "apiProperties": properties}
    other = stack.client("maker-b", (MAKER_ROLE,))
    response = other.post(f"{stack.url}/api/connectors/dry-theirs/validate", json=body)
    assert response.status_code == 200, response.text
    verdict = response.json()
    assert verdict["valid"] is False
    assert verdict["errors"] == [{"pointer": "", "detail": "Connector 'dry-theirs' exists and you may not replace it."}]
    assert other.put(f"{stack.url}/api/connectors/dry-theirs", json=body).status_code == 403
    own = stack.maker().post(f"{stack.url}/api/connectors/dry-theirs/validate", json=body).json()
    assert (own["valid"], own["errors"]) == (True, [])
    not_a_maker = stack.client("user").post(f"{stack.url}/api/connectors/dry-theirs/validate", json=body)
    assert not_a_maker.status_code == 403
