"""A minimal, fast HTTP/1.1 backend in its own process, so the benchmark's client threads don't share its GIL.

    python -m benchmarks._fast_backend        # prints {"url": "http://127.0.0.1:PORT"} once listening

Every request gets 200 with a small JSON body naming the request path and a short hash of the
credential it carried (Authorization, else X-Api-Key), so a caller can tell which token the gateway
injected without the backend keeping any state. Keep-alive, TCP_NODELAY, one write per response.
Bodies must come with Content-Length (the gateway and `requests` send it); chunked requests get 411.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import sys

MAX_HEAD_BYTES = 64 * 1024
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


def parse_head(head: bytes) -> tuple[bytes, bytes, dict[bytes, bytes]]:
    """(method, target, headers with lower-case names) of a request head ending in CRLF CRLF."""
    request_line, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    method, target, _version = request_line.split(b" ", 2)
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers.setdefault(name.strip().lower(), value.strip())
    return method, target, headers


def credential_hash(headers: dict[bytes, bytes]) -> str:
    """A short, non-reversible tag of the credential the request carried ("" when none)."""
    value = next((headers[name] for name in CREDENTIAL_HEADERS if name in headers), b"")
    return hashlib.sha256(value).hexdigest()[:12] if value else ""


def response_bytes(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 411: "Length Required"}.get(status, "")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    return head.encode("ascii") + body


def answer(head: bytes) -> tuple[bytes, int, bool]:
    """(response, request body length to skip first, close afterwards) for one request head."""
    try:
        _method, target, headers = parse_head(head)
        length = int(headers.get(b"content-length", b"0"))
    except ValueError:
        return response_bytes(400, b"{}", close=True), 0, True
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return response_bytes(411, b"{}", close=True), 0, True
    close = headers.get(b"connection", b"").lower() == b"close"
    path = target.split(b"?", 1)[0].decode("latin-1")
    body = json.dumps({"path": path, "credential": credential_hash(headers)}).encode()
    return response_bytes(200, body, close), length, close


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            response, body_length, close = answer(head)
            if body_length:
                await reader.readexactly(body_length)
            writer.write(response)  # head and body in one write
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass  # the client closed or sent garbage
    except asyncio.CancelledError:
        pass  # shutting down with the connection idle
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", 0, limit=MAX_HEAD_BYTES, backlog=512)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
