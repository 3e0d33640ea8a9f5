"""Sample v2-model app the funchost tests serve. Each HTTP function answers with what it received."""

import json
import logging
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
TIMER_RUNS: list[bool] = []  # past_due of each timer run; the tests read it


def describe(function_name: str, req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    described = {
        "function": function_name,
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "headers": dict(req.headers),
        "body_length": len(body),
    }
    return func.HttpResponse(json.dumps(described), mimetype="application/json")


@app.route(route="connections/{id}", methods=["GET", "DELETE"])
def connection_get(req: func.HttpRequest) -> func.HttpResponse:
    return describe("connection_get", req)


@app.route(route="connections/{id}/invoke/{*path}")
def connection_invoke(req: func.HttpRequest) -> func.HttpResponse:
    return describe("connection_invoke", req)


@app.route(route="connectors/{id}/connections", methods=["GET"])
def connector_connections(req: func.HttpRequest) -> func.HttpResponse:
    return describe("connector_connections", req)


# Four overlapping routes. By precedence: latest > {id:int} > {name} > {*rest}. By function name (the real
# host's order) item_any comes first and takes them all.
@app.route(route="items/{*rest}", methods=["GET"])
def item_any(req: func.HttpRequest) -> func.HttpResponse:
    return describe("item_any", req)


@app.route(route="items/{name:alpha}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return describe("item_by_name", req)


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_number(req: func.HttpRequest) -> func.HttpResponse:
    return describe("item_by_number", req)


@app.route(route="Items/Latest", methods=["GET"])
def item_latest(req: func.HttpRequest) -> func.HttpResponse:
    return describe("item_latest", req)


@app.route(route="widgets/{id:guid}/{view?}", methods=["GET"])
def widget_read(req: func.HttpRequest) -> func.HttpResponse:
    return describe("widget_read", req)


@app.route(route="widgets/{id:guid}/{view?}", methods=["PUT", "POST"])
def widget_write(req: func.HttpRequest) -> func.HttpResponse:
    return describe("widget_write", req)


@app.route()  # no route: the function name is the route; no methods: every method
def default_route(req: func.HttpRequest) -> func.HttpResponse:
    return describe("default_route", req)


@app.route(route="echo", methods=["POST", "PUT"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    content_type = req.headers.get("content-type", "application/octet-stream")
    return func.HttpResponse(req.get_body(), status_code=201, mimetype=content_type, headers={"X-Echo": "yes"})


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this text must not reach the caller")


@app.route(route="async/hello", methods=["GET"])
async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.params.get('name', 'nobody')}")


@app.route(route="probe", methods=["GET", "HEAD"])
def probe(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("probe-body", headers={"X-Probe": req.method})


@app.route(route="whoami", methods=["GET"])
def whoami(req: func.HttpRequest, context: func.Context) -> str:
    return context.function_name


@app.route(route="nothing", methods=["GET"])
def nothing(req: func.HttpRequest) -> None:
    return None


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False)
def cleanup(timer: func.TimerRequest) -> None:
    logging.info("cleanup ran")
    TIMER_RUNS.append(timer.past_due)


# --- response conversion: what the worker and the host make of headers -----------------------------------------
SLOW_RELEASE = threading.Event()  # the timeout test sets it once the front end has answered
SLOW_FINISHED = threading.Event()


@app.route(route="cookies", methods=["GET"])
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("cookies", headers={"Date": "Tue, 01 Jan 2030 00:00:00 GMT"})
    for value in req.params.get("set", "").split("|"):
        response.headers.add("Set-Cookie", value)
    response.headers.add("X-Twice", "first")
    response.headers.add("X-Twice", "second")
    return response


@app.route(route="header", methods=["GET"])
def header(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("header", headers={"X-Value": req.params.get("value", "")})


@app.route(route="slow", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    SLOW_RELEASE.wait(30)
    SLOW_FINISHED.set()
    return func.HttpResponse("too late")
