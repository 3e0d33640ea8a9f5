"""The export's repairs of a maker's schema mistakes (shared/connectors/_export_normalise.py), one kind at a
time on small hand-written swaggers: what each repair makes of the mistake, that the repaired document is valid
against the paconn swagger schema and openapi-spec-validator, that a valid document comes out unchanged, and
that the swagger the gateway invokes from is never touched."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

import shared.connectors._export_values as values_module
import shared.connectors._export_walk as walk_module
from shared.connectors import GatewayAuth, build_connector, export_swagger
from shared.connectors._export_normalise import normalise
from tests.support.connector_files import make_api_properties
from tests.support.schemas import read_schema

SWAGGER_VALIDATOR = jsonschema.Draft4Validator(read_schema("apiDefinition.swagger.schema.json"))
AUTH = GatewayAuth("Ocp-Apim-Subscription-Key", None)


def _document(operation: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid swagger with one operation, GET /items/{id}; `operation` members replace the operation's own."""
    get = {
        "operationId": "GetItem",
        "summary": "Get an item",
        "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
        "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Item"}}},
        **(operation or {}),
    }
    return {
        "swagger": "2.0",
        "info": {"title": "T", "description": "An API", "version": "1.0"},
        "host": "api.example.com",
        "basePath": "/v1",
        "schemes": ["https"],
        "paths": {"/items/{id}": {"get": get}},
        "definitions": {"Item": {"type": "object", "properties": {"name": {"type": "string"}}}},
        **extra,
    }


def _normalised(document: dict[str, Any]) -> dict[str, Any]:
    repaired = copy.deepcopy(document)
    normalise(repaired)
    assert not list(SWAGGER_VALIDATOR.iter_errors(repaired))
    validate_openapi(repaired)
    return repaired


def _invalid(document: dict[str, Any]) -> bool:
    try:
        validate_openapi(document)
    except Exception:
        return True
    return bool(list(SWAGGER_VALIDATOR.iter_errors(document)))


def _query(**declared: Any) -> dict[str, Any]:
    return {"name": "q", "in": "query", **declared}


def _get(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"]["/items/{id}"]["get"]


def test_a_valid_document_comes_out_unchanged() -> None:
    document = _document(
        {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "type": "string", "x-ms-url-encoding": "single"},
                _query(type="boolean", default=True, **{"x-ms-visibility": "advanced", "x-ms-summary": "Q"}),
                _query(name="n", type="integer", enum=[1, 2], default=2, format="int32"),
            ],
            "x-ms-visibility": "important",
        },
        **{"x-ms-capabilities": {"testConnection": {"operationId": "GetItem"}}, "x-custom": {"anything": 1}},
    )
    assert not _invalid(document)
    assert _normalised(document) == document


@pytest.mark.parametrize(
    ("declared", "repaired"),
    [
        ({"type": "boolean", "default": "true"}, {"type": "boolean", "default": True}),
        ({"type": "boolean", "default": "False"}, {"type": "boolean", "default": False}),
        ({"type": "integer", "default": "5"}, {"type": "integer", "default": 5}),
        ({"type": "number", "default": "1.5"}, {"type": "number", "default": 1.5}),
        ({"type": "string", "default": 25}, {"type": "string", "default": "25"}),
        ({"type": "integer", "enum": ["1", "2"], "default": "2"}, {"type": "integer", "enum": [1, 2], "default": 2}),
        ({"type": "boolean", "x-ms-test-value": "false"}, {"type": "boolean", "x-ms-test-value": False}),
    ],
)
def test_a_value_written_as_a_string_becomes_the_declared_type(declared: dict, repaired: dict) -> None:
    document = _document(
        {"parameters": [*_document()["paths"]["/items/{id}"]["get"]["parameters"], _query(**declared)]}
    )
    assert _get(_normalised(document))["parameters"][1] == _query(**repaired)


@pytest.mark.parametrize(
    ("declared", "repaired"),
    [
        ({"type": "boolean", "default": "yes"}, {"type": "boolean"}),  # no unambiguous boolean
        ({"type": "string", "default": None}, {"type": "string"}),  # Swagger 2.0 has no null
        ({"type": "string", "enum": ["a", "b"], "default": "c"}, {"type": "string", "enum": ["a", "b"]}),
        ({"type": "integer", "enum": ["one"], "default": 1}, {"type": "integer", "default": 1}),  # empty enum goes
        ({"type": "boolean", "x-ms-test-value": "maybe"}, {"type": "boolean"}),
    ],
)
def test_a_value_that_cant_be_of_the_declared_type_goes(declared: dict, repaired: dict) -> None:
    document = _document(
        {"parameters": [*_document()["paths"]["/items/{id}"]["get"]["parameters"], _query(**declared)]}
    )
    assert _get(_normalised(document))["parameters"][1] == _query(**repaired)


