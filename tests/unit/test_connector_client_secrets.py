"""Secrets in uploaded connector files: client secrets are taken out for Key Vault; securestring defaults refused."""

from __future__ import annotations

import copy

import pytest

from shared.connectors import ConnectorInvalid, client_secret_of, connector_to_record, take_client_secrets
from tests.support.connector_files import build_example, error_pointers, make_api_properties, make_parameter

SECRET = "cs-Value-That-Must-Not-Leak-9f2"
TOKEN = "/apiProperties/properties/connectionParameters/token/oAuthSettings"


def oauth_properties(**settings: object) -> dict:
    oauth = {"identityProvider": "oauth2", "clientId": "client", **settings}
    return make_api_properties({"token": {"type": "oauthSetting", "oAuthSettings": oauth}})


def test_client_secret_in_oauth_settings_is_taken_out() -> None:
    properties = oauth_properties(clientSecret=SECRET)
    original = copy.deepcopy(properties)
    scrubbed, found = take_client_secrets(properties, "apiProperties")
    assert [f.pointer for f in found] == [f"{TOKEN}/clientSecret"]
    assert client_secret_of(found) == SECRET
    assert SECRET not in repr(scrubbed)
    assert SECRET not in repr(found)  # the value is never in a repr (logs, tracebacks)
    assert properties == original  # the caller's document is untouched


def test_client_secret_in_custom_parameters_and_parameter_sets_is_taken_out() -> None:
    properties = oauth_properties(customParameters={"ClientSecret": {"value": SECRET}, "tokenUrl": {"value": "u"}})
    properties["properties"]["connectionParameterSets"] = {
        "values": [
            {"name": "a", "parameters": {"token": {"type": "oauthSetting", "oAuthSettings": {"CLIENTSECRET": SECRET}}}}
        ]
    }
    scrubbed, found = take_client_secrets(properties, "apiProperties")
    assert sorted(f.pointer for f in found) == [
        "/apiProperties/properties/connectionParameterSets/values/0/parameters/token/oAuthSettings/CLIENTSECRET",
        f"{TOKEN}/customParameters/ClientSecret",
    ]
    assert client_secret_of(found) == SECRET  # the same secret twice is one secret
    assert SECRET not in repr(scrubbed)
    assert scrubbed["properties"]["connectionParameters"]["token"]["oAuthSettings"]["customParameters"] == {
        "tokenUrl": {"value": "u"}
    }
    assert SECRET not in repr(connector_to_record(build_example(properties=scrubbed)))


def test_a_connection_parameter_named_client_secret_is_a_definition_not_a_secret() -> None:
    properties = make_api_properties({"clientSecret": make_parameter("securestring")})
    scrubbed, found = take_client_secrets(properties, "apiProperties")
    assert (scrubbed, found) == (properties, [])


@pytest.mark.parametrize("placeholder", ["[[DUMMY]]", "", "  "])
def test_placeholders_are_removed_but_are_no_secret(placeholder: str) -> None:
    scrubbed, found = take_client_secrets(oauth_properties(clientSecret=placeholder), "apiProperties")
    assert len(found) == 1
    assert client_secret_of(found) is None
    assert "clientSecret" not in scrubbed["properties"]["connectionParameters"]["token"]["oAuthSettings"]


def test_two_different_secrets_or_a_non_string_are_refused_without_echoing_them() -> None:
    properties = oauth_properties(clientSecret=SECRET, customParameters={"clientSecret": {"value": "other"}})
    _, found = take_client_secrets(properties, "apiProperties")
    with pytest.raises(ConnectorInvalid) as caught:
        client_secret_of(found)
    assert sorted(error_pointers(caught)) == [f"{TOKEN}/clientSecret", f"{TOKEN}/customParameters/clientSecret"]
    assert SECRET not in repr(caught.value.errors) + str(caught.value)
    _, found = take_client_secrets(oauth_properties(clientSecret=42), "apiProperties")
    with pytest.raises(ConnectorInvalid) as caught:
        client_secret_of(found)
    assert error_pointers(caught) == [f"{TOKEN}/clientSecret"]


def test_securestring_default_is_refused_with_its_pointer() -> None:
    properties = make_api_properties(
        {"api_key": make_parameter("securestring", defaultValue=SECRET, constraints={"hidden": "true"})}
    )
    with pytest.raises(ConnectorInvalid) as caught:
        build_example(properties=properties)
    assert error_pointers(caught) == ["/apiProperties/properties/connectionParameters/api_key/defaultValue"]
    assert SECRET not in str(caught.value) + repr(caught.value.errors)


def test_plain_defaults_and_empty_securestring_defaults_still_import() -> None:
    properties = make_api_properties(
        {"region": make_parameter(defaultValue="eu"), "api_key": make_parameter("securestring", defaultValue="")}
    )
    connector = build_example(properties=properties)
    assert connector.parameter("region").default == "eu"
    assert connector.parameter("api_key").default == ""  # counts as absent: no connection gets it
