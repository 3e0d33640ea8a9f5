"""setvaluefromurl: before the operation's request, call the backend once more and put a value from that answer
into the request (Planner's If-Match etag, Miro's TeamId, Facebook's page token).

x-ms-apimTemplateParameter.parameterValueUrl          a path relative to basePath, like the swagger's paths
                                                      (`/v1.0/planner/tasks/{id}`; `{name}` takes the operation's
                                                      path parameter), with an optional literal query
x-ms-apimTemplateParameter.httpMethod                 the method of that call (GET by default)
x-ms-apimTemplateParameter.parameterValuePathTemplate the value in its JSON answer: `@body().team.id`,
                                                      `@body()['@odata.etag']`
x-ms-apimTemplateParameter.parameterTemplate          where it goes: `@headers('If-Match')` or
                                                      `@queryParameters('access_token')`

Why it is safe to send the credential: the call goes to the operation's own backend (its base URL as the request
templates left it, which passed the address guard and, for a host built from connection values, the position
validator), to a path that passes the caller-path guard and must stay inside basePath; an absolute URL is not
honoured. A failed call, or an answer without the value, is a 502 naming the template, never the value (it may
be a token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import shared.templates._body as _body
from shared.problems import Problem
from shared.templates._base import BackendCall, OutgoingRequest, Template, TemplateUnsupported, register
from shared.templates._expressions import Evaluation, parse
from shared.templates.headers import GATEWAY_OWNED_HEADERS, HEADER_NAME

_PATH_PARAMETER = re.compile(r"\{([^{}/]+)\}")
_METHODS = ("GET", "POST", "PUT")  # paconn's apiProperties schema: the methods it allows, GET by default


def _failed(detail: str) -> Problem:
    return Problem(502, "template-failed", "Policy template failed", f"Policy template 'setvaluefromurl' {detail}.")


@register("setvaluefromurl")
class SetValueFromUrl(Template):
    template_id = "setvaluefromurl"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        url = self.text("parameterValueUrl").strip()
        path, _, self.query = url.partition("?")
        if not path.startswith("/") or path.startswith("//") or "@" in path or "#" in url:
            raise TemplateUnsupported("its parameterValueUrl must be a path relative to basePath, starting with '/'")
        self.path = path
        self.method = self.text("httpMethod", required=False, default="GET").strip().upper()
        if self.method not in _METHODS:
            raise TemplateUnsupported(f"its httpMethod must be one of {', '.join(_METHODS)}")
        self.value_path = _body.path_parameter(self, "parameterValuePathTemplate")
        target = parse(self.text("parameterTemplate").strip()) if "@" in self.text("parameterTemplate") else ()
        if len(target) != 1 or target[0].source not in ("header", "query") or not target[0].text:
            raise TemplateUnsupported("its parameterTemplate must be @headers('name') or @queryParameters('name')")
        self.target = target[0]
        if self.target.source == "header" and (
            not HEADER_NAME.fullmatch(self.target.text) or self.target.text.lower() in GATEWAY_OWNED_HEADERS
        ):
            raise TemplateUnsupported(f"it can't set the header {self.target.text!r}")

    def _path_for(self, request: OutgoingRequest) -> str:
        def fill(match: re.Match[str]) -> str:
            value = request.path_values.get(match.group(1))
            if value is None:
                raise _failed(f"names path parameter {match.group(1)!r}, which this operation doesn't have")
            return value  # the caller's raw segment, already guarded (braces arrive encoded)

        return _PATH_PARAMETER.sub(fill, self.path)

    def _value(self, body: bytes) -> str:
        try:
            document = json.loads(body) if body.strip() else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            document = None
        value = _body.get(document, self.value_path) if document is not None else None
        if value is None or not _body.found(value) or isinstance(value, (dict, list)):
            raise _failed("found no value in the backend's answer")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if any(character in text for character in "\r\n\x00"):
            raise _failed("got a value with a line break from the backend")
        return text

    def apply_request_calling(self, request: OutgoingRequest, evaluation: Evaluation, backend: BackendCall) -> None:
        answer = backend(self.method, self._path_for(request), self.query)
        if not 200 <= answer.status < 300:
            raise _failed(f"got {answer.status} from the backend")
        value = self._value(answer.body)
        if self.target.source == "query":
            request.query_set[self.target.text] = value
            return
        for name in [name for name in request.headers if name.lower() == self.target.text.lower()]:
            del request.headers[name]
        request.headers[self.target.text] = value
        # After the connection's credential, as Power Platform runs policies (Cradl AI's token replaces it).
        request.template_headers[self.target.text] = value
