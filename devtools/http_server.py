"""The one HTTP server base for the repo's local servers (dev host, emulators, test backends).

Small keep-alive responses must leave at once: with Nagle's algorithm on, a response
written in two sends waits for the client's delayed ACK, ~40 ms a call. So every
accepted socket gets TCP_NODELAY, and handler threads never keep the process alive. A burst of
connections (50 clients at once) must not overflow the listen backlog either.
"""

from __future__ import annotations

import socket
from http.server import ThreadingHTTPServer
from typing import Any


class NoDelayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a burst of more connections overflows it, and the kernel drops the
    # rest of the handshakes, so those clients connect a second or more later (or time out). Kestrel, behind the
    # real Functions host, listens with 512.
    request_queue_size = 512

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address
