"""A connector's `policyTemplateInstances`, read with Power Platform's semantics. Pure.

    {"templateId": "setheader", "title": "...",
     "parameters": {"x-ms-apimTemplateParameter.name": "...", ...,
                    "x-ms-apimTemplate-operationName": ["OpA", "OpB"],   # absent: every operation
                    "x-ms-apimTemplate-policySection": "Request"}}       # or "Response"; Request by default

templateId matches case-insensitively. An instance the gateway can't honour (an unknown templateId, a
section it has no behaviour for, parameters it can't read) keeps its scope and a reason: the operations
it applies to answer 501 naming it, and the upload lists it in `warnings`. Nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.templates._base import REQUEST, RESPONSE, TEMPLATES, Template, TemplateUnsupported
from shared.templates._expressions import UnsupportedExpression

OPERATIONS_KEY = "x-ms-apimTemplate-operationName"
SECTION_KEY = "x-ms-apimTemplate-policySection"
POINTER = "/apiProperties/properties/policyTemplateInstances"


@dataclass(frozen=True)
class TemplateInstance:
    index: int
    template_id: str  # as the maker wrote it
    title: str
    operations: frozenset[str] | None  # lower-cased operationIds; None: every operation
    section: str  # REQUEST or RESPONSE
    template: Template | None  # None when unsupported
    unsupported: str | None  # why the gateway can't honour it

    @property
    def pointer(self) -> str:
        return f"{POINTER}/{self.index}"

    @property
    def label(self) -> str:
        return f"policy template {self.template_id!r}" + (f" ({self.title})" if self.title else "")

    def applies_to(self, operation_id: str | None) -> bool:
        """Whether it runs for an operation (None: a pass-through call, which only unscoped instances reach)."""
        if self.operations is None:
            return True
        return operation_id is not None and operation_id.lower() in self.operations


def _operations(value: Any) -> frozenset[str] | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return f"{OPERATIONS_KEY} must be a list of operationIds"
    return frozenset(name.lower() for name in value)


def _section(value: Any) -> str | None:
    if value is None or value == "":
        return REQUEST
    if isinstance(value, str) and value.strip().lower() in (REQUEST, RESPONSE):
        return value.strip().lower()
    return None


def parse_instance(index: int, raw: Any) -> TemplateInstance:
    raw = raw if isinstance(raw, dict) else {}
    template_id = raw.get("templateId") if isinstance(raw.get("templateId"), str) else ""
    title = raw.get("title") if isinstance(raw.get("title"), str) else ""
    parameters = raw.get("parameters") if isinstance(raw.get("parameters"), dict) else {}
    operations = _operations(parameters.get(OPERATIONS_KEY))
    section = _section(parameters.get(SECTION_KEY))
    reason: str | None = None
    template: Template | None = None
    cls = TEMPLATES.get(template_id.lower())
    if not template_id:
        reason = "it has no templateId"
    elif cls is None:
        reason = "this gateway doesn't implement it"
    elif isinstance(operations, str):
        reason = operations
    elif section is None:
        reason = f"{SECTION_KEY} must be Request or Response"
    elif section not in cls.sections:
        reason = f"this gateway applies it only in the {' or '.join(sorted(cls.sections))} section"
    else:
        try:
            template = cls(parameters)
        except (TemplateUnsupported, UnsupportedExpression) as error:  # a template that parses text itself
            reason = str(error)
    return TemplateInstance(
        index=index,
        template_id=template_id or "(none)",
        title=title,
        operations=None if isinstance(operations, str) else operations,
        section=section or REQUEST,
        template=template,
        unsupported=reason,
    )


def parse_instances(raw: Iterable[Any]) -> tuple[TemplateInstance, ...]:
    return tuple(parse_instance(index, item) for index, item in enumerate(raw))


def instance_warnings(instances: Iterable[TemplateInstance], operation_ids: Iterable[str]) -> list[dict[str, str]]:
    """Upload warnings: each instance the gateway can't honour, and operation names that match no operation."""
    known = {name.lower() for name in operation_ids}
    warnings: list[dict[str, str]] = []
    for instance in instances:
        if instance.unsupported:
            scope = "Every operation answers" if instance.operations is None else "The operations it names answer"
            detail = f"{instance.label} can't be honoured: {instance.unsupported}. {scope} 501."
            warnings.append({"pointer": f"{instance.pointer}/templateId", "detail": detail})
        for name in sorted((instance.operations or frozenset()) - known):
            detail = f"{instance.label} names operation {name!r}, which the swagger doesn't declare."
            warnings.append({"pointer": f"{instance.pointer}/parameters/{OPERATIONS_KEY}", "detail": detail})
    return warnings
