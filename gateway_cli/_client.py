"""HTTP to the gateway: one session with the caller's credential, and problem+json turned into one clear line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_URL = "http://localhost:7071"
DEFAULT_KEY_HEADER = "Ocp-Apim-Subscription-Key"
TIMEOUT = (10, 240)  # connect, read: past the gateway's own 230 s limit


class GatewayError(Exception):
    """A request the gateway refused or couldn't answer; str() is one line for people."""

    def __init__(self, message: str, status: int = 0, problem: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = dict(problem or {})


@dataclass(frozen=True)
class Credentials:
    url: str
    key: str = ""
    token: str = ""
    key_header: str = DEFAULT_KEY_HEADER


def problem_line(response: requests.Response) -> str:
    """`409 connector-in-use: <detail> [/pointer: detail; ...] (correlation id ...)`, or the status and a snippet."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or ("title" not in body and "detail" not in body):
        if response.status_code == 404 and not response.content:
            return f"404 Not Found: the gateway has no route {response.request.path_url if response.request else ''}"
        text = " ".join(response.text.split())[:200]
        return f"{response.status_code} {response.reason or ''}: {text or 'no body'}".strip()
    slug = str(body.get("type", "")).rsplit(":", 1)[-1] or str(body.get("title", ""))
    line = f"{response.status_code} {slug}: {body.get('detail') or body.get('title')}"
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        listed = "; ".join(f"{e.get('pointer') or '/'}: {e.get('detail')}" for e in errors if isinstance(e, dict))
        line += f" [{listed}]"
    if body.get("correlationId"):
        line += f" (correlation id {body['correlationId']})"
    return line


class GatewayClient:
    def __init__(self, credentials: Credentials, session: requests.Session | None = None) -> None:
        self.url = credentials.url.rstrip("/")
        self._session = session or requests.Session()
        if credentials.token:
            self._session.headers["Authorization"] = f"Bearer {credentials.token}"
        if credentials.key:
            self._session.headers[credentials.key_header] = credentials.key
        self._session.headers["User-Agent"] = "connector-gateway-cli"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The response when it is 2xx; else GatewayError with the problem in one line."""
        try:
            response = self._session.request(method, f"{self.url}/api/{path.lstrip('/')}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise GatewayError(f"can't reach the gateway at {self.url}: {type(error).__name__}") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise GatewayError(
                problem_line(response), response.status_code, problem if isinstance(problem, dict) else {}
            )
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise GatewayError(f"the gateway answered {path} with something that isn't JSON") from None

    def find(self, path: str) -> Any | None:
        """GET `path` as JSON, or None on 404."""
        try:
            return self.json("GET", path)
        except GatewayError as error:
            if error.status == 404:
                return None
            raise


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
