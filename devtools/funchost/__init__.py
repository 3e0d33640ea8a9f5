"""A local stand-in for the Azure Functions host (Core Tools' `func start`) for Python v2-model apps.

Dev/test only, never deployed. Serves the HTTP functions that DIR/function_app.py registers, with the host's
routing rules, and runs other functions through the admin API. Run it with `python -m devtools.funchost`.
"""

from devtools.funchost._server import MAX_REQUEST_BODY_BYTES, RunningHost, serve

__all__ = ["MAX_REQUEST_BODY_BYTES", "RunningHost", "serve"]
