"""Power Platform policy templates (`policyTemplateInstances`): data plus one small class per templateId.

`parse_instances` reads a connector's instances (scope, section, parameters) once; each supported
instance changes an `OutgoingRequest` or a `CallerResponse` when an operation it applies to runs.
The classes register themselves by id on import: headers (setheader), query (setqueryparameter),
host (dynamichosturl, dynamicsubdomain), route (routerequesttoendpoint), properties (setproperty),
arrays (convertobjecttoarray), strings (stringreplace), links (updatenextlink,
which the paging stage applies), value_from_url (setvaluefromurl, which calls the backend first), polling
(pollingtrigger, whose next poll the HTTP adapter turns into the caller's Location).
"""

from shared.templates import (  # noqa: F401  (registers)
    arrays,
    headers,
    host,
    links,
    polling,
    properties,
    query,
    route,
    strings,
    value_from_url,
)
from shared.templates._base import (
    REQUEST,
    RESPONSE,
    TEMPLATES,
    BackendCall,
    CallerResponse,
    NextPoll,
    OutgoingRequest,
    Template,
    TemplateUnsupported,
    register,
)
from shared.templates._expressions import Evaluation
from shared.templates._instances import TemplateInstance, instance_warnings, parse_instances
from shared.templates.polling import NEXT_POLL_MARKER

__all__ = [
    "NEXT_POLL_MARKER",
    "REQUEST",
    "RESPONSE",
    "TEMPLATES",
    "BackendCall",
    "CallerResponse",
    "Evaluation",
    "NextPoll",
    "OutgoingRequest",
    "Template",
    "TemplateInstance",
    "TemplateUnsupported",
    "instance_warnings",
    "parse_instances",
    "register",
]
