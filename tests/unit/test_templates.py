"""Policy templates without a network: expressions, each template's effect, scope, section, what can't be honoured."""

from __future__ import annotations

import json

import pytest

from shared.problems import Problem
from shared.templates import (
    TEMPLATES,
    CallerResponse,
    Evaluation,
    OutgoingRequest,
    instance_warnings,
    parse_instances,
)
from shared.templates._expressions import UnsupportedExpression, evaluate, parse

P = "x-ms-apimTemplateParameter."


def _evaluation(**connection: str) -> Evaluation:
    return Evaluation(
        connection=connection,
        method="PATCH",
        headers={"x-tenant": "acme"},
        query={"projectid": "p1"},
        body=b'{"a":1}',
    )


def _request(**overrides: object) -> OutgoingRequest:
    fields: dict = {
        "method": "GET",
        "base_url": "https://api.example.com/v1",
        "path": "/items/42",
        "raw_query": "a=1",
        "headers": {"Accept": "application/json"},
        "body": b"",
        "path_values": {"id": "42"},
    }
    fields.update(overrides)
    return OutgoingRequest(**fields)


def _one(template_id: str, **parameters: object):
    (instance,) = parse_instances([{"templateId": template_id, "parameters": parameters}])
    return instance


def test_expressions_of_real_connectors() -> None:
    evaluation = _evaluation(host="h.example.com")
    assert evaluate(parse("https://@connectionParameters('host')/api"), evaluation) == "https://h.example.com/api"
    assert evaluate(parse("@connectionParameters('missing','api')"), evaluation) == "api"
    assert evaluate(parse("@Request.OriginalHTTPMethod"), evaluation) == "PATCH"
    assert evaluate(parse("@headers('X-Tenant')-@queryParameters('projectId')"), evaluation) == "acme-p1"
    assert evaluate(parse("@body()"), evaluation) == '{"a":1}'
    assert evaluate(parse("ops@example.com"), evaluation) == "ops@example.com"  # an @ that starts no expression
    with pytest.raises(UnsupportedExpression, match="triggerBody"):
        parse("@triggerBody()")


def test_template_ids_match_case_insensitively_and_the_registry_holds_the_first_templates() -> None:
    assert {"dynamichosturl", "dynamicsubdomain", "setheader", "setqueryparameter", "routerequesttoendpoint"} <= set(
        TEMPLATES
    )
    assert _one("dynamicHostUrl", **{P + "urlTemplate": "@connectionParameters('u')"}).unsupported is None


def test_setheader_override_skip_append_and_response_section() -> None:
    request = _request(headers={"X-A": "caller"})
    _one("setheader", **{P + "name": "x-a", P + "value": "t", P + "existsAction": "skip"}).template.apply_request(
        request, _evaluation()
    )
    assert request.headers == {"X-A": "caller"}
    _one("setheader", **{P + "name": "X-A", P + "value": "@connectionParameters('k')"}).template.apply_request(
        request, _evaluation(k="v")
    )
    assert request.headers == {"X-A": "v"} and request.template_headers == {"X-A": "v"}
    response = CallerResponse(200, [("Set-Cookie", "a"), ("Set-Cookie", "b")], b"")
    instance = _one(
        "setheader",
        **{
            P + "name": "X-R",
            P + "value": "1",
            P + "existsAction": "append",
            "x-ms-apimTemplate-policySection": "Response",
        },
    )
    assert instance.section == "response"
    instance.template.apply_response(response, _evaluation())
    assert response.headers[-1] == ("X-R", "1") and len(response.headers) == 3


def test_setheader_refuses_line_breaks_and_gateway_owned_headers() -> None:
    instance = _one("setheader", **{P + "name": "X-A", P + "value": "@headers('x-tenant')"})
    with pytest.raises(Problem):
        instance.template.apply_request(_request(), Evaluation({}, "GET", {"x-tenant": "a\r\nInjected: 1"}, {}, b""))
    assert "Host" in (_one("setheader", **{P + "name": "Host", P + "value": "x"}).unsupported or "")