def test_a_schema_default_is_checked_against_the_enum_it_refers_to() -> None:
    """A property's default outside the values its `allOf` reference allows (CardsForPowerApps)."""
    document = _document()
    document["definitions"]["Align"] = {"type": "string", "enum": ["center", "bottom"]}
    document["definitions"]["Item"]["properties"]["align"] = {
        "default": "Top",
        "allOf": [{"$ref": "#/definitions/Align"}],
    }
    document["definitions"]["Item"]["properties"]["size"] = {"type": "integer", "default": "0"}
    document["definitions"]["Item"]["properties"]["tags"] = {
        "type": "array",
        "items": {"type": "boolean"},
        "default": ["true", False],
    }
    properties = _normalised(document)["definitions"]["Item"]["properties"]
    assert properties["align"] == {"allOf": [{"$ref": "#/definitions/Align"}]}
    assert properties["size"] == {"type": "integer", "default": 0}
    assert properties["tags"]["default"] == [True, False]


@pytest.mark.parametrize("responses", [{}, None, {"x-note": "none"}])
def test_an_operation_without_responses_gets_a_default_one(responses: dict | None) -> None:
    document = _document({"responses": responses})
    if responses is None:
        del _get(document)["responses"]
    repaired = _get(_normalised(document))["responses"]
    assert repaired == {"default": {"description": "default"}, **(responses or {})}


def test_extensions_the_paconn_schema_doesnt_allow_there_go() -> None:
    document = _document(
        {
            "x-ms-openai-data": {"operations": []},  # not an operation's extension in the schema
            "x-ms-url-encoding": "single",  # a parameter's, not an operation's
            "parameters": [
                {"name": "id", "in": "path", "required": True, "type": "string", "x-ms-skip-url-encoding": True},
                {"name": "T", "in": "header", "type": "string", "x-ms-url-encoding": "single", "x-ms-summary": "T"},
                _query(type="string", **{"x-ms-summary:": "typo", "x-other": 1}),
            ],
        },
        **{"x-ms-openai-manifest": {}, "x-ms-connector-metadata": [{"propertyName": "Website", "propertyValue": "x"}]},
    )
    document["info"]["x-ms-keywords"] = ["k"]
    document["tags"] = [{"name": "t", "x-ms-summary": "T"}]
    document["definitions"]["Item"]["properties"]["name"]["x-ms-sumamry"] = "Name"
    document["paths"]["/items/{id}"]["x-ms-visibility"] = "internal"
    repaired = _normalised(document)
    get = _get(repaired)
    assert "x-ms-openai-data" not in get and "x-ms-url-encoding" not in get
    assert get["parameters"][0]["x-ms-skip-url-encoding"] is True  # a path parameter's own
    assert get["parameters"][1] == {"name": "T", "in": "header", "type": "string", "x-ms-summary": "T"}
    assert get["parameters"][2] == _query(type="string", **{"x-other": 1})  # non-ms vendor extensions stay
    assert "x-ms-openai-manifest" not in repaired and "x-ms-connector-metadata" in repaired
    assert repaired["info"] == {"title": "T", "description": "An API", "version": "1.0"}
    assert repaired["tags"] == [{"name": "t"}]
    assert repaired["definitions"]["Item"]["properties"]["name"] == {"type": "string"}
    assert set(repaired["paths"]["/items/{id}"]) == {"get"}


def test_a_misspelt_root_field_goes() -> None:
    repaired = _normalised(_document(basepath="/v1", **{"x-vendor": True}))
    assert "basepath" not in repaired and repaired["basePath"] == "/v1" and repaired["x-vendor"] is True


def test_capabilities_keep_only_what_the_schema_knows() -> None:
    picker = {"open": {"operationId": "GetItem"}, "value-title": "name", "value-path": "id"}
    document = _document(**{"x-ms-capabilities": {"file-picker": picker, "other": {}}})
    assert _normalised(document)["x-ms-capabilities"] == {
        "file-picker": {"open": {"operationId": "GetItem"}, "value-title": "name"}
    }
    broken = _document(**{"x-ms-capabilities": {"file-picker": {"value-path": "id"}}})
    assert _normalised(broken)["x-ms-capabilities"] == {}


def test_a_file_schema_is_binary_content() -> None:
    document = _document(
        {"responses": {"200": {"description": "A PDF", "schema": {"type": "file", "x-ms-summary": "Document"}}}}
    )
    assert _get(_normalised(document))["responses"]["200"]["schema"] == {
        "type": "string",
        "format": "binary",
        "x-ms-summary": "Document",
    }


