"""setproperty: add or replace a property of an object in the request or response body, or of each object
in a collection.

x-ms-apimTemplateParameter.newPropertyParentPathTemplate  the parent: @body() or a path below it
x-ms-apimTemplateParameter.newPropertySubPathTemplate     the property, within the parent (`nextLink`)
x-ms-apimTemplateParameter.propertyValuePathTemplate      a constant, `{@body().path}` references, or both;
                                                          one reference alone keeps the value's JSON type;
                                                          `{@item().path}` reads the object being changed

A sole reference to a property the body doesn't have sets nothing (iObeya's `nextLink` from `next` on the
last page stays absent, so paging stops). FreeAgent's ListInvoices gives each invoice a `title` of
`'{@item()['id']}-{@item()['reference']}'`. A body that isn't JSON passes unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shared.templates._body as _body
from shared.templates._base import TemplateUnsupported, register


@register("setproperty")
class SetProperty(_body.BodyTemplate):
    template_id = "setproperty"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.parent = _body.path_parameter(self, "newPropertyParentPathTemplate")
        self.name = _body.sub_path(self.text("newPropertySubPathTemplate"))
        if not self.name:
            raise TemplateUnsupported("newPropertySubPathTemplate names no property")
        self.value = _body.ValueTemplate.parse(self.text("propertyValuePathTemplate", required=False))

    def reshape(self, document: Any) -> bool:
        parent = _body.get(document, self.parent)
        changed = False
        for target in parent if isinstance(parent, list) else [parent]:
            value = self.value.render(document, item=target)
            if isinstance(target, dict) and _body.found(value):
                changed = _body.put(target, self.name, value) or changed
        return changed
