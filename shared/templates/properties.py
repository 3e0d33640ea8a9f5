"""setproperty: add or replace a property of an object in the request or response body, or of each object
in a collection.

x-ms-apimTemplateParameter.newPropertyParentPathTemplate  the parent: @body() or a path below it
x-ms-apimTemplateParameter.newPropertySubPathTemplate     the property, within the parent (`nextLink`)
x-ms-apimTemplateParameter.propertyValuePathTemplate      a constant, `{@body().path}` references, or both;
                                                          one reference alone keeps the value's JSON type

A sole reference to a property the body doesn't have sets nothing (iObeya's `nextLink` from `next` on the
last page stays absent, so paging stops). A body that isn't JSON passes unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shared.templates._body as _body
from shared.templates._base import (
    REQUEST,
    RESPONSE,
    CallerResponse,
    OutgoingRequest,
    Template,
    TemplateUnsupported,
    register,
)
from shared.templates._expressions import Evaluation


@register("setproperty")
class SetProperty(Template):
    template_id = "setproperty"
    sections = frozenset({REQUEST, RESPONSE})
    reads_response_body = True

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.parent = _body.path_parameter(self, "newPropertyParentPathTemplate")
        self.name = _body.sub_path(self.text("newPropertySubPathTemplate"))
        if not self.name:
            raise TemplateUnsupported("newPropertySubPathTemplate names no property")
        self.value = _body.ValueTemplate.parse(self.text("propertyValuePathTemplate", required=False))

    def reshape(self, document: Any) -> None:
        parent = _body.get(document, self.parent)
        targets = parent if isinstance(parent, list) else [parent]
        value = self.value.render(document)
        if not _body.found(value):
            return
        for target in targets:
            if isinstance(target, dict):
                _body.put(target, self.name, value)

    def apply_request(self, request: OutgoingRequest, evaluation: Evaluation) -> None:
        document = _body.load(request.body, request.headers, self.template_id)
        if _body.found(document):
            self.reshape(document)
            request.body = _body.dump(document)

    def apply_response(self, response: CallerResponse, evaluation: Evaluation) -> None:
        document = _body.load(response.body, response.headers, self.template_id)
        if _body.found(document):
            self.reshape(document)
            response.body = _body.dump(document)
