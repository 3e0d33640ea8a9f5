"""oauth_config_for: OAuthConfig from a connector's oAuthSettings, provider templates, overrides, records."""

import json
import re
from urllib.parse import urlsplit

import pytest

from shared.connectors import ConnectorError, build_connector, decode_document
from shared.oauth import (
    PROVIDERS,
    OAuthConfig,
    OAuthConfigError,
    config_from_record,
    config_to_record,
    oauth_config_for,
)
from tests.support.connector_files import (
    CURATED_CONNECTORS,
    build_example,
    corpus_root,
    iter_real_connectors,
    make_api_properties,
    make_parameter,
    read_connector_files,
    whole_corpus,
)


def oauth_connector(settings, **parameters):
    """A connector whose oauthSetting parameter has these oAuthSettings; keyword args add connection parameters."""
    declared = {"token": {"type": "oauthSetting", "oAuthSettings": settings}}
    declared.update({name.replace("__", ":"): make_parameter(kind) for name, kind in parameters.items()})
    return build_example(properties=make_api_properties(declared))


def oauth2_settings(**custom):
    custom = custom or {
        "authorizationUrl": {"value": "https://idp.example.com/authorize"},
        "tokenUrl": {"value": "https://idp.example.com/token"},
    }
    return {"identityProvider": "oauth2", "clientId": "client-1", "scopes": ["read write", "admin"], **_custom(custom)}


A = {"value": "https://idp.example.com/a"}
T = {"value": "https://idp.example.com/t"}


def _custom(custom):
    return {"customParameters": custom}


# -- providers.json ------------------------------------------------------------------------------


def test_every_provider_template_is_made_of_config_fields():
    fields = set(OAuthConfig.__dataclass_fields__)
    for name, template in PROVIDERS.items():
        assert set(template) - fields <= {"title", "notes"}, name
        assert template["protocol"] in ("oauth2", "oauth2generic", "aad"), name
        for key in ("authorization_url", "token_url", "revocation_url"):
            if key in template:
                assert template[key].startswith(("https://", "{LoginUri}/")), (name, key)


def test_the_promised_providers_are_there():
    assert {"aad", "microsoftaccount", "github", "google", "salesforce", "facebook", "dropbox", "slack"} <= set(
        PROVIDERS
    )


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        (
            "github",
            {
                "authorization_url": "https://github.com/login/oauth/authorize",
                "token_url": "https://github.com/login/oauth/access_token",
                "refresh_url": "https://github.com/login/oauth/access_token",
                "revocation_url": "https://api.github.com/applications/client-1/grant",
                "revocation_style": "github",
                "accept_json": True,
            },
        ),
        (
            "google",
            {
                "authorization_url": "https://accounts.google.com/o/oauth2/v2/auth",
                "token_url": "https://oauth2.googleapis.com/token",
                "revocation_url": "https://oauth2.googleapis.com/revoke",
                "authorize_params": {"access_type": "offline", "prompt": "consent"},
            },
        ),
        (
            "salesforce",
            {
                "authorization_url": "https://login.salesforce.com/services/oauth2/authorize",
                "token_url": "https://login.salesforce.com/services/oauth2/token",
                "revocation_url": "https://login.salesforce.com/services/oauth2/revoke",
                "backend_host_field": "instance_url",
            },
        ),
        (
            "facebook",
            {
                "authorization_url": "https://www.facebook.com/v21.0/dialog/oauth",
                "token_url": "https://graph.facebook.com/v21.0/oauth/access_token",
                "issues_refresh_tokens": False,
                "scope_delimiter": ",",
                "revocation_url": None,
            },
        ),
        (
            "dropbox",
            {
                "authorization_url": "https://www.dropbox.com/oauth2/authorize",
                "token_url": "https://api.dropboxapi.com/oauth2/token",
                "authorize_params": {"token_access_type": "offline"},
                "revocation_url": "https://api.dropboxapi.com/2/auth/token/revoke",
                "revocation_style": "bearer",
            },
        ),
        (
            "slack",
            {
                "authorization_url": "https://slack.com/oauth/v2/authorize",
                "token_url": "https://slack.com/api/oauth.v2.access",
                "nested_token_field": "authed_user",
                "success_field": "ok",
                "scope_delimiter": ",",
            },
        ),
        (
            "aad",
            {
                "protocol": "aad",
                "uses_msal": True,
                "tenant_id": "common",
                "authorization_url": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                "token_url": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                "authority": "https://login.microsoftonline.com/common",
                "revocation_url": None,
            },
        ),
        (
            "microsoftaccount",
            {
                "protocol": "aad",
                "tenant_id": "consumers",
                "authorization_url": "https://login.microsoftonline.com/consumers/oauth2/v2.0/authorize",
            },
        ),
    ],
)
def test_a_built_in_provider_needs_only_client_id_and_scopes(provider, expected):
    config = oauth_connector({"identityProvider": provider, "clientId": "client-1", "scopes": ["user.read"]})
    config = oauth_config_for(config)
    assert config.identity_provider == provider
    assert config.client_id == "client-1"
    assert config.scopes == ("user.read",)
    for name, value in expected.items():
        assert getattr(config, name) == value, name


