"""Templates real connectors use that this gateway knows but can't honour: registered so the 501 and the upload
warning say why, in a maker's terms, instead of "not implemented".

pollingtrigger   turns an action into a polling trigger whose state (`@triggerBody()` in triggerConfig and
                 triggerDataPath) the flow engine keeps between polls; the gateway is not the flow engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from shared.templates._base import REQUEST, RESPONSE, Template, TemplateUnsupported, register


class _Unhonoured(Template):
    sections = frozenset({REQUEST, RESPONSE})
    reason: ClassVar[str]

    def __init__(self, parameters: Mapping[str, object]) -> None:
        raise TemplateUnsupported(self.reason)


@register("pollingtrigger")
class PollingTrigger(_Unhonoured):
    template_id = "pollingtrigger"
    reason = (
        "it keeps polling-trigger state (@triggerBody() in triggerConfig) that only a flow engine holds between "
        "polls; call the operation as an action, or declare x-ms-trigger with Location/Retry-After instead"
    )
