"""`python -m devtools.keyvault_emulator --host 127.0.0.1 --port 0 --state-dir DIR [--persist]`.

Prints one JSON line {"url", "ca_bundle"} on stdout when ready, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devtools.keyvault_emulator._server import ready_line, start_emulator


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.keyvault_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 lets the OS choose (default)")
    parser.add_argument("--state-dir", type=Path, required=True, help="where ca.pem (and secrets.json) live")
    parser.add_argument("--persist", action="store_true", help="keep secrets in STATE_DIR/secrets.json")
    parser.add_argument(
        "--purge-protection",
        action="store_true",
        help="refuse purges with Key Vault's 403, as a vault with purge protection (the Bicep's) does",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    emulator = start_emulator(args.host, args.port, args.state_dir, args.persist, args.purge_protection)
    print(ready_line(emulator), flush=True)
    try:
        stop_requested.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
