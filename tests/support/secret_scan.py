"""The end-to-end suite's secret scan: every secret value the tests used must be absent from every log.

Secrets are collected as the suite runs, into the process-wide `SECRETS`:

- `harvest_http`: what the test process sends and receives over `requests` (installed for the e2e
  session by tests/e2e/conftest.py): bearer tokens and Basic credentials, subscription keys in
  headers or the query, and JSON fields named like secrets (`parameters.api_key`, `password`,
  `clientSecret`, `primaryKey`, `access_token`, ...), in request and response bodies;
- stand-ins register what they mint (OAuth tokens) or are configured with (client secrets);
- `harvest_secret_document`: at the end, every secret-named field of every Key Vault secret version.

Logs: every `*.log` under the session's temporary directory (the gateway processes, Azurite, the
Key Vault emulator) plus the texts stand-ins hand over with `LOGS.keep` before deleting their files.

`find_leaks` is pure, so its own tests can show that it does fail.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MIN_LENGTH = 8  # shorter values ("k", "ann") would be found by chance in any log
# A field holds a secret when its name's last word says so: api_key, primaryKey, clientSecret,
# refresh_token, token:ClientSecret, code_verifier; not keyId, tokenExpiresAt, secretName.
_SECRET_WORDS = frozenset({"key", "secret", "password", "token", "credential", "assertion", "verifier"})
# Table entity keys, and a limit policy's counter key ("key": "connection").
_NOT_SECRETS = frozenset({"partitionkey", "rowkey", "key"})
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_CREDENTIAL_HEADERS = ("ocp-apim-subscription-key", "x-api-key", "api-key", "x-arr-clientcert")


def is_secret_name(name: str) -> bool:
    words = _WORDS.findall(name)
    return bool(words) and words[-1].lower() in _SECRET_WORDS and name.lower() not in _NOT_SECRETS


class SecretRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}  # value -> where it was seen first

    def add(self, value: Any, source: str) -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            with self._lock:
                self._values.setdefault(value, source)

    def values(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)


class LogRegistry:
    """Log texts of stand-ins whose log files don't outlive them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: dict[str, str] = {}

    def keep(self, name: str, text: str) -> None:
        with self._lock:
            self._texts[f"{name}#{len(self._texts)}"] = text

    def texts(self) -> dict[str, str]:
        with self._lock:
            return dict(self._texts)


SECRETS = SecretRegistry()
LOGS = LogRegistry()


def _leaves(document: Any) -> Iterator[tuple[str, Any]]:
    """(field name, value) of every scalar in a JSON document; iterative, so any depth json.loads took is fine."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        name, value = pending.pop()
        if isinstance(value, Mapping):
            pending.extend((str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((name, item) for item in value)
        else:
            yield name, value


def harvest_secret_document(registry: SecretRegistry, document: Any, source: str) -> None:
    """Secret-named string fields anywhere in a JSON document (a connection's `parameters`, a key, tokens)."""
    for name, value in _leaves(document):
        if is_secret_name(name):
            registry.add(value, f"{source}: {name}")


def _harvest_authorization(registry: SecretRegistry, value: str, source: str) -> None:
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(credential).decode().partition(":")
        except ValueError:
            return
        registry.add(password, f"{source}: basic password")
    registry.add(credential or value, f"{source}: authorization")


def harvest_http(registry: SecretRegistry, url: str, headers: Mapping[str, str], body: object, source: str) -> None:
    """Credentials in one HTTP message: headers, query parameters, a JSON or form body.

    Only a body already in memory (bytes or str) is read. A streamed one (an iterator or file that `requests`
    sends chunked) is left alone: reading it here would fail or use up what the request is about to send,
    which broke the dev host's chunked-body tests whenever they ran after the e2e suite had hooked `requests`."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            _harvest_authorization(registry, value, source)
        elif name.lower() in _CREDENTIAL_HEADERS:
            registry.add(value, f"{source}: {name}")
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if is_secret_name(name):
            registry.add(value, f"{source}: ?{name}")
    if not body or not isinstance(body, (bytes, str)):
        return
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except RecursionError:  # a hostile-input test's deeply nested body: nothing to collect
        return
    except ValueError:
        if "=" in text and "\n" not in text:
            harvest_secret_document(registry, dict(parse_qsl(text, keep_blank_values=True)), source)
        return
    harvest_secret_document(registry, document, source)


@dataclass(frozen=True)
class Leak:
    log: str
    source: str  # where the secret was collected
    line: str  # the log line, with the secret masked

    def __str__(self) -> str:
        return f"{self.log}: a secret ({self.source}) in: {self.line[:300]}"


def encodings(secret: str) -> set[str]:
    """The forms a log could hold a secret in: as is, JSON-escaped, URL-encoded, Base64 (Basic auth, JWT parts)."""
    forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {form for form in forms if len(form) >= MIN_LENGTH}


def find_leaks(logs: Mapping[str, str], secrets: Mapping[str, str]) -> list[Leak]:
    """Every line of every log that holds a secret in any of its encodings."""
    leaks = []
    forms = [(form, source) for secret, source in secrets.items() for form in encodings(secret)]
    for log_name, text in logs.items():
        for form, source in forms:
            if form in text:  # the whole text first: lines only for the rare hit
                leaks += [
                    Leak(log_name, source, line.replace(form, "<SECRET>")) for line in text.splitlines() if form in line
                ]
    return leaks


def read_logs(paths: Iterable[Any]) -> dict[str, str]:
    return {str(path): path.read_text(encoding="utf-8", errors="replace") for path in paths}