def test_template_dicts_are_not_shared_between_configs():
    first = oauth_config_for(oauth_connector({"identityProvider": "google", "clientId": "a", "scopes": ["x"]}))
    first.authorize_params["prompt"] = "none"
    second = oauth_config_for(oauth_connector({"identityProvider": "google", "clientId": "b", "scopes": ["x"]}))
    assert second.authorize_params["prompt"] == "consent"


# -- plain oauth2 --------------------------------------------------------------------------------


def test_oauth2_endpoints_come_from_custom_parameters():
    config = oauth_config_for(oauth_connector(oauth2_settings()))
    assert (config.protocol, config.grant_type, config.pkce) == ("oauth2", "authorization_code", True)
    assert config.authorization_url == "https://idp.example.com/authorize"
    assert config.token_url == config.refresh_url == "https://idp.example.com/token"
    assert config.scopes == ("read", "write", "admin")  # paconn entries holding several scopes are split
    assert config.revocation_url is None
    assert config.token_auth == "client_secret_post"


def test_custom_parameter_names_are_case_insensitive_and_values_may_be_bare():
    settings = oauth2_settings(
        AuthorizationUrl={"value": "https://idp.example.com/a"},
        TOKENURL="https://idp.example.com/t",
        refreshUrl={"value": "https://idp.example.com/r"},
        revocationUrl={"value": "https://idp.example.com/revoke"},
    )
    config = oauth_config_for(oauth_connector(settings))
    assert (config.authorization_url, config.token_url, config.refresh_url, config.revocation_url) == (
        "https://idp.example.com/a",
        "https://idp.example.com/t",
        "https://idp.example.com/r",
        "https://idp.example.com/revoke",
    )