def test_formats_and_visibilities_the_schema_doesnt_know_go() -> None:
    document = _document({"parameters": [*_get(_document())["parameters"], _query(type="string", format="guid")]})
    properties = document["definitions"]["Item"]["properties"]
    properties["phone"] = {"type": "string", "format": "phone", "x-ms-visibility": ""}
    properties["id"] = {"type": "string", "format": "uuid", "x-ms-visibility": "none"}
    repaired = _normalised(document)
    assert _get(repaired)["parameters"][1] == _query(type="string")
    assert repaired["definitions"]["Item"]["properties"]["phone"] == {"type": "string"}
    assert repaired["definitions"]["Item"]["properties"]["id"] == {"type": "string", "format": "uuid"}


def test_the_export_repairs_and_the_invoked_swagger_stays_as_uploaded() -> None:
    """The repairs are in the exported copy only: the swagger the gateway built its operations from (and
    invokes with) is the maker's, mistakes and all."""
    definition = _document(
        {
            "parameters": [*_get(_document())["parameters"], _query(type="boolean", default="true")],
            "responses": {},
            "x-ms-openai-data": {},
        }
    )
    uploaded = copy.deepcopy(definition)
    connector = build_connector("c", definition, make_api_properties(), None)
    exported = export_swagger(definition, connector, set(), "https://gw.example.com", "/api/connections/c/invoke", AUTH)
    assert definition == uploaded
    assert _invalid(uploaded) and not _invalid(exported)
    assert _get(exported)["parameters"][1]["default"] is True
    assert _get(exported)["responses"] == {"default": {"description": "default"}}
    operation = next(o for o in connector.operations if o.operation_id == "GetItem")
    assert operation.parameter("q", "query") is not None


def test_path_parameters_match_the_template() -> None:
    document = _document({"parameters": [{"name": "gone", "in": "path", "required": True, "type": "string"}]})
    document["paths"]["/items/{id}/parts/{part}"] = {
        "parameters": [{"$ref": "#/parameters/part"}],
        "get": {"operationId": "GetPart", "responses": {"200": {"description": "ok"}}},
    }
    document["parameters"] = {"part": {"name": "part", "in": "path", "type": "string"}}  # not required
    repaired = _normalised(document)
    assert _get(repaired)["parameters"] == [{"name": "id", "in": "path", "required": True, "type": "string"}]
    part = repaired["paths"]["/items/{id}/parts/{part}"]
    assert part["get"]["parameters"] == [{"name": "id", "in": "path", "required": True, "type": "string"}]
    assert repaired["parameters"]["part"]["required"] is True


def test_a_parameter_declared_twice_keeps_the_first() -> None:
    first = _query(type="string", description="first")
    document = _document({"parameters": [*_get(_document())["parameters"], first, _query(type="integer")]})
    assert _get(_normalised(document))["parameters"][1:] == [first]


def test_references_to_nothing_go() -> None:
    document = _document(
        {
            "parameters": [*_get(_document())["parameters"], {"$ref": "#/parameters/missing"}],
            "responses": {
                "200": {"description": "ok", "schema": {"$ref": "#/definitions/Missing", "description": "An item"}},
                "404": {"$ref": "#/responses/NotFound"},
            },
        }
    )
    document["definitions"]["Item"]["properties"]["next"] = {"$ref": "other.json#/definitions/Item"}
    repaired = _normalised(document)
    assert _get(repaired)["parameters"] == _get(_document())["parameters"]
    assert _get(repaired)["responses"] == {
        "200": {"description": "ok", "schema": {"description": "An item"}},
        "404": {"description": ""},
    }
    assert repaired["definitions"]["Item"]["properties"]["next"] == {}


def test_loose_declarations_are_read_as_what_they_mean() -> None:
    document = _document(
        {
            "operationId": None,
            "parameters": [
                *_get(_document())["parameters"],
                {"name": "q", "in": "query"},
                _query(name="o", type="object"),
            ],
            "responses": {"200": {"schema": {"type": "string"}}},
        }
    )
    document["info"]["version"] = 2
    document["definitions"]["Item"].update({"required": ["name", "nope"], "allOf": [{"type": "object"}]})
    repaired = _normalised(document)
    assert "operationId" not in _get(repaired)
    assert _get(repaired)["parameters"][1:] == [_query(type="string"), _query(name="o", type="string")]
    assert _get(repaired)["responses"] == {"200": {"description": "", "schema": {"type": "string"}}}
    assert repaired["info"]["version"] == "2"
    assert repaired["definitions"]["Item"]["required"] == ["name"]


