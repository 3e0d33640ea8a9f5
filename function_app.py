"""Azure Functions entry point: a routing table. Each function hands its request to `shared`."""

import azure.functions as func

from shared.api import (
    connection_openapi,
    connections,
    connector_files,
    connectors,
    health,
    invoke,
    maintenance,
    oauth,
    openapi,
    subscriptions,
)
from shared.api.routing import GatewayApp

# The gateway authenticates every caller itself (JWT or subscription key), so the host's keys are off.
# GatewayApp is a FunctionApp that also records each route, for /api/openapi.json.
app = GatewayApp(http_auth_level=func.AuthLevel.ANONYMOUS)

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@app.route(route="health", methods=["GET"])
def health_check(req: func.HttpRequest) -> func.HttpResponse:
    return health.health(req)


@app.route(route="health/ready", methods=["GET"])
def health_ready(req: func.HttpRequest) -> func.HttpResponse:
    return health.ready(req)


@app.route(route="openapi.json", methods=["GET"])
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return openapi.serve(req, app)


@app.route(route="connectors", methods=["GET"])
def connectors_list(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.list_all(req)


@app.route(route="connectors/{connectorId}", methods=["PUT"])
def connector_put(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.put(req)


@app.route(route="connectors/{connectorId}", methods=["GET"])
def connector_get(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.get(req)


@app.route(route="connectors/{connectorId}", methods=["DELETE"])
def connector_delete(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.delete(req)


@app.route(route="connectors/{connectorId}/apiDefinition", methods=["GET"])
def connector_api_definition(req: func.HttpRequest) -> func.HttpResponse:
    return connector_files.api_definition(req)


@app.route(route="connectors/{connectorId}/apiProperties", methods=["GET"])
def connector_api_properties(req: func.HttpRequest) -> func.HttpResponse:
    return connector_files.api_properties(req)


@app.route(route="connectors/{connectorId}/icon", methods=["GET"])
def connector_icon(req: func.HttpRequest) -> func.HttpResponse:
    return connector_files.icon(req)


@app.route(route="connectors/{connectorId}/script", methods=["GET"])
def connector_script(req: func.HttpRequest) -> func.HttpResponse:
    return connector_files.script(req)


@app.route(route="connectors/{connectorId}/validate", methods=["POST"])
def connector_validate(req: func.HttpRequest) -> func.HttpResponse:
    return connector_files.validate(req)


@app.route(route="connectors/{connectorId}/shares", methods=["GET"])
def connector_shares(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.list_shares(req)


@app.route(route="connectors/{connectorId}/shares", methods=["POST"])
def connector_share(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.share(req)


@app.route(route="connectors/{connectorId}/shares/{shareId}", methods=["DELETE"])
def connector_unshare(req: func.HttpRequest) -> func.HttpResponse:
    return connectors.unshare(req)


@app.route(route="connectors/{connectorId}/connections", methods=["POST"])
def connection_create(req: func.HttpRequest) -> func.HttpResponse:
    return connections.create(req)


@app.route(route="connections", methods=["GET"])
def connections_list(req: func.HttpRequest) -> func.HttpResponse:
    return connections.list_own(req)


@app.route(route="connections/{connectionId}", methods=["GET"])
def connection_get(req: func.HttpRequest) -> func.HttpResponse:
    return connections.get(req)


@app.route(route="connections/{connectionId}", methods=["PATCH"])
def connection_update(req: func.HttpRequest) -> func.HttpResponse:
    return connections.update(req)


@app.route(route="connections/{connectionId}", methods=["DELETE"])
def connection_delete(req: func.HttpRequest) -> func.HttpResponse:
    return connections.delete(req)


@app.route(route="connections/{connectionId}/reauthorize", methods=["POST"])
def connection_reauthorize(req: func.HttpRequest) -> func.HttpResponse:
    return connections.reauthorize(req)


@app.route(route="connections/{connectionId}/openapi", methods=["GET"])
def connection_openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return connection_openapi.openapi(req)


@app.route(route="connections/{connectionId}/paconn", methods=["GET"])
def connection_paconn_files(req: func.HttpRequest) -> func.HttpResponse:
    return connection_openapi.paconn(req)


@app.route(route="connections/{connectionId}/token", methods=["GET"])
def connection_token(req: func.HttpRequest) -> func.HttpResponse:
    return connections.token(req)


@app.route(route="connections/{connectionId}/shares", methods=["GET"])
def connection_shares(req: func.HttpRequest) -> func.HttpResponse:
    return connections.list_shares(req)


@app.route(route="connections/{connectionId}/shares", methods=["POST"])
def connection_share(req: func.HttpRequest) -> func.HttpResponse:
    return connections.share(req)


@app.route(route="connections/{connectionId}/shares/{shareId}", methods=["DELETE"])
def connection_unshare(req: func.HttpRequest) -> func.HttpResponse:
    return connections.unshare(req)


@app.route(route="connections/{connectionId}/audit", methods=["GET"])
def connection_audit(req: func.HttpRequest) -> func.HttpResponse:
    return connections.audit(req)


@app.route(route="subscriptions", methods=["POST"])
def subscription_create(req: func.HttpRequest) -> func.HttpResponse:
    return subscriptions.create(req)


@app.route(route="subscriptions", methods=["GET"])
def subscriptions_list(req: func.HttpRequest) -> func.HttpResponse:
    return subscriptions.list_all(req)


@app.route(route="subscriptions/{subscriptionId}", methods=["GET"])
def subscription_get(req: func.HttpRequest) -> func.HttpResponse:
    return subscriptions.get(req)


@app.route(route="subscriptions/{subscriptionId}", methods=["PATCH"])
def subscription_update(req: func.HttpRequest) -> func.HttpResponse:
    return subscriptions.update(req)


@app.route(route="subscriptions/{subscriptionId}", methods=["DELETE"])
def subscription_delete(req: func.HttpRequest) -> func.HttpResponse:
    return subscriptions.delete(req)


@app.route(route="subscriptions/{subscriptionId}/regenerate", methods=["POST"])
def subscription_regenerate(req: func.HttpRequest) -> func.HttpResponse:
    return subscriptions.regenerate(req)


@app.route(route="oauth/start/{ticket}", methods=["GET"])
def oauth_start(req: func.HttpRequest) -> func.HttpResponse:
    return oauth.start_page(req)


@app.route(route="oauth/start/{ticket}", methods=["POST"])
def oauth_confirm(req: func.HttpRequest) -> func.HttpResponse:
    return oauth.confirm(req)


@app.route(route="oauth/callback", methods=["GET"])
def oauth_callback(req: func.HttpRequest) -> func.HttpResponse:
    return oauth.callback(req)


@app.route(route="connections/{connectionId}/invoke/{*path}", methods=ALL_METHODS)
def connection_invoke(req: func.HttpRequest) -> func.HttpResponse:
    return invoke.invoke(req)


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def cleanup(timer: func.TimerRequest) -> None:
    maintenance.finish_interrupted_connections()
    maintenance.purge_expired_limit_counters()


@app.timer_trigger(schedule="30 */5 * * * *", arg_name="timer", run_on_startup=False)
def refresh_tokens(timer: func.TimerRequest) -> None:
    maintenance.refresh_expiring_tokens()
