"""/health: the one anonymous endpoint, for load balancers and `make run`'s readiness check."""

from __future__ import annotations

import azure.functions as func

from shared.web import json_response, public_endpoint


@public_endpoint
def health(request: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "healthy"})