def test_client_credentials_needs_no_authorization_url():
    settings = oauth2_settings(
        tokenUrl={"value": "https://idp.example.com/t"}, grantType={"value": "client_credentials"}
    )
    config = oauth_config_for(oauth_connector(settings))
    assert (config.grant_type, config.authorization_url) == ("client_credentials", "")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"clientId": "x"}, "identityProvider is missing"),
        ({"identityProvider": "myspace", "clientId": "x"}, "identityProvider 'myspace' is not supported"),
        ({"identityProvider": "github"}, "clientId is missing"),
        ({"identityProvider": "github", "clientId": "{{ client id }}"}, "clientId '{{ client id }}' is a placeholder"),
        ({"identityProvider": "github", "clientId": "[[DUMMY]]"}, "is a placeholder"),
        ({"identityProvider": "github", "clientId": "<Enter your client ID>"}, "is a placeholder"),
        (oauth2_settings(authorizationUrl=A), "customParameters.tokenUrl is missing"),
        (oauth2_settings(tokenUrl=T), "customParameters.authorizationUrl is missing"),
        (
            oauth2_settings(authorizationUrl={"value": "http://idp.example.com/a"}, tokenUrl=T),
            "customParameters.authorizationUrl 'http://idp.example.com/a' must be an absolute https URL",
        ),
        (
            oauth2_settings(authorizationUrl={"value": "https://user@idp.example.com/a"}, tokenUrl=T),
            "must be an absolute https URL without user info",
        ),
        (oauth2_settings(authorizationUrl={"value": "/relative"}, tokenUrl=T), "must be an absolute"),
        (oauth2_settings(tokenUrl=T, grantType={"value": "password"}), "grantType must be one of"),
        ({"identityProvider": "aad", "clientId": "x", "scopes": ["openid"]}, "customParameters.resourceUri is missing"),
        (
            {
                "identityProvider": "aad",
                "clientId": "x",
                "customParameters": {"resourceUri": {"value": "<resource-id>"}},
            },
            "customParameters.resourceUri '<resource-id>' is a placeholder",
        ),
    ],
)
def test_unusable_settings_name_the_field(settings, message):
    with pytest.raises(OAuthConfigError) as caught:
        oauth_config_for(oauth_connector(settings))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_connector_without_oauth_settings_is_refused():
    with pytest.raises(OAuthConfigError, match="no oAuthSettings"):
        oauth_config_for(build_example())


def test_http_is_allowed_on_loopback_only():
    settings = oauth2_settings(
        authorizationUrl={"value": "http://127.0.0.1:8080/a"}, tokenUrl={"value": "http://localhost:8080/t"}
    )
    assert oauth_config_for(oauth_connector(settings)).token_url == "http://localhost:8080/t"


# -- overrides ---------------------------------------------------------------------------------


GITHUB_ENDPOINT_OVERRIDES = {
    "TOKENURL": "http://127.0.0.1:9/token",
    "authorizationUrl": "http://127.0.0.1:9/authorize",
    "revocationUrl": "http://127.0.0.1:9/applications/real-client/grant",
}


def test_overrides_replace_client_id_scopes_and_endpoints_for_a_connection_with_its_own_client_secret():
    config = oauth_config_for(
        oauth_connector(
            {"identityProvider": "github", "clientId": "[[DUMMY]]", "scopes": ["repo"]},
            token__ClientSecret="securestring",
        ),
        {"token:ClientId": "real-client", "scopes": "read:user user:email", **GITHUB_ENDPOINT_OVERRIDES},
    )
    assert config.client_id == "real-client"
    assert config.scopes == ("read:user", "user:email")
    assert (config.token_url, config.refresh_url) == ("http://127.0.0.1:9/token", "http://127.0.0.1:9/token")
    assert config.revocation_url == "http://127.0.0.1:9/applications/real-client/grant"
    assert config.accept_json  # the template's quirks stay


@pytest.mark.parametrize("name", sorted(GITHUB_ENDPOINT_OVERRIDES))
def test_a_connection_cannot_move_an_endpoint_that_gets_the_connectors_client_secret(name):
    connector = oauth_connector({"identityProvider": "github", "clientId": "client-1", "scopes": ["repo"]})
    with pytest.raises(
        OAuthConfigError, match=f"(?i)'token:{name}' would choose the host the connector's client secret"
    ):
        oauth_config_for(connector, {name: GITHUB_ENDPOINT_OVERRIDES[name]})


def test_a_connection_may_change_an_endpoint_on_the_makers_host():
    connector = oauth_connector(oauth2_settings())
    config = oauth_config_for(connector, {"tokenUrl": "https://IDP.example.com/other-token"})
    assert config.token_url == "https://IDP.example.com/other-token"
    with pytest.raises(OAuthConfigError, match="would choose the host"):
        oauth_config_for(connector, {"tokenUrl": "https://idp.example.com:8443/token"})


