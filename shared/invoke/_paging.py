"""Paging links: an operation that declares `x-ms-pageable` tells the caller where the next page is (its
`nextLinkName` property, `nextLink` by default). That URL is the backend's; the caller must call it through the
gateway, where the connection's credential is added, so it becomes the gateway URL of the same place. One
outside the backend's base path is removed (paging stops there): nobody is sent off the backend with a gateway
credential. Pure: the HTTP adapter supplies the mapping, which knows the gateway's public origin."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from shared.json_limits import MAX_DEPTH, nested_deeper_than
from shared.problems import Problem
from shared.templates import CallerResponse

log = logging.getLogger(__name__)
_TOO_DEEP = object()


def answers_json(response: CallerResponse) -> bool:
    return not any(
        name.lower() == "content-encoding" and value.strip().lower() not in ("", "identity")
        for name, value in response.headers
    )


def rewrite_next_link(response: CallerResponse, name: str, to_gateway: Callable[[str], str | None]) -> None:
    if not answers_json(response) or not response.body.strip():
        return
    try:
        document = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return
    except RecursionError:
        document = _TOO_DEEP
    if document is _TOO_DEEP or nested_deeper_than(document):
        # Can't be read safely, so its next link can't be checked: the caller doesn't get it as is.
        raise Problem(
            502,
            "backend-answer-unreadable",
            "Backend answer unreadable",
            f"The backend's answer to a paged operation nests deeper than {MAX_DEPTH} levels.",
        )
    link = document.get(name) if isinstance(document, dict) else None
    if not isinstance(link, str) or not link:
        return
    mapped = to_gateway(link)
    if mapped is None:
        log.warning("removed a paging link outside the connector's backend")
        del document[name]
    else:
        document[name] = mapped
    response.body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
