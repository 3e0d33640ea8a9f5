"""`make run`: Azurite, the Key Vault emulator and the gateway on http://localhost:GATEWAY_PORT.

State (tables, secrets, the emulator's CA) persists in .local/ between runs.
Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time

from devtools.stack import (
    REPO,
    StackError,
    create_key,
    gateway_environment,
    start_azurite,
    start_gateway,
    start_keyvault,
)

STATE = REPO / ".local"
MAKER_ROLE = os.environ.get("AUTH_MAKER_ROLE", "Connectors.Manage")
ADMIN_ROLE = os.environ.get("AUTH_ADMIN_ROLE", "Connectors.Admin")


def main() -> int:
    port = int(os.environ.get("GATEWAY_PORT", "7071"))
    (STATE / "azurite").mkdir(parents=True, exist_ok=True)
    services = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with open(STATE / "stack.log", "a") as log:
            azurite = start_azurite(
                port=int(os.environ.get("AZURITE_TABLE_PORT", "10002")), location=STATE / "azurite", log=log
            )
            services.append(azurite)
            keyvault = start_keyvault(STATE / "keyvault", persist=True, log=log)
            services.append(keyvault)
            env = gateway_environment(azurite, keyvault, port, {})
            key = os.environ.get("GATEWAY_BOOTSTRAP_KEY") or "cgk_" + secrets.token_urlsafe(32)
            create_key(env, "local-maker", "bootstrap", [MAKER_ROLE, ADMIN_ROLE], value=key)
            services.append(start_gateway(env, port))
        print(f"\nGateway ready on http://localhost:{port}  (stand-in logs: {STATE / 'stack.log'})")
        if os.environ.get("GATEWAY_BOOTSTRAP_KEY"):
            print("Maker key: the value of GATEWAY_BOOTSTRAP_KEY")
        else:
            print(f"Maker key (send as Ocp-Apim-Subscription-Key): {key}")
        print("Ctrl-C stops the gateway and its stand-ins.", flush=True)
        while all(s.process.poll() is None for s in services):
            time.sleep(0.5)
        print("a service exited; stopping", file=sys.stderr)
        return 1
    except StackError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    sys.exit(main())
