"""stringreplace: replace text in a string property of an object in the request or response body, or of each
object in a collection, and put the result in a property of that object.

x-ms-apimTemplateParameter.propertyParentPath  the parent: @body() or a path below it (`@body().invoices`)
x-ms-apimTemplateParameter.propertySubPath     the string property within each object (`url`)
x-ms-apimTemplateParameter.sourceString        the text to find (literal, every occurrence)
x-ms-apimTemplateParameter.replacementString   what replaces it (empty: removed)
x-ms-apimTemplateParameter.newPropertyPath     where the result goes: @item().path, within the same object

    FreeAgent: {"invoices": [{"url": "https://api.freeagent.com/v2/invoices/7"}]}
            -> {"invoices": [{"url": "https://api.freeagent.com/v2/invoices/7", "id": "7"}]}

An object without that property, or whose value isn't text, is left as it is; so is a body that isn't JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shared.templates._body as _body
from shared.templates._base import register


@register("stringreplace")
class StringReplace(_body.BodyTemplate):
    template_id = "stringreplace"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.parent = _body.path_parameter(self, "propertyParentPath")
        self.source = _body.sub_path(self.text("propertySubPath"))
        self.find = self.text("sourceString")
        self.replacement = self.text("replacementString", required=False)
        self.target = _body.item_path(self.text("newPropertyPath"), "its newPropertyPath")

    def reshape(self, document: Any) -> bool:
        parent = _body.get(document, self.parent)
        changed = False
        for item in parent if isinstance(parent, list) else [parent]:
            value = _body.get(item, self.source)
            if isinstance(item, dict) and isinstance(value, str):
                changed = _body.put(item, self.target, value.replace(self.find, self.replacement)) or changed
        return changed
