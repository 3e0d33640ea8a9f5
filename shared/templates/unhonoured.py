"""Templates real connectors use that this gateway knows but can't honour: registered so the 501 and the upload
warning say why, in a maker's terms, instead of "not implemented".

pollingtrigger   turns an action into a polling trigger. paconn's apiProperties schema says what its parameters
                 are (triggerConfig: the next poll's query parameters as `@{triggerBody()...}` expressions over
                 the last answer, with a special `x-ms-triggerConfig-nextLink` key; triggerDataPath: the answer's
                 items), but no Microsoft page or real instance says what the caller is answered when there are
                 no items, what the first poll (with no last answer) sends, or what Location/Retry-After carry:
                 the flow engine's side of the protocol. Guessing it would fire flows wrongly, so it stays 501.
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
        "its polling protocol (what the flow engine is answered with no new items, the first poll, the next poll's "
        "@{triggerBody()...} query) isn't documented for this gateway to reproduce; call the operation as an "
        "action, or declare x-ms-trigger with Location/Retry-After instead"
    )
