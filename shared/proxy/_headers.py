"""Header filtering between caller and backend, both directions. Pure functions.

Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and never cross a proxy; the names a
`Connection` header lists are hop-by-hop too. Content-Length is dropped because the transport
recomputes it for the body actually sent. Bodies pass raw in both directions, so Content-Encoding
stays and a caller that didn't ask for compression gets `Accept-Encoding: identity`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",  # non-standard, still sent by some clients
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NEVER_FORWARDED_REQUEST = frozenset({"host", "content-length", "x-forwarded-for", "x-forwarded-proto"})

HeaderSource = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(headers: HeaderSource) -> list[tuple[str, str]]:
    """(name, value) pairs; urllib3's HTTPHeaderDict.items() yields repeated headers separately."""
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def _connection_listed(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Names a Connection header declares hop-by-hop (`Connection: close, X-Foo`)."""
    return {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }


def _forwarded_for(pairs: Iterable[tuple[str, str]], client_ip: str | None) -> str | None:
    chain = [hop.strip() for name, value in pairs if name.lower() == "x-forwarded-for" for hop in value.split(",")]
    chain = [hop for hop in chain if hop]
    if client_ip and (not chain or chain[-1] != client_ip):
        chain.append(client_ip)
    return ", ".join(chain) or None


def forward_request_headers(
    incoming: Mapping[str, str],
    consumed: Collection[str],
    client_ip: str | None,
    proto: str,
) -> dict[str, str]:
    """The caller's headers as the backend should see them (gateway credentials in `consumed` removed)."""
    pairs = _pairs(incoming)
    dropped = HOP_BY_HOP | _NEVER_FORWARDED_REQUEST | _connection_listed(pairs) | {n.lower() for n in consumed}
    outgoing = {name: value for name, value in pairs if name.lower() not in dropped}
    forwarded_for = _forwarded_for(pairs, client_ip)
    if forwarded_for:
        outgoing["X-Forwarded-For"] = forwarded_for
    outgoing["X-Forwarded-Proto"] = proto
    if not any(name.lower() == "accept-encoding" for name in outgoing):
        outgoing["Accept-Encoding"] = "identity"
    return outgoing


def forward_response_headers(headers: HeaderSource) -> list[tuple[str, str]]:
    """The backend's headers for the caller, repeated ones (Set-Cookie) kept as separate pairs."""
    pairs = _pairs(headers)
    dropped = HOP_BY_HOP | {"content-length"} | _connection_listed(pairs)
    return [(name, value) for name, value in pairs if name.lower() not in dropped]
