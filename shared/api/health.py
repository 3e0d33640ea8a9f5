"""/health: liveness, cheap and anonymous (load balancers, `make run`'s readiness wait).
/health/ready: readiness, also anonymous: can this instance reach Table Storage and Key Vault?

Neither needs the gateway built, so a probe works (and says why not) while the stores are down.
"""

from __future__ import annotations

import azure.functions as func

from shared import problems
from shared.stores.readiness import readiness_probe
from shared.version import VERSION
from shared.web import json_response, public_endpoint


@public_endpoint
def health(request: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "healthy"})


@public_endpoint
def ready(request: func.HttpRequest) -> func.HttpResponse:
    checks = readiness_probe().check()
    report = {check.name: check.to_dict() for check in checks}
    down = [check.name for check in checks if not check.ready]
    if down:
        raise problems.Problem(
            503,
            "not-ready",
            "Service unavailable",
            f"The gateway can't reach {' and '.join(down)} right now.",
            headers={"Retry-After": "5"},
            version=VERSION,
            checks=report,
        )
    return json_response({"status": "ready", "version": VERSION, "checks": report})
