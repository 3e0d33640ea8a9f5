"""A polling trigger's `Location`: the absolute gateway URL of the caller's next poll. Pure.

The pollingtrigger template (shared/templates/polling.py) says what the next poll is in the caller's terms: the
same operation with its state in the query, or the answer's next page of new items. Only here are the gateway's
public origin and the invoke path known. The next page must be inside the backend's basePath (as a paging
link); one anywhere else, or one whose path the caller-path guard refuses (`..` would lead the flow elsewhere on
the gateway), is not followed, and the next poll is the state query instead. No credential goes into `Location`
(flow run histories show it): not the gateway's, from the caller's query, a state value or a next page (whose key
the gateway would then take over a bearer token), and not the connection's, which a backend may echo in its next
page (the gateway adds it again on the next call).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from urllib.parse import urlsplit

from shared import proxy
from shared.templates import NEXT_POLL_MARKER, NextPoll

log = logging.getLogger(__name__)
_FOLLOW_UP = {NEXT_POLL_MARKER: "next"}


def next_poll_location(
    next_poll: NextPoll,
    *,
    public_origin: str,
    invoke_prefix: str,
    raw_path: str,
    raw_query: str,
    hidden_query: Collection[str],
    backend_request_url: str,
    base_path: str,
) -> str:
    """`hidden_query`: the parameters that carry a credential (the gateway's, and those it gave the backend)."""
    hidden = {name.lower() for name in hidden_query}
    if next_poll.link is not None:
        page = proxy.gateway_link(next_poll.link, backend_request_url, base_path, invoke_prefix, public_origin, hidden)
        if page is not None:
            parts = urlsplit(page)
            return parts._replace(query=proxy.filter_query(parts.query, (), _FOLLOW_UP)).geturl()
        log.warning("a polling trigger's next page is outside the connector's backend: polling its state instead")
    state = {name: value for name, value in next_poll.query.items() if name.lower() not in hidden}
    query = proxy.filter_query(raw_query, hidden, {**state, **_FOLLOW_UP})
    return f"{public_origin}{invoke_prefix}{proxy.guard_path(raw_path)}?{query}"  # encoded as the backend got it
