"""Stages 5 and 7: the operation's policy templates, request section before forwarding and response section
after, in the order the connector lists them."""

from __future__ import annotations

from dataclasses import replace

from shared.invoke._context import Invocation
from shared.invoke._environment import Environment
from shared.invoke._forward import template_backend_call


def request_templates(invocation: Invocation, env: Environment) -> None:
    plan, request = invocation.plan, invocation.request
    assert plan is not None and request is not None
    evaluation = invocation.evaluation()
    backend = template_backend_call(invocation, env)
    for instance in plan.request:
        assert instance.template is not None
        instance.template.apply_request_calling(request, evaluation, backend)
        # A later template's @headers reads the request as the ones before it left it, as in APIM (Cradl AI's
        # "Bearer @headers('Authorization')" reads the token its setvaluefromurl put there).
        evaluation = replace(evaluation, headers={name.lower(): value for name, value in request.headers.items()})
    if invocation.next_link_names() or any(
        i.template is not None and i.template.reads_response_body for i in plan.response
    ):
        # A response template reshapes JSON, a paging link is rewritten in it: ask for the body unencoded (bodies
        # otherwise pass raw, encoded or not).
        for name in [name for name in request.headers if name.lower() == "accept-encoding"]:
            del request.headers[name]
        request.headers["Accept-Encoding"] = "identity"


def response_templates(invocation: Invocation, env: Environment) -> None:
    plan, response = invocation.plan, invocation.response
    assert plan is not None and response is not None
    if not plan.response:
        return
    evaluation = invocation.evaluation()
    for instance in plan.response:
        assert instance.template is not None
        instance.template.apply_response(response, evaluation)
