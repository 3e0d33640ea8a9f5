"""The pure parts of connector ownership: who may do what, share parsing, which replacements move credentials."""

from __future__ import annotations

import pytest

from shared.connectors import (
    EDIT,
    USE,
    ConnectorInvalid,
    ConnectorShare,
    connector_permissions,
    credential_route_changes,
    parse_connector_share,
    shares_from_record,
    shares_to_record,
    with_connector_share,
)
from tests.support.connector_files import (
    API_KEY_HEADER,
    build_example,
    make_api_definition,
    make_api_properties,
    make_parameter,
)

OWNER = "https://issuer|owner"
SHARES = (
    ConnectorShare("https://issuer|editor", frozenset({EDIT})),
    ConnectorShare("https://issuer|user", frozenset({USE})),
    ConnectorShare("group:editors", frozenset({EDIT})),
    ConnectorShare("group:users", frozenset({USE})),
)
NONE: frozenset[str] = frozenset()
BOTH = frozenset({USE, EDIT})


@pytest.mark.parametrize(
    ("principal", "groups", "is_admin", "expected"),
    [
        (OWNER, (), False, BOTH),
        ("https://issuer|editor", (), False, BOTH),  # edit implies use
        ("https://issuer|user", (), False, frozenset({USE})),
        ("https://issuer|member", ("editors",), False, BOTH),
        ("https://issuer|member", ("users",), False, frozenset({USE})),
        ("https://issuer|member", ("users", "editors"), False, BOTH),
        ("https://issuer|stranger", ("others",), False, NONE),
        ("https://issuer|stranger", (), True, BOTH),
        ("group:editors", (), False, NONE),  # a principal id is never taken for a group
    ],
)
def test_permissions(principal: str, groups: tuple[str, ...], is_admin: bool, expected: frozenset[str]) -> None:
    assert connector_permissions(OWNER, SHARES, principal, frozenset(groups), is_admin) == expected


def test_a_connector_without_owner_belongs_to_nobody_but_admins() -> None:
    assert connector_permissions("", (), "", frozenset(), False) == NONE
    assert connector_permissions("", (), "https://issuer|anyone", frozenset(), False) == NONE
    assert connector_permissions("", (), "https://issuer|admin", frozenset(), True) == BOTH


def test_shares_round_trip_and_show_principal_or_group() -> None:
    assert shares_from_record(shares_to_record(SHARES)) == SHARES
    assert SHARES[2].to_json() == {"id": SHARES[2].id, "group": "editors", "permissions": ["edit"]}
    assert SHARES[1].to_json()["principal"] == "https://issuer|user"
    assert len({share.id for share in SHARES}) == len(SHARES)


def test_parse_share() -> None:
    assert parse_connector_share({"principal": " p1 "}) == ConnectorShare("p1", frozenset({USE}))
    assert parse_connector_share({"group": "g", "permissions": ["edit", "use"]}) == ConnectorShare(
        "group:g", frozenset({EDIT, USE})
    )


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ([], ""),
        ({"principal": "p", "extra": 1}, ""),
        ({"principal": "p", "group": "g"}, "/principal"),
        ({"principal": " "}, "/principal"),
        ({"group": 7}, "/principal"),
        ({"principal": "p", "permissions": []}, "/permissions"),
        ({"principal": "p", "permissions": ["manage"]}, "/permissions"),
        ({"principal": "p", "permissions": "edit"}, "/permissions"),
    ],
)
def test_parse_share_refuses(body: object, pointer: str) -> None:
    with pytest.raises(ConnectorInvalid) as caught:
        parse_connector_share(body)
    assert [e["pointer"] for e in caught.value.errors] == [pointer]


def test_with_share_replaces_a_grantees_share_and_refuses_the_owner() -> None:
    updated = with_connector_share(SHARES, ConnectorShare("https://issuer|user", frozenset({EDIT})), OWNER)
    assert len(updated) == len(SHARES)
    assert ConnectorShare("https://issuer|user", frozenset({EDIT})) in updated
    with pytest.raises(ConnectorInvalid):
        with_connector_share(SHARES, ConnectorShare(OWNER, frozenset({USE})), OWNER)
    many = tuple(ConnectorShare(f"p{i}", frozenset({USE})) for i in range(100))
    with pytest.raises(ConnectorInvalid):
        with_connector_share(many, ConnectorShare("one-more", frozenset({USE})), OWNER)


def _api_key(**definition: object) -> object:
    return build_example(
        make_api_definition(**{"securityDefinitions": API_KEY_HEADER, **definition}),
        make_api_properties({"api_key": make_parameter("securestring"), "username": make_parameter()}),
    )


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({}, []),
        ({"info": {"title": "Renamed", "version": "2"}}, []),
        ({"paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}}, []),
        ({"host": "attacker.example.com"}, ["backend"]),
        ({"host": "api.example.com:8443"}, ["backend"]),
        ({"schemes": ["http"]}, ["backend"]),
        ({"basePath": "/v2"}, ["backend"]),
        ({"securityDefinitions": {"k": {"type": "apiKey", "in": "query", "name": "X-Api-Key"}}}, ["authentication"]),
        ({"securityDefinitions": {"k": {"type": "apiKey", "in": "header", "name": "X-Other"}}}, ["authentication"]),
        (
            {"host": "attacker.example.com", "securityDefinitions": {"b": {"type": "basic"}}},
            ["backend", "authentication"],
        ),
    ],
)
def test_credential_route_changes(changed: dict, expected: list[str]) -> None:
    assert credential_route_changes(_api_key(), _api_key(**changed)) == expected


def test_new_oauth_endpoints_are_a_credential_route_change() -> None:
    def oauth(token_url: str) -> object:
        settings = {
            "identityProvider": "oauth2",
            "clientId": "c",
            "customParameters": {"tokenUrl": {"value": token_url}},
        }
        properties = make_api_properties({"token": {"type": "oauthSetting", "oAuthSettings": settings}})
        return build_example(make_api_definition(), properties)

    assert credential_route_changes(oauth("https://idp/token"), oauth("https://idp/token")) == []
    assert credential_route_changes(oauth("https://idp/token"), oauth("https://evil/token")) == ["oAuthSettings"]
