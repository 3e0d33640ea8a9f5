"""The one HTTP server base for the repo's local servers (dev host, emulators, test backends).

Small keep-alive responses must leave at once: with Nagle's algorithm on, a response
written in two sends waits for the client's delayed ACK, ~40 ms a call. So every
accepted socket gets TCP_NODELAY, and handler threads never keep the process alive.
"""

from __future__ import annotations

import socket
from http.server import ThreadingHTTPServer
from typing import Any


class NoDelayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address