def test_a_hostile_swagger_is_repaired_in_linear_work_without_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A maker's swagger is anyone's input to GET /api/connections/{id}/openapi. An `allOf` fan-out of `$ref`s
    (each level multiplies the paths to read), many objects referring to one huge enum, and lists where names
    belong (unhashable) must neither crash the export (a 500) nor keep a worker busy for hours."""
    levels, width, objects, values = 20, 10, 500, 5000
    document = _document()
    definitions = document["definitions"]
    for level in range(levels):
        definitions[f"D{level}"] = {"allOf": [{"$ref": f"#/definitions/D{level + 1}"} for _ in range(width)]}
    definitions[f"D{levels}"] = {"type": "string", "enum": [f"v{i}" for i in range(values)]}
    definitions["D0"].update({"default": "v1", "required": ["a"], "properties": {"a": {"type": "string"}}})
    definitions["Cycle"] = {"allOf": [{"$ref": "#/definitions/Cycle"}, {"type": "integer"}], "default": "3"}
    for index in range(objects):
        definitions["Item"]["properties"][f"p{index}"] = {"$ref": f"#/definitions/D{levels}", "default": "v2"}
    get = _get(document)
    get["parameters"] = [
        {"name": ["id"], "in": "path", "required": True, "type": "string"},
        {"name": "q", "in": ["query"], "type": "string"},
        _query(name="t", type=["string", "null"], format=["x"], **{"x-ms-visibility": ["a"]}),
    ]
    definitions["Item"].update({"allOf": [{"type": "object"}], "required": [["a"], "p0"]})

    made = {"keys": 0, "reads": 0}

    def counted(function: Any, name: str) -> Any:
        def call(*args: Any) -> Any:
            made[name] += 1
            return function(*args)

        return call

    monkeypatch.setattr(values_module, "_key", counted(values_module._key, "keys"))
    monkeypatch.setattr(walk_module, "resolve_local", counted(walk_module.resolve_local, "reads"))
    repaired = copy.deepcopy(document)
    normalise(repaired)

    # The enum's keys are made once, not once per object referring to it (nor per pair of values).
    assert made["keys"] < 3 * values + 10 * objects
    # A declaration is read through a bounded number of schemas: the fan-out, read path by path, is 10**20.
    assert made["reads"] < 100 * (levels + objects)
    properties = repaired["definitions"]["Item"]["properties"]
    assert all(properties[f"p{index}"]["default"] == "v2" for index in range(objects))
    assert repaired["definitions"]["D0"]["default"] == "v1"  # too many parts to tell: kept as written
    assert repaired["definitions"]["Cycle"]["default"] == 3  # a cycle ends; the integer it declares is read
    assert repaired["definitions"]["Item"]["required"] == ["p0"]
    assert [(p["name"], p["in"], p["type"]) for p in _get(repaired)["parameters"]] == [
        ("q", ["query"], "string"),
        ("t", "query", "string"),
        ("id", "path", "string"),  # the template's {id}, declared again once the list-named one went
    ]
    assert "format" not in _get(repaired)["parameters"][2] and "x-ms-visibility" not in _get(repaired)["parameters"][2]


def test_objects_where_the_export_expects_names_or_lists_dont_crash_it() -> None:
    """A maker's `$ref`, operationId or parameter list of the wrong JSON type (found by mutating real swaggers):
    each made GET /openapi answer 500 (unhashable, not iterable)."""
    definition = _document(
        {
            "parameters": [
                *_get(_document())["parameters"],
                _query(type="string", **{"x-ms-dynamic-values": {"operationId": {"a": 1}}}),
            ]
        },
        **{"x-ms-capabilities": {"testConnection": {"operationId": ["GetItem"]}}},
    )
    definition["paths"]["/items/{id}"]["post"] = {"operationId": "Post", "parameters": 7, "responses": {}}
    definition["paths"]["/others/{other}"] = {"get": {"operationId": "Other", "parameters": True, "responses": {}}}
    definition["paths"]["/refs/{r}"] = {"parameters": [{"$ref": {"a": 1}}], "get": {"responses": {}}}
    connector = build_connector("c", definition, make_api_properties(), None)
    exported = export_swagger(definition, connector, set(), "https://gw.example.com", "/api/connections/c/invoke", AUTH)
    assert "x-ms-capabilities" not in exported or "testConnection" not in exported["x-ms-capabilities"]
    assert exported["paths"]["/others/{other}"]["get"]["parameters"] == [
        {"name": "other", "in": "path", "required": True, "type": "string"}
    ]
