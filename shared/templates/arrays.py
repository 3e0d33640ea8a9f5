"""convertobjecttoarray: an object's properties as an array of {key, value} objects, in the request or response body.

x-ms-apimTemplateParameter.propertyParentPath  the parent: @body() or a path below it
x-ms-apimTemplateParameter.propertySubPath     the object within the parent (empty: the parent itself)
x-ms-apimTemplateParameter.newPropertyPath     where the array goes: @body().path (its parent must exist)
x-ms-apimTemplateParameter.keyName             each item's property holding the key
x-ms-apimTemplateParameter.valueName           each item's property holding the value

    {"sounds": {"bike": "Bike"}}  ->  {"sounds": {...}, "soundsArray": [{"sound": "bike", "description": "Bike"}]}

A body that isn't JSON, or without an object at that path, passes unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shared.templates._body as _body
from shared.templates._base import register


@register("convertobjecttoarray")
class ConvertObjectToArray(_body.BodyTemplate):
    template_id = "convertobjecttoarray"

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.source = (
            *_body.path_parameter(self, "propertyParentPath"),
            *_body.sub_path(self.text("propertySubPath", required=False)),
        )
        self.target = _body.path_parameter(self, "newPropertyPath")
        self.key_name = self.text("keyName")
        self.value_name = self.text("valueName")

    def reshape(self, document: Any) -> bool:
        source = _body.get(document, self.source)
        if not isinstance(source, dict):
            return False
        items = [{self.key_name: key, self.value_name: value} for key, value in source.items()]
        return _body.put(document, self.target, items)
