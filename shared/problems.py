"""RFC 9457 problem details: the one shape every error of the gateway takes.

Code anywhere in `shared/` raises `Problem`; the HTTP layer turns it into an
`application/problem+json` response. A Problem's text is shown to callers, so it
must never contain a secret or a stack trace.
"""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:connector-gateway:problem:"


class Problem(Exception):
    """An error a caller can act on. `slug` names the problem type; `extensions` are extra members."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.slug

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }


def bad_request(detail: str, slug: str = "bad-request", **extensions: Any) -> Problem:
    return Problem(400, slug, "Bad request", detail, **extensions)


def invalid_parameters(detail: str, errors: list[dict[str, str]]) -> Problem:
    """400 with RFC 9457's `errors` list: each names a JSON pointer and what is wrong there."""
    return Problem(400, "invalid-parameters", "Invalid parameters", detail, errors=errors)


def not_found(what: str, identifier: str) -> Problem:
    return Problem(404, f"{what}-not-found", "Not found", f"No {what} {identifier!r} exists, or it isn't yours.")


def unauthorized(detail: str, error: str = "invalid_token") -> Problem:
    """401 with an RFC 6750 challenge. `error` is omitted when no credential was sent at all."""
    challenge = 'Bearer realm="connector-gateway"'
    if error:
        challenge += f', error="{error}"'
    return Problem(401, "unauthenticated", "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def not_implemented(detail: str) -> Problem:
    return Problem(501, "not-implemented", "Not implemented", detail)


def unavailable(detail: str, retry_after_seconds: int = 5) -> Problem:
    return Problem(
        503,
        "dependency-unavailable",
        "Service unavailable",
        detail,
        headers={"Retry-After": str(retry_after_seconds)},
    )
