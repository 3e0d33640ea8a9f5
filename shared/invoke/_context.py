"""What one invocation carries from stage to stage."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from shared.auth_schemes import ApiKeyQuery
from shared.callers import Principal
from shared.connections import ConnectionTarget, Credential
from shared.invoke._match import MatchedOperation
from shared.invoke._runtime import ConnectorRuntime, OperationPlan
from shared.limits import Admission
from shared.policies import ConnectorPolicy
from shared.templates import CallerResponse, Evaluation, OutgoingRequest
from shared.templates.links import UpdateNextLink


@dataclass(frozen=True)
class IncomingCall:
    """The caller's request, as the HTTP adapter read it."""

    principal: Principal
    connection_id: str
    method: str
    raw_path: str  # after /invoke, percent-encoding intact, relative to the connector's basePath
    raw_query: str
    headers: Mapping[str, str]
    body: bytes
    client_ip: str | None
    proto: str
    subscription_id: str | None = None
    credential_query: Collection[str] = ()  # gateway credentials in the query: never forwarded
    credential_headers: Collection[str] = ()  # gateway credentials in headers: never forwarded


@dataclass
class Invocation:
    call: IncomingCall
    connection: ConnectionTarget | None = None
    policy: ConnectorPolicy | None = None
    runtime: ConnectorRuntime | None = None
    matched: MatchedOperation | None = None  # None: a pass-through call (the policy allows undeclared paths)
    plan: OperationPlan | None = None
    request: OutgoingRequest | None = None
    admission: Admission | None = None
    credential: Credential | None = None
    response: CallerResponse | None = None
    backend_url: str = ""  # the URL the backend was called at (after templates)
    # The caller's headers as the backend may see them (gateway credentials and cookies gone): what @headers reads.
    forwarded_headers: Mapping[str, str] = field(default_factory=dict)
    log_fields: dict[str, str] = field(default_factory=dict)

    @property
    def operation_id(self) -> str | None:
        return self.matched.operation.operation_id if self.matched else None

    def next_link_names(self) -> tuple[str, ...]:
        """The answer's properties that link the next page: `x-ms-pageable`'s nextLinkName and each applying
        `updatenextlink` template's nextLinkPropertyName (Almabase names both, spelled differently)."""
        names = [self.matched.operation.next_link_name] if self.matched is not None else []
        if self.plan is not None:
            names += [
                i.template.next_link_property for i in self.plan.templates if isinstance(i.template, UpdateNextLink)
            ]
        return tuple(dict.fromkeys(name for name in names if name))

    def backend_query_names(self) -> tuple[str, ...]:
        """Query parameters the gateway itself gave the backend: the connection's API key and templates' values."""
        request = self.request
        names = [*request.query_set, *(name for name, _ in request.query_added)] if request else []
        auth = self.credential.auth if self.credential else None
        if isinstance(auth, ApiKeyQuery):
            names.append(auth.parameter)
        return tuple(names)

    def evaluation(self) -> Evaluation:
        """What template expressions read: the connection's values and the caller's original request."""
        query: dict[str, str] = {}
        hidden = {name.lower() for name in self.call.credential_query}
        for name, value in parse_qsl(self.call.raw_query, keep_blank_values=True):
            if name.lower() not in hidden:  # a gateway key never reaches a template
                query.setdefault(name.lower(), value)
        return Evaluation(
            connection=self.credential.values if self.credential else {},
            method=self.call.method,
            headers={name.lower(): value for name, value in self.forwarded_headers.items()},
            query=query,
            body=self.call.body,
        )