def test_setqueryparameter_override_and_skip() -> None:
    request = _request(raw_query="piIntegrator=caller&b=2")
    _one("setqueryparameter", **{P + "name": "piIntegrator", P + "value": "89"}).template.apply_request(
        request, _evaluation()
    )
    assert request.query_set == {"piIntegrator": "89"}
    _one("setqueryparameter", **{P + "name": "b", P + "value": "x", P + "existsAction": "skip"}).template.apply_request(
        request, _evaluation()
    )
    assert "b" not in request.query_set


def test_dynamichosturl_checks_each_value_for_its_position() -> None:
    label = _one("dynamicsubdomain", **{P + "urlTemplate": "https://@connectionParameters('s').alisqi.com/api/"})
    request = _request()
    label.template.apply_request(request, _evaluation(s="acme"))
    assert request.base_url == "https://acme.alisqi.com/api" and request.base_url_from_connection
    for hostile in ("evil.com/x", "a.b", "x@y", "169.254.169.254#"):
        with pytest.raises(Problem) as caught:
            label.template.apply_request(_request(), _evaluation(s=hostile))
        assert caught.value.status == 400 and hostile not in caught.value.detail
    origin = _one("dynamichosturl", **{P + "urlTemplate": "@connectionParameters('u')"})
    for hostile in ("https://a@b.example", "https://h.example/x?y=1", "ftp://h.example", "http://h.example"):
        with pytest.raises(Problem):
            origin.template.apply_request(_request(), _evaluation(u=hostile))  # http: the connector is https


def test_a_host_from_the_callers_request_is_unsupported() -> None:
    for template in ("https://@headers('HostURL')", "@queryParameters('hostUrl')", "https://@body()"):
        instance = _one("dynamichosturl", **{P + "urlTemplate": template})
        assert instance.template is None and "caller" in (instance.unsupported or "")


def test_routerequesttoendpoint_fills_path_parameters_and_connection_values() -> None:
    instance = _one(
        "routerequesttoendpoint",
        **{P + "newPath": "/@connectionParameters('ws')/docs/{id}", P + "httpMethod": "POST"},
    )
    request = _request()
    instance.template.apply_request(request, _evaluation(ws="w1"))
    assert (request.path, request.method) == ("/w1/docs/42", "POST")
    with pytest.raises(Problem):
        instance.template.apply_request(_request(), _evaluation(ws="../admin"))


def test_unknown_templates_and_sections_are_named_in_warnings() -> None:
    instances = parse_instances(
        [
            {"templateId": "notatemplate", "title": "T", "parameters": {}},
            {
                "templateId": "setqueryparameter",
                "parameters": {P + "name": "a", P + "value": "b", "x-ms-apimTemplate-policySection": "Response"},
            },
            {
                "templateId": "setheader",
                "parameters": {P + "name": "a", P + "value": "b", "x-ms-apimTemplate-operationName": ["Nope"]},
            },
        ]
    )
    warnings = instance_warnings(instances, ["Known"])
    assert [w["pointer"] for w in warnings] == [
        "/apiProperties/properties/policyTemplateInstances/0/templateId",
        "/apiProperties/properties/policyTemplateInstances/1/templateId",
        "/apiProperties/properties/policyTemplateInstances/2/parameters/x-ms-apimTemplate-operationName",
    ]
    assert instances[2].applies_to("nope") and not instances[2].applies_to("Known")


def _response(body: bytes, *headers: tuple[str, str]) -> CallerResponse:
    return CallerResponse(200, [("Content-Type", "application/json"), *headers], body)


def test_convertobjecttoarray_as_pushover_declares_it() -> None:
    instance = _one(
        "convertObjectToArray",
        **{
            P + "propertyParentPath": "@body()",
            P + "propertySubPath": "sounds",
            P + "newPropertyPath": "@body().soundsArray",
            P + "keyName": "sound",
            P + "valueName": "description",
            "x-ms-apimTemplate-policySection": "Response",
        },
    )
    response = _response(b'{"sounds":{"bike":"Bike","echo":{"v":1}},"status":1}')
    instance.template.apply_response(response, _evaluation())
    assert json.loads(response.body) == {
        "sounds": {"bike": "Bike", "echo": {"v": 1}},
        "status": 1,
        "soundsArray": [{"sound": "bike", "description": "Bike"}, {"sound": "echo", "description": {"v": 1}}],
    }
    for untouched in (b"<html>oops</html>", b"", b'{"sounds":[1]}'):
        response = _response(untouched)
        instance.template.apply_response(response, _evaluation())
        assert response.body == untouched
    with pytest.raises(Problem) as caught:  # never passed on as if the template had run
        instance.template.apply_response(_response(b"\x1f\x8b", ("Content-Encoding", "gzip")), _evaluation())
    assert caught.value.status == 502 and "convertobjecttoarray" in caught.value.detail
    hostile = b"[" * 100_000 + b"]" * 100_000  # past the parser's recursion limit, and far past the depth limit
    for body in (hostile, b'{"sounds":' + b"[" * 200 + b"]" * 200 + b"}"):
        with pytest.raises(Problem, match="deeper"):
            instance.template.apply_response(_response(body), _evaluation())
    null = _response(b"null")
    instance.template.apply_response(null, _evaluation())
    assert null.body == b"null"


