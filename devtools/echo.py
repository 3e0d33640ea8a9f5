"""`python -m devtools.echo [--port 8080]`: a tiny backend for trying the gateway, on loopback only.

Every request, whatever its method and path, is answered 200 with JSON of what arrived (method, path, query,
headers, body as text), and the same is printed here, so a newcomer sees the credential the gateway injected
(e.g. X-Api-Key) and that the subscription key never arrives. It is for local trials: it shows every header it
gets, credentials included, to whoever can reach it, which is why it only listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 1024 * 1024


class EchoHandler(BaseHTTPRequestHandler):
    server_version = "devtools-echo"
    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        seen: dict[str, Any] = {
            "method": self.command,
            "path": url.path,
            "query": dict(parse_qsl(url.query, keep_blank_values=True)),
            "headers": dict(self.headers.items()),
            "body": body.decode("utf-8", errors="replace"),
        }
        print(f"{self.command} {self.path}", flush=True)
        for name, value in self.headers.items():
            print(f"  {name}: {value}", flush=True)
        answer = json.dumps(seen, indent=2).encode("utf-8") + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass  # _echo prints the request itself


def serve(port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), EchoHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.echo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0 picks one)")
    server = serve(parser.parse_args(argv).port)
    print(f"echo backend on http://127.0.0.1:{server.server_address[1]}  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
