"""What App Service's front end (which Flex Consumption also sits behind) does before and around the host.

- Request headers: the front end adds X-Original-URL and X-WAWS-Unencoded-URL (the request's path and query
  string), X-ARR-LOG-ID, X-Site-Deployment-Id, Disguised-Host, WAS-DEFAULT-HOSTNAME, Client-IP and
  X-Forwarded-For as `ip:port`, X-Forwarded-Proto / X-AppService-Proto and Max-Forwards. X-ARR-SSL and
  X-Forwarded-TlsVersion come only with TLS and X-ARR-ClientCert only with client certificates on; this host
  speaks plain HTTP, so it adds none of those and leaves a caller's X-ARR-ClientCert alone (the front-door tests
  send one the way the front end would).
- Encoded path characters: `%2F` and `%5C` in the path are decoded before the host sees it, so routing and the
  function see `/` and `\\`, while X-WAWS-Unencoded-URL keeps the request target as sent.
- Limits: 230 s for an HTTP response (the load balancer's idle timeout: the caller gets a 500 "The request timed
  out" while the function keeps running; azure-docs#94418), a 4 KB URL (the documented Functions limit; Kestrel
  alone would allow an 8 KB request line), Kestrel's 32 KB of request headers (431; more than 100 headers is
  431 too, from http.server as from Kestrel) and the host's 100 MB body (413, see _server).
"""

from __future__ import annotations

import contextvars
import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HTTP_TIMEOUT_SECONDS = 230.0
MAX_URL_BYTES = 4096
MAX_HEADER_BYTES = 32 * 1024  # Kestrel's MaxRequestHeadersTotalSize, which the Functions host leaves as is
MAX_FORWARDS = "10"
SITE_NAME = "funchost"
TIMED_OUT_BODY = b"500 - The request timed out.\r\nThe web server failed to respond within the specified time."
_DECODED_BY_FRONT_END = re.compile(r"%(2F|5C)", re.IGNORECASE)


def decode_path(raw_path: str) -> str:
    """`%2F` -> `/` and `%5C` -> `\\`, the two escapes the front end decodes in the path; the rest stay encoded."""
    return _DECODED_BY_FRONT_END.sub(lambda match: "/" if match.group(1).upper() == "2F" else "\\", raw_path)


def _with_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def add_front_end_headers(
    headers: dict[str, str], *, target: str, path: str, query: str, peer: tuple[str, int], host: str, scheme: str
) -> dict[str, str]:
    """The request headers (lower-cased names, as merge_headers made them) after the front end's additions.

    `target` is the request target as sent, `path` the path after the front end's decoding. Names the front end
    sets replace a caller's; X-Forwarded-For gets the peer appended, as a proxy does.
    """
    address = _with_port(*peer)
    original_url = path + (f"?{query}" if query else "")
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    forwarded = dict(headers)
    previous = forwarded.get("x-forwarded-for", "").strip()
    forwarded.update(
        {
            "x-original-url": original_url,
            "x-waws-unencoded-url": target if target.startswith("/") else original_url,
            "x-arr-log-id": str(uuid.uuid4()),
            "x-site-deployment-id": SITE_NAME,
            "disguised-host": hostname,
            "was-default-hostname": hostname,
            "client-ip": address,
            "x-forwarded-for": f"{previous}, {address}" if previous else address,
            "x-forwarded-proto": scheme,
            "x-appservice-proto": scheme,
            "max-forwards": MAX_FORWARDS,
        }
    )
    return forwarded


@dataclass
class Outcome:
    finished: bool
    value: Any = None
    error: BaseException | None = None


class _Workers:
    """Threads kept for the next invocation once their work is done (as the Python worker's thread pool keeps
    them): starting a thread per invocation cost the dev host more CPU than most of the gateway's own work.
    Each work starts at once, on an idle thread or a new one, so a hung invocation never delays another; each
    runs in a fresh contextvars context, as on a new thread. At most MAX_IDLE idle threads are kept."""

    MAX_IDLE = 16

    def __init__(self) -> None:
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def start(self, work: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), name="funchost-invoke", daemon=True).start()
        inbox.put(work)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            contextvars.Context().run(inbox.get())
            with self._lock:
                if len(self._idle) >= self.MAX_IDLE:
                    return
                self._idle.append(inbox)


_workers = _Workers()


def run_with_deadline(work: Callable[[], Any], seconds: float | None, name: str) -> Outcome:
    """Runs `work` on a thread of its own and waits at most `seconds` (None: as long as it takes). Past that the
    caller gets an unfinished Outcome and the work goes on, unobserved, as a function does on Azure after the
    front end has given up. `name`: the invocation, for the thread's name while it runs."""
    outcome = Outcome(finished=False)
    done = threading.Event()

    def run() -> None:
        thread = threading.current_thread()
        thread.name = f"funchost-invoke-{name}"
        try:
            outcome.value = work()
        except BaseException as error:  # handed to the waiting thread, which decides what it means
            outcome.error = error
        finally:
            thread.name = "funchost-invoke"
            done.set()

    _workers.start(run)
    outcome.finished = done.wait(seconds)
    return outcome
