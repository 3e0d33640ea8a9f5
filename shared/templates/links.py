"""updatenextlink: the link to an operation's next page, in its answer, points back through the gateway.

x-ms-apimTemplateParameter.nextLinkPropertyName  the answer's top-level property holding the link
                                                 (`nextLink`, `@odata.nextLink`)

Real instances name no section (so Request by default) and the template only ever acts on the answer; it is
accepted in either. The rewrite itself is the paging stage's (shared/invoke/_paging.py, the same one
`x-ms-pageable` uses): mapping a backend URL to `{GATEWAY_PUBLIC_URL}/api/connections/{id}/invoke/...` needs
the gateway's public origin and the call's invoke path, which only the HTTP adapter knows. A link outside the
backend's base path is removed there, so the caller is never sent off the backend with a gateway credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.templates._base import REQUEST, RESPONSE, Template, TemplateUnsupported, register


@register("updatenextlink")
class UpdateNextLink(Template):
    template_id = "updatenextlink"
    sections = frozenset({REQUEST, RESPONSE})
    reads_response_body = True

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        super().__init__(parameters)
        self.next_link_property = self.text("nextLinkPropertyName").strip()
        if not self.next_link_property:
            raise TemplateUnsupported("its nextLinkPropertyName names no property")
