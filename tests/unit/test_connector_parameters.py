import json

import pytest

from shared.connectors import ConnectionValuesInvalid, ConnectorError, build_connector, validate_connection_values
from tests.support.connector_files import make_api_definition, make_api_properties, make_parameter

SECRET = "s3cr3t-Value-That-Must-Not-Leak"


def connector_with(**parameters):
    return build_connector("example", make_api_definition(), make_api_properties(parameters))


@pytest.fixture
def connector():
    return connector_with(
        api_key=make_parameter("securestring"),
        region=make_parameter(constraints={"allowedValues": [{"text": "EU", "value": "eu"}, {"value": "us"}]}),
        retries=make_parameter("int", required="false"),
        verbose=make_parameter("bool", required=False),
        host=make_parameter(required="true", defaultValue="api.example.com", constraints={"hidden": "true"}),
        token={"type": "oauthSetting", "oAuthSettings": {"identityProvider": "oauth2"}},
    )


def errors_of(connector, values):
    with pytest.raises(ConnectionValuesInvalid) as caught:
        validate_connection_values(connector, values)
    assert isinstance(caught.value, ConnectorError)
    return {error["pointer"]: error["detail"] for error in caught.value.errors}


def test_valid_values_split_into_secret_and_plain(connector):
    values = validate_connection_values(connector, {"api_key": SECRET, "region": "eu", "retries": 3, "verbose": False})
    assert values.secret == {"api_key": SECRET}
    assert values.plain == {"region": "eu", "retries": 3, "verbose": False, "host": "api.example.com"}


def test_optional_values_may_be_missing_null_or_empty(connector):
    values = validate_connection_values(connector, {"api_key": SECRET, "region": "us", "retries": None, "verbose": ""})
    assert values.plain == {"region": "us", "host": "api.example.com"}


def test_hidden_parameter_given_explicitly_is_checked_and_kept(connector):
    values = validate_connection_values(connector, {"api_key": SECRET, "region": "us", "host": "other.example.com"})
    assert values.plain["host"] == "other.example.com"
    assert errors_of(connector, {"api_key": SECRET, "region": "us", "host": 5}) == {
        "/parameters/host": "Must be a string."
    }


@pytest.mark.parametrize("values", [None, [], "api_key", 3])
def test_values_must_be_an_object(connector, values):
    assert list(errors_of(connector, values)) == ["/parameters"]


@pytest.mark.parametrize("missing", [{}, {"api_key": None, "region": None}, {"api_key": "", "region": ""}])
def test_required_values(connector, missing):
    errors = errors_of(connector, missing)
    assert errors == {"/parameters/api_key": "Required: a string.", "/parameters/region": "Required: a string."}


def test_unknown_names_including_oauth_settings(connector):
    errors = errors_of(connector, {"api_key": SECRET, "region": "eu", "token": "x", "a/b": 1})
    assert errors == {
        "/parameters/token": "Not a parameter of this connector.",
        "/parameters/a~1b": "Not a parameter of this connector.",
    }


@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [
        ("api_key", 12345, "Must be a string."),
        ("api_key", ["x"], "Must be a string."),
        ("retries", "3", "Must be an integer."),
        ("retries", True, "Must be an integer."),
        ("retries", 1.5, "Must be an integer."),
        ("verbose", "true", "Must be true or false."),
        ("verbose", 1, "Must be true or false."),
        ("region", "mars", "Must be one of: eu, us."),
    ],
)
def test_wrong_types_and_values(connector, name, value, detail):
    values = {"api_key": SECRET, "region": "eu", name: value}
    assert errors_of(connector, values) == {f"/parameters/{name}": detail}


def test_allowed_values_for_int_and_bool():
    connector = connector_with(
        size=make_parameter("int", constraints={"allowedValues": [{"value": "1"}, {"value": "2"}]}),
        flag=make_parameter("bool", constraints={"allowedValues": [{"value": "true"}]}),
    )
    assert validate_connection_values(connector, {"size": 2, "flag": True}).plain == {"size": 2, "flag": True}
    assert set(errors_of(connector, {"size": 3, "flag": False})) == {"/parameters/size", "/parameters/flag"}


def test_hidden_default_applies_only_when_missing_and_optional_hidden_without_default_is_dropped():
    connector = connector_with(
        tenant=make_parameter(required="false", constraints={"hidden": "true"}),
        count=make_parameter("int", required="true", defaultValue="5", constraints={"hidden": True}),
    )
    assert validate_connection_values(connector, {}).plain == {"count": 5}
    assert validate_connection_values(connector, {"count": 7, "tenant": "t"}).plain == {"count": 7, "tenant": "t"}


def test_visible_required_parameter_with_default_must_still_be_given():
    connector = connector_with(env=make_parameter(defaultValue="prod"))
    assert errors_of(connector, {}) == {"/parameters/env": "Required: a string."}


def test_all_problems_are_reported_at_once(connector):
    errors = errors_of(connector, {"region": "mars", "retries": "x", "nope": 1})
    assert set(errors) == {"/parameters/api_key", "/parameters/region", "/parameters/retries", "/parameters/nope"}


@pytest.mark.parametrize(
    "values",
    [
        {"api_key": [SECRET], "region": SECRET},
        {"api_key": {"k": SECRET}, "region": "eu", "retries": SECRET, "verbose": SECRET},
        {SECRET: SECRET, "api_key": SECRET, "region": "eu"},
    ],
)
def test_no_submitted_value_appears_in_errors(connector, values):
    with pytest.raises(ConnectionValuesInvalid) as caught:
        validate_connection_values(connector, values)
    shown = json.dumps(caught.value.errors) + str(caught.value) + repr(caught.value)
    assert SECRET not in shown.replace(f"/parameters/{SECRET}", "")


def test_connector_without_parameters_accepts_only_nothing():
    connector = connector_with()
    values = validate_connection_values(connector, {})
    assert (values.secret, values.plain) == ({}, {})
    assert list(errors_of(connector, {"x": 1})) == ["/parameters/x"]


def test_error_text_is_short_and_names_the_first_problem(connector):
    with pytest.raises(ConnectionValuesInvalid) as caught:
        validate_connection_values(connector, {"region": "eu"})
    assert str(caught.value) == "connection parameters are invalid: /parameters/api_key: Required: a string."
