"""The repo's HTTP server base (dev host, emulators, test backends) takes a burst of connections at once."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

from devtools.http_server import NoDelayHTTPServer

BURST = 50  # the load test's concurrent clients


def test_a_burst_of_connections_is_queued_not_dropped() -> None:
    # Nothing accepts: every connection must wait in the listen backlog. With socketserver's default of 5 the
    # kernel drops the handshakes past it, and those connects hang until the guard below fails them.
    server = NoDelayHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    connections: list[socket.socket] = []
    try:
        for _ in range(BURST):
            connections.append(socket.create_connection(server.server_address[:2], timeout=5))
        assert len(connections) == BURST
    finally:
        for connection in connections:
            connection.close()
        server.server_close()