def test_setproperty_constants_references_and_collections() -> None:
    def setproperty(parent: str, name: str, value: str, section: str = "Response"):
        return _one(
            "setproperty",
            **{
                P + "newPropertyParentPathTemplate": parent,
                P + "newPropertySubPathTemplate": name,
                P + "propertyValuePathTemplate": value,
                "x-ms-apimTemplate-policySection": section,
            },
        ).template

    response = _response(b'{"next":"https://api.example.com/v1/rooms?page=2","data":[]}')
    setproperty("@body()", "nextLink", "{@body().next}").apply_response(response, _evaluation())
    assert json.loads(response.body)["nextLink"] == "https://api.example.com/v1/rooms?page=2"
    last_page = _response(b'{"data":[]}')
    setproperty("@body()", "nextLink", "{@body().next}").apply_response(last_page, _evaluation())
    assert json.loads(last_page.body) == {"data": []}  # nothing to point at: paging stops
    people = _response(b'{"people":[{"name":"x"},{"name":"y"}],"firstName":"John","lastName":"Smith"}')
    setproperty("@body().people", "age", "30").apply_response(people, _evaluation())
    setproperty("@body()", "name", "{@body().firstName} {@body().lastName}").apply_response(people, _evaluation())
    document = json.loads(people.body)
    assert [p["age"] for p in document["people"]] == ["30", "30"] and document["name"] == "John Smith"
    request = _request(body=b'{"task":{"title":"t"}}', headers={"Content-Type": "application/json"})
    setproperty("@body().task", "previewType", "checklist", "Request").apply_request(request, _evaluation())
    assert json.loads(request.body) == {"task": {"title": "t", "previewType": "checklist"}}
    # FreeAgent: a quoted string literal with {@item()...} references to each object of the collection.
    invoices = _response(b'{"invoices":[{"id":"7","reference":"INV-7"},{"id":"8"},"not an object"]}')
    freeagent = setproperty("@body().invoices", "title", "'{@item()['id']}-{@item()['reference']}'")
    freeagent.apply_response(invoices, _evaluation())
    assert json.loads(invoices.body)["invoices"] == [
        {"id": "7", "reference": "INV-7", "title": "7-INV-7"},
        {"id": "8", "title": "8-"},
        "not an object",
    ]
    typed = _response(b'{"a":[{"n":{"x":1}}],"meta":{"@odata.etag":"e1"}}')
    setproperty("@body().a", "copy", "{@item()?['n'].x}").apply_response(typed, _evaluation())
    setproperty("@body()", "etag", "{@body()['meta']['@odata.etag']}").apply_response(typed, _evaluation())
    assert json.loads(typed.body) == {"a": [{"n": {"x": 1}, "copy": 1}], "meta": {"@odata.etag": "e1"}, "etag": "e1"}
    spaced = _response(b'{"rows":[{"Submission Date":"d"}]}')
    setproperty("@body().rows", "Copied Date", "{@item()['Submission Date']}").apply_response(spaced, _evaluation())
    assert json.loads(spaced.body)["rows"] == [{"Submission Date": "d", "Copied Date": "d"}]
    for bad in (
        {P + "newPropertyParentPathTemplate": "body.$.x"},
        {P + "propertyValuePathTemplate": "@triggerBody()"},
        {P + "propertyValuePathTemplate": "{@item().a} @utcNow()"},
    ):
        parameters = {
            P + "newPropertyParentPathTemplate": "@body()",
            P + "newPropertySubPathTemplate": "n",
            P + "propertyValuePathTemplate": "v",
            **bad,
        }
        assert _one("setproperty", **parameters).unsupported