def test_a_placeholder_client_id_points_at_the_per_connection_parameter():
    connector = oauth_connector({"identityProvider": "github", "clientId": "[[DUMMY]]"}, token__ClientId="string")
    with pytest.raises(OAuthConfigError, match="each connection gives it as the parameter 'token:ClientId'"):
        oauth_config_for(connector)
    assert oauth_config_for(connector, {"token:ClientId": "abc"}).client_id == "abc"


def test_secrets_in_overrides_never_reach_the_config():
    connector = oauth_connector(
        {
            "identityProvider": "oauth2generic",
            "clientId": "c",
            "scopes": ["s"],
            "customParameters": {
                "authorizationUrlTemplate": {"value": "https://idp.example.com/a"},
                "tokenUrlTemplate": {"value": "https://idp.example.com/t"},
            },
        },
        token__ClientSecret="securestring",
        token__ApiPassword="securestring",
    )
    config = oauth_config_for(
        connector, {"token:ClientSecret": "s3cr3t-value", "token:ApiPassword": "pa55-value", "token:Other": "x"}
    )
    text = json.dumps(config_to_record(config))
    assert "s3cr3t-value" not in text and "pa55-value" not in text
    assert config.template_values == {"other": "x"}
    assert config.client_secret_parameter == "token:ClientSecret"


# -- Entra ID ------------------------------------------------------------------------------------


def aad_settings(**custom):
    return {
        "identityProvider": "aad",
        "clientId": "6145b6dc-1ce4-43b1-a4b5-a19b8440096a",
        "scopes": [],
        **_custom(custom),
    }


def test_aad_resource_becomes_a_default_scope_and_login_uri_and_tenant_shape_the_endpoints():
    config = oauth_config_for(
        oauth_connector(
            aad_settings(
                loginUri={"value": "https://login.windows.net"},
                tenantId={"value": "contoso.onmicrosoft.com"},
                resourceUri={"value": "https://graph.microsoft.com/"},
            )
        )
    )
    assert config.scopes == ("https://graph.microsoft.com/.default",)
    assert config.authority == "https://login.windows.net/contoso.onmicrosoft.com"
    assert config.authorization_url == "https://login.windows.net/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    assert (
        config.token_url == config.refresh_url == "https://login.windows.net/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert config.uses_msal


def test_aad_resource_from_properties_and_scopes_without_reserved_ones():
    settings = aad_settings()
    settings["properties"] = {"AzureActiveDirectoryResourceId": "api://backend"}
    assert oauth_config_for(oauth_connector(settings)).scopes == ("api://backend/.default",)
    settings = {**aad_settings(), "scopes": ["openid", "offline_access", "User.Read"]}
    assert oauth_config_for(oauth_connector(settings)).scopes == ("User.Read",)


def test_aad_v1_sends_the_resource_and_skips_msal():
    config = oauth_config_for(
        oauth_connector(aad_settings(resourceUri={"value": "https://api.example.com"}, aadVersion={"value": "v1"}))
    )
    assert not config.uses_msal
    assert config.authorization_url == "https://login.microsoftonline.com/common/oauth2/authorize"
    assert config.token_url == "https://login.microsoftonline.com/common/oauth2/token"
    assert config.authorize_params == config.token_params == {"resource": "https://api.example.com"}


def test_aadcertificate_authenticates_with_a_private_key_jwt_and_oidc_authority_is_kept():
    settings = {
        **aad_settings(resourceUri={"value": "api://x"}, oidcAuthority={"value": "https://127.0.0.1:8443/tenant-1"}),
        "identityProvider": "aadcertificate",
    }
    config = oauth_config_for(oauth_connector(settings))
    assert (config.protocol, config.token_auth) == ("aad", "private_key_jwt")
    assert config.oidc_authority == "https://127.0.0.1:8443/tenant-1"


