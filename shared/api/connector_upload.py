"""A connector upload (PUT /connectors/{id}): paconn's files as JSON or multipart, read into one Upload.

The body is checked here, before anything is stored: its size, its media type, the two documents (readable
JSON, nested no deeper than the gateway reads), the policy, and the credentials. Client secrets found inside
apiProperties move to the credentials (Key Vault) and out of the document that downloads return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from shared import problems
from shared.connectors import (
    ConnectorDocumentError,
    ConnectorError,
    client_secret_of,
    decode_document,
    take_client_secrets,
)
from shared.json_limits import MAX_DEPTH, nested_deeper_than
from shared.policies import ConnectorPolicy, PolicyError, parse_policy
from shared.web import read_multipart

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
DOCUMENTS = {"apiDefinition": "apiDefinition.swagger.json", "apiProperties": "apiProperties.json"}
# Besides the two documents: the OAuth client secret (paconn's --secret) or certificate, and gateway options:
# the connector's policy (IP filter, rate limit, quota; shared/policies.py) is JSON, in a multipart part as text.
EXTRAS = ("clientSecret", "clientCertificate", "allowTokenRetrieval", "policy")
# paconn's other files (--icon, --script): kept as uploaded for downloads, not read by the gateway.
FILES = {"icon": "icon.png", "script": "script.csx"}


@dataclass(frozen=True)
class Upload:
    api_definition: dict
    api_properties: dict
    credentials: dict[str, Any] | None  # goes to Key Vault only
    allow_token_retrieval: bool
    policy: ConnectorPolicy | None
    files: dict[str, bytes]  # what downloads return: the files as uploaded, apiProperties without client secrets
    moved_secrets: tuple[str, ...] = ()  # JSON pointers of the client secrets taken out of apiProperties
    script: str | None = None  # script.csx as text: the operations it handles answer 501 here


def _document(data: bytes, filename: str) -> dict:
    try:
        return decode_document(data, filename)
    except ConnectorDocumentError as error:
        raise problems.bad_request(
            str(error),
            slug="unreadable-document",
            document=error.filename,
            line=error.line,
            column=error.column,
        ) from None


def _multipart_fields(request: func.HttpRequest) -> dict[str, Any]:
    parts = read_multipart(request)
    fields: dict[str, Any] = {"files": {}}
    for name, filename in DOCUMENTS.items():
        if name in parts:
            fields[name] = _document(parts[name].data, parts[name].filename or filename)
            fields["files"][name] = parts[name].data
    for name in FILES:
        if name in parts and parts[name].data:
            fields["files"][name] = parts[name].data
    for name in EXTRAS:
        if name in parts:
            fields[name] = parts[name].data.decode("utf-8", errors="replace").strip()
    if "allowTokenRetrieval" in fields:
        fields["allowTokenRetrieval"] = fields["allowTokenRetrieval"].lower() == "true"
    if "policy" in fields:
        fields["policy"] = _policy_part(fields["policy"])
    return fields


def _policy_part(text: str) -> Any:
    if not text:
        return None
    try:
        policy = json.loads(text)
    except json.JSONDecodeError as error:
        raise problems.invalid_parameters(
            f"The policy part is not valid JSON: {error.msg} at position {error.pos}.",
            [{"pointer": "/policy", "detail": "must be a JSON object"}],
        ) from None
    except (RecursionError, ValueError):
        policy = None
        too_deep = True
    else:
        too_deep = nested_deeper_than(policy, MAX_DEPTH)
    if too_deep:
        raise problems.invalid_parameters(
            f"The policy part nests deeper than {MAX_DEPTH} levels or holds a number too long to read.",
            [{"pointer": "/policy", "detail": "must be a JSON object"}],
        )
    return policy


def _policy(value: Any) -> ConnectorPolicy | None:
    try:
        return parse_policy(value)
    except PolicyError as error:
        raise problems.invalid_parameters(f"The connector policy is invalid: {error}.", error.errors) from None


def _json_fields(request: func.HttpRequest) -> dict[str, Any]:
    body = _document(request.get_body() or b"", "request body")
    unknown = sorted(set(body) - set(DOCUMENTS) - set(EXTRAS) - {"script"})
    if unknown:
        raise problems.bad_request(f"Unknown field(s) in the body: {', '.join(unknown)}.")
    script = body.pop("script", None)
    if script is not None and not isinstance(script, str):
        raise problems.bad_request("script must be the text of script.csx.")
    for part in DOCUMENTS:
        if part in body and not isinstance(body[part], dict):
            raise problems.bad_request(f"{part} must be a JSON object (the content of {DOCUMENTS[part]}).")
    # No file bytes were sent: the documents are kept as the JSON they were sent as.
    files = {part: _json_file(body[part]) for part in DOCUMENTS if part in body}
    if script:
        files["script"] = script.encode("utf-8")
    return {**body, "files": files}


def _json_file(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _certificate_credential(pem: str) -> dict[str, str]:
    """An aadcertificate credential as msal takes it, from a PEM holding the certificate and its private key."""
    data = pem.encode("utf-8")
    try:
        key = serialization.load_pem_private_key(data, password=None)
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise problems.bad_request(
            "clientCertificate must be PEM text with the certificate and its unencrypted private key.",
            slug="invalid-client-certificate",
        ) from None  # the parser's message could quote key material
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - Entra identifies certificates by SHA-1
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def _credentials(fields: dict[str, Any]) -> dict[str, Any] | None:
    credentials: dict[str, Any] = {}
    for name in ("clientSecret", "clientCertificate"):
        value = fields.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise problems.bad_request(f"{name} must be a string.")  # never echo it
        credentials[name] = _certificate_credential(value) if name == "clientCertificate" else value
    if "allowTokenRetrieval" in fields and not isinstance(fields["allowTokenRetrieval"], bool):
        raise problems.bad_request("allowTokenRetrieval must be true or false.")
    return credentials or None


def read_upload(request: func.HttpRequest) -> Upload:
    if len(request.get_body() or b"") > MAX_UPLOAD_BYTES:
        raise problems.Problem(
            413, "body-too-large", "Body too large", f"Uploads are limited to {MAX_UPLOAD_BYTES} bytes."
        )
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        fields = _multipart_fields(request)
    elif content_type == "application/json" or content_type.endswith("+json"):
        fields = _json_fields(request)
    else:
        raise problems.Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "Send application/json {apiDefinition, apiProperties} or multipart/form-data with those two parts.",
        )
    missing = [part for part in DOCUMENTS if part not in fields]
    if missing:
        raise problems.bad_request(f"Missing {' and '.join(missing)}.", slug="missing-document")
    api_properties, file_secret, moved = _without_client_secrets(fields["apiProperties"])
    credentials = _credentials(fields)
    if file_secret is not None and not (credentials or {}).get("clientSecret"):
        credentials = {**(credentials or {}), "clientSecret": file_secret}  # an explicit clientSecret part wins
    files = dict(fields["files"])
    if moved:  # the uploaded bytes hold a secret: downloads get the document as stored, without it
        files["apiProperties"] = _json_file(api_properties)
    return Upload(
        fields["apiDefinition"],
        api_properties,
        credentials,
        fields.get("allowTokenRetrieval", False),
        _policy(fields.get("policy")),
        files,
        moved,
        _script(files.get("script")),
    )


def _script(data: bytes | None) -> str | None:
    """script.csx as text (kept as uploaded among the files; here only its presence and size matter)."""
    return data.decode("utf-8-sig", errors="replace") if data else None


def _without_client_secrets(api_properties: dict[str, Any]) -> tuple[dict[str, Any], str | None, tuple[str, ...]]:
    """apiProperties without any clientSecret member, the secret they carried (for Key Vault), and where it was."""
    try:
        scrubbed, found = take_client_secrets(api_properties, "apiProperties")
        return scrubbed, client_secret_of(found), tuple(secret.pointer for secret in found)
    except RecursionError:
        raise problems.bad_request("apiProperties is nested too deeply.", slug="unreadable-document") from None
    except ConnectorError as error:
        raise problems.invalid_parameters(str(error), getattr(error, "errors", [])) from None