def _stringreplace(parent: str, sub: str, find: str, replacement: str, target: str, section: str = "Response"):
    return _one(
        "StringReplace",
        **{
            P + "propertyParentPath": parent,
            P + "propertySubPath": sub,
            P + "sourceString": find,
            P + "replacementString": replacement,
            P + "newPropertyPath": target,
            "x-ms-apimTemplate-policySection": section,
        },
    )


def test_stringreplace_as_freeagent_and_planner_declare_it() -> None:
    freeagent = _stringreplace("@body().invoices", "url", "https://api.freeagent.com/v2/invoices/", "", "@item().id")
    assert freeagent.unsupported is None
    response = _response(
        b'{"invoices":[{"url":"https://api.freeagent.com/v2/invoices/7"},{"url":5},{"other":1}],"n":1}'
    )
    freeagent.template.apply_response(response, _evaluation())
    assert json.loads(response.body) == {
        "invoices": [{"url": "https://api.freeagent.com/v2/invoices/7", "id": "7"}, {"url": 5}, {"other": 1}],
        "n": 1,
    }
    # Planner, Request section, in the order listed: every occurrence, written back to the same property.
    percent = _stringreplace("@body().references", "resourceLink", "%", "%25", "@item().resourceLink", "Request")
    dots = _stringreplace("@body().references", "resourceLink", ".", "%2E", "@item().resourceLink", "Request")
    request = _request(body=b'{"references":[{"resourceLink":"https://a.b/c%20d.e"}]}')
    for instance in (percent, dots):
        instance.template.apply_request(request, _evaluation())
    assert json.loads(request.body) == {"references": [{"resourceLink": "https://a%2Eb/c%2520d%2Ee"}]}
    single = _stringreplace("@body()", "url", "x", "y", "@item().url")
    one = _response(b'{"url":"axa"}')
    single.template.apply_response(one, _evaluation())
    assert json.loads(one.body) == {"url": "aya"}
    for untouched in (b"<html/>", b"", b'{"invoices":"x"}', b"null"):
        response = _response(untouched)
        freeagent.template.apply_response(response, _evaluation())
        assert response.body == untouched
    with pytest.raises(Problem) as caught:
        freeagent.template.apply_response(_response(b"\x1f\x8b", ("Content-Encoding", "gzip")), _evaluation())
    assert caught.value.status == 502 and "stringreplace" in caught.value.detail


def test_stringreplace_refuses_parameters_it_cant_read() -> None:
    assert "newPropertyPath" in (_stringreplace("@body()", "u", "a", "b", "@body().x").unsupported or "")
    assert "newPropertyPath" in (_stringreplace("@body()", "u", "a", "b", "@item()").unsupported or "")
    assert "sourceString" in (_stringreplace("@body()", "u", "", "b", "@item().u").unsupported or "")
    assert _stringreplace("body.items", "u", "a", "b", "@item().u").unsupported
    # The item's property in either spelling of the one path grammar.
    for target in ("@item()['id']", "@item()?.id"):
        template = _stringreplace("@body().rows", "url", "https://x/", "", target).template
        assert template is not None
        rows = _response(b'{"rows":[{"url":"https://x/7"}]}')
        template.apply_response(rows, _evaluation())
        assert json.loads(rows.body) == {"rows": [{"url": "https://x/7", "id": "7"}]}


def test_updatenextlink_names_the_property_in_either_section() -> None:
    for section in ({}, {"x-ms-apimTemplate-policySection": "Response"}):
        instance = _one("updatenextlink", **{P + "nextLinkPropertyName": "@odata.nextLink"}, **section)
        assert instance.unsupported is None and instance.template.next_link_property == "@odata.nextLink"
        assert instance.template.reads_response_body
    assert "nextLinkPropertyName" in (_one("updatenextlink").unsupported or "")


def _setvaluefromurl(url: str, value_path: str, target: str, method: str = "GET"):
    return _one(
        "SetValueFromUrl",
        **{
            P + "parameterValueUrl": url,
            P + "httpMethod": method,
            P + "parameterValuePathTemplate": value_path,
            P + "parameterTemplate": target,
            "x-ms-apimTemplate-policySection": "Request",
        },
    )