# -- oauth2generic ------------------------------------------------------------------------------


def generic_settings(scopes=("read", "write"), **custom):
    return {"identityProvider": "oauth2generic", "clientId": "client-1", "scopes": list(scopes), **_custom(custom)}


def test_generic_url_templates_take_connection_values_and_message_templates_are_kept():
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://{ReferooHost}/oauth/authorize"},
        authorizationUrlQueryStringTemplate={"value": "?response_type=code&client_id={ClientId}&state={State}"},
        tokenUrlTemplate={"value": "https://{referoohost}/oauth/token"},
        tokenBodyTemplate={"value": "grant_type=authorization_code&code={Code}&client_secret={ClientSecret}"},
    )
    # The maker lists the hosts a connection may pick (Referoo's production and sandbox).
    hosts = {"allowedValues": [{"value": "api.referoo.com.au"}, {"value": "api.sandbox.referoo.com.au"}]}
    connector = build_example(
        properties=make_api_properties(
            {
                "token": {"type": "oauthSetting", "oAuthSettings": settings},
                "token:ReferooHost": make_parameter(constraints=hosts),
            }
        )
    )
    config = oauth_config_for(connector, {"token:ReferooHost": "api.sandbox.referoo.com.au"})
    assert config.authorization_url == "https://api.sandbox.referoo.com.au/oauth/authorize"
    assert config.token_url == config.refresh_url == "https://api.sandbox.referoo.com.au/oauth/token"
    assert config.templates == {
        "authorizationQuery": "?response_type=code&client_id={ClientId}&state={State}",
        "tokenBody": "grant_type=authorization_code&code={Code}&client_secret={ClientSecret}",
    }
    assert config.template_values == {"referoohost": "api.sandbox.referoo.com.au"}
    assert config.pkce is False  # the templates build the messages: no room for PKCE
    assert config.scope_delimiter == ","  # Power Platform's default for oauth2generic


def test_generic_without_message_templates_uses_the_standard_messages_with_pkce():
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://idp.example.com/a"},
        tokenUrlTemplate={"value": "https://idp.example.com/t"},
        scopeListDelimiter={"value": " "},
    )
    config = oauth_config_for(oauth_connector(settings))
    assert (config.pkce, config.templates, config.scope_delimiter) == (True, {}, " ")


def test_generic_missing_value_names_the_connection_parameter():
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://{HostnamePrefix}.iobeya.com/s/oauth/authorize"},
        tokenUrlTemplate={"value": "https://x.iobeya.com/s/oauth/token"},
    )
    with pytest.raises(OAuthConfigError, match=r"needs a value for \{HostnamePrefix\}.*'token:HostnamePrefix'"):
        oauth_config_for(oauth_connector(settings))


@pytest.mark.parametrize(
    "value",
    ["evil.example@idp.example.com", "evil.example/x", "evil.example?", "evil.example#", "evil.example\\x", "a b"],
)
def test_generic_value_that_would_move_the_host_is_refused(value):
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://{Host}/authorize"}, tokenUrlTemplate={"value": "https://{Host}/t"}
    )
    connector = oauth_connector(settings, token__ClientSecret="securestring")  # may choose a host, not break one
    with pytest.raises(OAuthConfigError, match=r"the value for \{Host\} must be a host name or IP address"):
        oauth_config_for(connector, {"Host": value})


def test_a_connection_chosen_host_needs_the_connections_own_client_secret():
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://{Host}/authorize"}, tokenUrlTemplate={"value": "https://{Host}/t"}
    )
    with pytest.raises(OAuthConfigError, match=r"'token:Host' would choose the host the connector's client secret"):
        oauth_config_for(oauth_connector(settings), {"token:Host": "idp.example.com:8443"})
    connector = oauth_connector(settings, token__ClientSecret="securestring")
    config = oauth_config_for(connector, {"token:Host": "idp.example.com:8443"})
    assert config.token_url == "https://idp.example.com:8443/t"


