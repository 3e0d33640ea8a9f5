"""`python -m devtools.funchost --app-dir DIR [--host 127.0.0.1] [--port 7071]`: serve an app until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

HTTP_TIMEOUT_SECONDS = 230.0  # devtools.funchost._front_end's; not imported here so azure.functions loads after logging


def configure_logging() -> None:
    """stderr at LOG_LEVEL (default INFO); done before the app is imported so its import-time logs show."""
    name = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    level = logging.getLevelName(name)
    logging.basicConfig(
        stream=sys.stderr,
        level=level if isinstance(level, int) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not isinstance(level, int):
        logging.getLogger("devtools.funchost").warning("unknown LOG_LEVEL %r, using INFO", name)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.funchost", description=__doc__)
    parser.add_argument("--app-dir", type=Path, required=True, help="folder holding function_app.py and host.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "7071")))
    parser.add_argument(
        "--route-order",
        choices=("precedence", "function-name"),
        default="precedence",
        help="precedence: ASP.NET Core's (literal > constrained > parameter > catch-all); "
        "function-name: what today's Functions host does",
    )
    parser.add_argument(
        "--http-timeout",
        type=float,
        default=float(os.environ.get("FUNCHOST_HTTP_TIMEOUT_SECONDS", HTTP_TIMEOUT_SECONDS)),
        help="seconds an HTTP function may take before the front end answers 500 (Azure: 230; "
        "default: FUNCHOST_HTTP_TIMEOUT_SECONDS or 230)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging()
    from devtools.funchost._server import serve  # after logging is set up: this imports azure.functions

    stopping = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)  # before the ready line: a supervisor may stop us right after it
    running = serve(
        arguments.app_dir,
        arguments.host,
        arguments.port,
        route_order=arguments.route_order,
        http_timeout=arguments.http_timeout,
    )
    print("\nFunctions:\n")
    for line in running.app.describe(running.url):
        print(f"        {line}")
    print(f"\nFunctions dev host ready on {running.url}", flush=True)

    stopping.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