class _Backend:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body, self.calls = status, body, []

    def __call__(self, method: str, path: str, raw_query: str) -> CallerResponse:
        self.calls.append((method, path, raw_query))
        return CallerResponse(self.status, [], self.body)


def test_setvaluefromurl_as_planner_and_cradl_declare_it() -> None:
    planner = _setvaluefromurl("/v1.0/planner/tasks/{id}", "@body()['@odata.etag']", "@headers('If-Match')")
    assert planner.unsupported is None
    backend = _Backend(200, b'{"@odata.etag":"W/\\"abc\\"","title":"t"}')
    request = _request(headers={"If-Match": "caller"})
    planner.template.apply_request_calling(request, _evaluation(), backend)
    assert backend.calls == [("GET", "/v1.0/planner/tasks/42", "")]  # the operation's own path parameter
    assert request.headers["If-Match"] == 'W/"abc"' and request.template_headers["If-Match"] == 'W/"abc"'
    cradl = _setvaluefromurl(
        "/oauth2/token?grant_type=client_credentials", "@body().access_token", "@headers('Authorization')", "POST"
    )
    backend = _Backend(200, b'{"access_token":"tok","expires_in":3600}')
    request = _request()
    cradl.template.apply_request_calling(request, _evaluation(), backend)
    assert backend.calls == [("POST", "/oauth2/token", "grant_type=client_credentials")]
    assert request.headers["Authorization"] == "tok"
    facebook = _setvaluefromurl("/{id}?fields=access_token", "@body().access_token", "@queryParameters('access_token')")
    request = _request()
    facebook.template.apply_request_calling(request, _evaluation(), _Backend(200, b'{"access_token":"page-tok"}'))
    assert request.query_set == {"access_token": "page-tok"}
    miro = _setvaluefromurl("/oauth-token", "@body().team.id", "@headers('TeamId')")
    request = _request()
    miro.template.apply_request_calling(request, _evaluation(), _Backend(200, b'{"team":{"id":3074457}}'))
    assert request.headers["TeamId"] == "3074457"


def test_setvaluefromurl_fails_clearly_without_naming_the_value() -> None:
    template = _setvaluefromurl("/token", "@body().access_token", "@headers('Authorization')").template
    for backend in (
        _Backend(401, b'{"access_token":"secret-1"}'),
        _Backend(200, b'{"other":"secret-2"}'),
        _Backend(200, b"<html/>"),
        _Backend(200, b'{"access_token":{"nested":"secret-3"}}'),
        _Backend(200, b'{"access_token":"secret-4\\r\\nX-Injected: 1"}'),
    ):
        with pytest.raises(Problem) as caught:
            template.apply_request_calling(_request(), _evaluation(), backend)
        assert caught.value.status == 502 and "setvaluefromurl" in caught.value.detail
        assert "secret" not in caught.value.detail
    missing = _setvaluefromurl("/tasks/{task}", "@body().etag", "@headers('If-Match')").template
    with pytest.raises(Problem, match="task"):
        missing.apply_request_calling(_request(), _evaluation(), _Backend(200, b'{"etag":"e"}'))


@pytest.mark.parametrize(
    ("url", "value_path", "target", "method"),
    [
        ("https://evil.example/token", "@body().t", "@headers('X')", "GET"),  # never another host
        ("//evil.example/token", "@body().t", "@headers('X')", "GET"),
        ("token", "@body().t", "@headers('X')", "GET"),
        ("/token", "$.t", "@headers('X')", "GET"),
        ("/token", "@body().t", "X", "GET"),
        ("/token", "@body().t", "@connectionParameters('x')", "GET"),
        ("/token", "@body().t", "@headers('Host')", "GET"),
        ("/token", "@body().t", "@headers('X')", "DELETE"),
        ("/token", "@body().t", "@triggerBody().a", "GET"),  # an expression it doesn't know: named, not a 500
    ],
)
def test_setvaluefromurl_refuses_what_it_cant_honour(url: str, value_path: str, target: str, method: str) -> None:
    assert _setvaluefromurl(url, value_path, target, method).unsupported