SUBDOMAIN = generic_settings(
    authorizationUrlTemplate={"value": "https://{Subdomain}.example.com/oauth/authorize"},
    tokenUrlTemplate={"value": "https://{Subdomain}.example.com/oauth/token"},
)


@pytest.mark.parametrize(
    "value",
    [
        "evil.com/",
        "evil.com?",
        "evil.com#",
        "evil.com:443/x?",
        "127.0.0.1:8080/x?",
        "a.b",
        "@evil.com",
        "-x",
        "x" * 64,
        "é",
    ],
)
def test_a_subdomain_value_is_one_dns_label(value):
    with pytest.raises(OAuthConfigError, match=r"the value for \{Subdomain\} must be one DNS label"):
        oauth_config_for(oauth_connector(SUBDOMAIN), {"token:Subdomain": value})


def test_a_subdomain_value_fills_its_label():
    config = oauth_config_for(oauth_connector(SUBDOMAIN), {"token:Subdomain": "contoso-eu1"})
    assert config.token_url == "https://contoso-eu1.example.com/oauth/token"


def test_generic_templates_may_not_name_other_secrets():
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://idp.example.com/a"},
        tokenUrlTemplate={"value": "https://idp.example.com/t"},
        tokenBodyTemplate={"value": "client_id={AppUserId}&client_secret={AppUserSecret}&code={Code}"},
    )
    connector = oauth_connector(settings, token__AppUserId="string", token__AppUserSecret="securestring")
    with pytest.raises(OAuthConfigError, match=r"names the secret \{AppUserSecret\}"):
        oauth_config_for(connector, {"token:AppUserId": "u", "token:AppUserSecret": "p"})


def test_generic_scopes_may_hold_placeholders():
    settings = generic_settings(
        scopes=["{Scope}"],
        authorizationUrlTemplate={"value": "{AuthorizationUrl}"},
        tokenUrlTemplate={"value": "{TokenUrl}"},
    )
    overrides = {"token:Scope": "user_impersonation offline_access", "token:AuthorizationUrl": "https://i.example/a"}
    connector = oauth_connector(settings, token__ClientSecret="securestring")  # so the connection picks the URLs
    config = oauth_config_for(connector, {**overrides, "token:TokenUrl": "https://i.example/t"})
    assert config.scopes == ("user_impersonation", "offline_access")
    assert (config.authorization_url, config.token_url) == ("https://i.example/a", "https://i.example/t")


# -- records -------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(set(PROVIDERS) - {"oauth2", "oauth2generic"}))
def test_config_records_round_trip_through_json(provider):
    settings = {"identityProvider": provider, "clientId": "client-1", "scopes": ["a", "b"]}
    config = oauth_config_for(oauth_connector(settings))
    assert config_from_record(json.loads(json.dumps(config_to_record(config)))) == config


def test_generic_config_record_round_trips():
    settings = generic_settings(
        authorizationUrlTemplate={"value": "https://{H}/a"},
        authorizationUrlQueryStringTemplate={"value": "?client_id={ClientId}&h={H}"},
        tokenUrlTemplate={"value": "https://{H}/t"},
    )
    config = oauth_config_for(oauth_connector(settings, token__ClientSecret="securestring"), {"H": "idp.example.com"})
    assert config_from_record(json.loads(json.dumps(config_to_record(config)))) == config


@pytest.mark.parametrize(
    "record", [{"recordVersion": 99}, {"recordVersion": 1, "surprise": True}, {"recordVersion": 1, "client_id": "x"}]
)
def test_malformed_records_are_value_errors(record):
    with pytest.raises(ValueError, match="OAuth config record"):
        config_from_record(record)


# -- the real connectors -------------------------------------------------------------------------

# Usable as they are, without per-connection values.
REAL_USABLE_AS_IS = {
    "AtBot", "Blackbaud Raiser's Edge NXT Constituents", "Eduframe", "HiveCPQ - Product configurator", "Luware Nimbus",
    "PartnerCenterReferrals", "Pushcut", "RamQuest Actions - UAT", "Rencore Governance", "Seismic Livedoc",
    "ShareEffect", "SignNow", "exghts", "Microsoft Acronyms", "OneNote (Personal)",
}  # fmt: skip
# Not usable without per-connection values, and why. The other 26 ship a placeholder client id ("[[DUMMY]]", ...);
# the message says so, and names the token:ClientId connection parameter where the connector declares one.
REAL_OTHER_REASONS = {
    "Cascade Strategy": "clientId is missing",
    "OutlookTasks": "clientId is missing",
    "Cognite Data Fusion": "scopes need a value for {Scope}: give it as the connection parameter 'token:Scope'",
    "Referoo": "is a placeholder; give the real value; each connection gives it as the parameter 'token:ClientId'",
}
PLACEHOLDER_CLIENT_ID = re.compile(
    r"^clientId '.+' is a placeholder; give the real value"
    r"(; each connection gives it as the parameter 'token:clientId')?$",
    re.IGNORECASE,
)

# With a real client id and a value for every non-secret "token:" connection parameter.
REAL_WITH_OVERRIDES = {
    "WorkSpan": "the tokenBody template names the secret {AppUserSecret}",
    "timeghost": "customParameters.resourceUri '<<Please add your clientID here>>' is a placeholder",
}


def _real_oauth_connectors(root):
    for name, directory in iter_real_connectors(root):
        definition, properties = read_connector_files(directory)
        try:
            connector = build_connector(
                "real", decode_document(definition, "a.json"), decode_document(properties, "b.json")
            )
        except ConnectorError:
            continue  # the three broken files; test_real_connectors covers them
        if connector.auth.kind == "oauth2":
            yield name.split("/", 1)[1], connector


def _connection_values(connector):
    """What a person creating a connection would give: a client id, and each non-secret token: parameter."""

    def value(parameter):
        if parameter.allowed_values:
            return parameter.allowed_values[0]
        return "https://login.example.com/x" if parameter.name.lower().endswith("url") else "value-1"

    declared = [p for p in connector.parameters if p.name.lower().startswith("token:") and not p.secret]
    return {**{p.name: value(p) for p in declared}, "clientId": "client-1"}


@whole_corpus
def test_the_corpus_has_45_oauth_connectors():
    assert len(dict(_real_oauth_connectors(corpus_root()))) == 45  # 22 oauth2 + 12 aad + 10 oauth2generic + 1 aadcert


@pytest.mark.parametrize("source", ["curated", pytest.param("corpus", marks=whole_corpus)])
def test_every_real_oauth_connector_builds_or_says_why(source):
    connectors = dict(_real_oauth_connectors(CURATED_CONNECTORS if source == "curated" else corpus_root()))
    assert REAL_USABLE_AS_IS | set(REAL_OTHER_REASONS) | set(REAL_WITH_OVERRIDES) <= set(connectors)
    for name, connector in connectors.items():
        if name in REAL_USABLE_AS_IS:
            config = oauth_config_for(connector)
            assert config_from_record(config_to_record(config)) == config, name
        else:
            with pytest.raises(OAuthConfigError) as caught:
                oauth_config_for(connector)
            reason = str(caught.value)
            assert (
                REAL_OTHER_REASONS[name] in reason
                if name in REAL_OTHER_REASONS
                else PLACEHOLDER_CLIENT_ID.match(reason)
            )

        overrides = _connection_values(connector)
        if name in REAL_WITH_OVERRIDES:
            with pytest.raises(OAuthConfigError, match=re.escape(REAL_WITH_OVERRIDES[name])):
                oauth_config_for(connector, overrides)
        else:
            config = oauth_config_for(connector, overrides)
            assert config.client_id == "client-1", name
            assert urlsplit(config.token_url).scheme == "https", name
