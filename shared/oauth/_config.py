"""Building a connector's OAuthConfig (_config_model.py). Pure.

Built from the connector's oAuthSettings (paconn's shape) over a provider template from
providers.json, with optional per-connection overrides on top.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import shared.oauth._generic as _generic
from shared.connectors import Connector
from shared.oauth._config_model import CONFIG_FIELDS, OAuthConfig, OAuthConfigError

PROVIDERS: dict[str, dict[str, Any]] = {
    name: entry
    for name, entry in json.loads((Path(__file__).with_name("providers.json")).read_text("utf-8")).items()
    if not name.startswith("_")
}
GRANT_TYPES = frozenset({"authorization_code", "client_credentials"})
TOKEN_AUTH_METHODS = frozenset({"client_secret_post", "client_secret_basic", "private_key_jwt"})
AAD_RESERVED_SCOPES = ("openid", "profile", "offline_access")  # msal adds these itself and refuses them as input
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_PLACEHOLDER_LOOK = re.compile(r"[\s<>{}\[\]]")  # "{{ client id }}", "<Enter your client ID>", "[[DUMMY]]"
_NOT_TEMPLATE_VALUES = frozenset({"clientsecret", "clientid", "scopes"})


def _text(value: Any) -> str | None:
    """A setting's text: {"value": x} unwrapped, None for absent or empty."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if text != "" else None


def _flag(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OAuthConfigError(f"{name} must be true or false")


def _real_value(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise OAuthConfigError(f"{name} is missing")
    if _PLACEHOLDER_LOOK.search(value):
        raise OAuthConfigError(f"{name} {value[:60]!r} is a placeholder; give the real value")
    return value


def _checked_url(name: str, url: str | None) -> str:
    if url is None:
        raise OAuthConfigError(f"{name} is missing")
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"[:120]
    if _generic.placeholders(url):
        raise OAuthConfigError(f"{name} {shown!r} still contains a {{placeholder}}")
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
    if not (secure and parts.hostname) or parts.username is not None or parts.fragment:
        raise OAuthConfigError(f"{name} {shown!r} must be an absolute https URL without user info or fragment")
    return url


def _scope_list(value: Any) -> list[str]:
    """Scopes from a list of strings or a delimited string; entries holding several are split on whitespace."""
    entries = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    return [scope for entry in entries if isinstance(entry, str) for scope in entry.split()]


def _origin(url: str | None) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a concrete URL; None for a template or anything without a host."""
    if not url or _generic.placeholders(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    return (parts.scheme.lower(), parts.hostname, port) if parts.hostname else None


def _host_choice_refused(name: str, parameter: str) -> OAuthConfigError:
    return OAuthConfigError(
        f"{name}: the connection parameter 'token:{parameter}' would choose the host the connector's client secret"
        " is sent to; only the connector's maker sets that host (or the connector asks each connection for its"
        " own client secret, 'token:ClientSecret')"
    )


class _Settings:
    """Lookup over overrides > customParameters > template, by case-insensitive name.

    `overrides` are the connection's values. A connection that brings its own client secret
    (`own_client_secret`) may point its endpoints anywhere the address guard allows; otherwise the
    connector's secret would go there, so its endpoints' hosts stay the maker's.
    """

    def __init__(self, connector: Connector, template: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> None:
        settings = connector.oauth_settings or {}
        custom = settings.get("customParameters")
        self.custom = {str(k).lower(): _text(v) for k, v in (custom if isinstance(custom, Mapping) else {}).items()}
        self.properties = settings.get("properties") if isinstance(settings.get("properties"), Mapping) else {}
        self.raw = settings
        self.template = template
        self.overrides: dict[str, Any] = {}
        self.secret_names: set[str] = set()
        for key, value in (overrides or {}).items():
            name = str(key).lower().removeprefix("token:")
            parameter = connector.parameter(f"token:{name}") or connector.parameter(str(key))
            if name == "clientsecret" or (parameter is not None and parameter.secret):
                self.secret_names.add(name)  # secrets never enter a config
            elif name == "scopes":
                self.overrides[name] = value
            elif _text(value) is not None:
                self.overrides[name] = _text(value)
        self.secret_names |= {
            p.name.lower().removeprefix("token:") for p in connector.parameters if p.secret and p.type != "oauthsetting"
        }
        self.own_client_secret = any(p.secret and p.name.lower() == "token:clientsecret" for p in connector.parameters)
        # A value the maker listed (allowedValues) is the maker's choice, wherever it goes.
        by_name = {p.name.lower().removeprefix("token:"): p for p in connector.parameters}
        self.maker_listed = {
            name
            for name, value in self.overrides.items()
            if name in by_name and by_name[name].allowed_values and str(value) in by_name[name].allowed_values
        }

    def get(self, name: str, template_key: str | None = None) -> str | None:
        """overrides > customParameters > the template's `template_key` (as text)."""
        key = name.lower()
        value = self.overrides.get(key) or self.custom.get(key)
        if value is None and template_key is not None:
            value = _text(self.template.get(template_key))
        return value

    def endpoint(self, name: str, template_key: str | None = None) -> str | None:
        """A URL setting (tokenUrl, loginUri, ...): the connection's value only where it keeps the maker's host."""
        key = name.lower()
        maker = self.custom.get(key)
        if maker is None and template_key is not None:
            maker = _text(self.template.get(template_key))
        chosen = self.overrides.get(key)
        if chosen is None:
            return maker
        if self._may_not_choose_host(key) and (_origin(chosen) is None or _origin(chosen) != _origin(maker)):
            raise _host_choice_refused(name, name)
        return str(chosen)

    def _may_not_choose_host(self, key: str) -> bool:
        return not self.own_client_secret and key in self.chosen_names()

    def chosen_names(self) -> frozenset[str]:
        """Values the connection chose freely (not from the maker's allowedValues)."""
        return frozenset(self.overrides) - self.maker_listed

    def template_values(self) -> dict[str, str]:
        """Values for oauth2generic placeholders: customParameters that aren't templates, then overrides."""
        ignored = set(_generic.MESSAGE_TEMPLATES) | set(_generic.URL_TEMPLATES) | {"scopelistdelimiter"}
        values = {k: v for k, v in self.custom.items() if v is not None and k not in ignored}
        values.update({k: v for k, v in self.overrides.items() if isinstance(v, str)})
        return {k: v for k, v in values.items() if k not in _NOT_TEMPLATE_VALUES}


def _fill(
    name: str,
    url: str | None,
    values: Mapping[str, str],
    chosen: frozenset[str] = frozenset(),
    own_client_secret: bool = False,
) -> str | None:
    """The URL template with each value checked for its position. Values in `chosen` (the connection's own)
    get the strict checks, and may decide the host only for a connection with its own client secret."""
    if url is None:
        return None
    try:
        filled, host_deciding = _generic.render_url(url, values, set(values) - chosen)
    except _generic.MissingPlaceholder as missing:
        raise OAuthConfigError(
            f"{name} needs a value for {{{missing.name}}}: give it as the connection parameter 'token:{missing.name}'"
        ) from None
    except _generic.UnsafeValue as unsafe:
        raise OAuthConfigError(f"{name}: {unsafe}, so it can't move the request") from None
    for placeholder in _generic.placeholders(url):
        if placeholder.lower() in host_deciding & chosen and not own_client_secret:
            raise _host_choice_refused(name, placeholder)
    return filled


def _aad_fields(s: _Settings, client_id: str, scopes: list[str]) -> dict[str, Any]:
    login_uri = _checked_url("customParameters.loginUri", s.endpoint("loginUri", "login_uri")).rstrip("/")
    tenant = _real_value("customParameters.tenantId", s.get("tenantId", "tenant_id"))
    resource = s.get("resourceUri") or _text(s.properties.get("AzureActiveDirectoryResourceId"))
    version = s.get("aadVersion", "aad_version") or "v2"
    if version not in ("v1", "v2"):
        raise OAuthConfigError("aadVersion must be v1 or v2")
    values = {"clientid": client_id, "tenantid": tenant, "loginuri": login_uri}
    chosen = s.chosen_names() - {"loginuri"}  # endpoint() kept a chosen loginUri on the maker's host
    urls = {
        key: _fill(key, _text(s.template.get(key)), values, chosen, s.own_client_secret)
        for key in ("authorization_url", "token_url")
    }
    if version == "v1":  # v1 endpoints are the v2 ones without "/v2.0"
        urls = {key: url.replace("/oauth2/v2.0/", "/oauth2/") if url else url for key, url in urls.items()}
    fields: dict[str, Any] = {
        "login_uri": login_uri,
        "tenant_id": tenant,
        "aad_version": version,
        "oidc_authority": s.endpoint("oidcAuthority"),
        "authorization_url": s.endpoint("authorizationUrl") or urls["authorization_url"],
        "token_url": s.endpoint("tokenUrl") or urls["token_url"],
    }
    given = [scope for scope in scopes if scope.lower() not in AAD_RESERVED_SCOPES]
    if resource is not None:
        resource = _real_value("customParameters.resourceUri", resource)
        fields["resource_uri"] = resource
    if version == "v1":
        if resource is None:
            raise OAuthConfigError("customParameters.resourceUri is missing (aad v1 needs the resource)")
        fields["authorize_params"] = {"resource": resource}
        fields["token_params"] = {"resource": resource}
        fields["scopes"] = tuple(given)
    elif resource is not None:  # v1's resource, in v2 terms: all its configured permissions
        fields["scopes"] = (f"{resource.rstrip('/')}/.default",)
    elif given:
        fields["scopes"] = tuple(given)
    else:
        raise OAuthConfigError("customParameters.resourceUri is missing, and no scopes are given")
    return fields


def _oauth2_fields(s: _Settings, client_id: str) -> dict[str, Any]:
    values = {"clientid": client_id}
    names = {"authorization_url": "authorizationUrl", "token_url": "tokenUrl", "refresh_url": "refreshUrl"}
    names["revocation_url"] = "revocationUrl"
    chosen = s.chosen_names()
    return {
        target: s.endpoint(name, target) if s.custom.get(name.lower()) or s.overrides.get(name.lower()) else None
        for target, name in names.items()
    } | {
        target: _fill(target, s.template.get(target), values, chosen, s.own_client_secret)
        for target, name in names.items()
        if not (s.custom.get(name.lower()) or s.overrides.get(name.lower()))
    }


def _generic_fields(s: _Settings, client_id: str) -> dict[str, Any]:
    template_values = s.template_values()
    url_values = {**template_values, "clientid": client_id}
    chosen = s.chosen_names()
    fields: dict[str, Any] = {
        target: _fill(f"customParameters.{key}", s.endpoint(key), url_values, chosen, s.own_client_secret)
        for key, target in _generic.URL_TEMPLATES.items()
    }
    templates = {target: s.custom[key] for key, target in _generic.MESSAGE_TEMPLATES.items() if s.custom.get(key)}
    for target, template in templates.items():
        for name in _generic.missing_placeholders(template, template_values):
            if name.lower() in s.secret_names:
                raise OAuthConfigError(
                    f"the {target} template names the secret {{{name}}}; only {{ClientSecret}} (the connector's "
                    "client secret) can go into a token request"
                )
            raise OAuthConfigError(
                f"the {target} template needs a value for {{{name}}}: "
                f"give it as the connection parameter 'token:{name}'"
            )
    fields["templates"] = templates
    fields["template_values"] = {k: v for k, v in template_values.items() if k not in _generic.STANDARD_PLACEHOLDERS}
    # A template that builds the authorization query or the token body leaves no room for PKCE parameters.
    fields["pkce"] = not ({"authorizationQuery", "tokenBody"} & set(templates))
    delimiter = s.custom.get("scopelistdelimiter")
    if delimiter is not None:
        fields["scope_delimiter"] = delimiter
    return fields


def _generic_scope(scope: str, values: Mapping[str, str]) -> str:
    try:
        return _generic.render_text(scope, values)
    except _generic.MissingPlaceholder as missing:
        raise OAuthConfigError(
            f"scopes need a value for {{{missing.name}}}: give it as the connection parameter 'token:{missing.name}'"
        ) from None


def _client_id(connector: Connector, s: _Settings) -> str:
    try:
        return _real_value("clientId", s.overrides.get("clientid") or _text(s.raw.get("clientId")))
    except OAuthConfigError as error:
        per_connection = next((p.name for p in connector.parameters if p.name.lower() == "token:clientid"), None)
        if per_connection is None:
            raise
        raise OAuthConfigError(f"{error}; each connection gives it as the parameter '{per_connection}'") from None


def _template_for(name: str) -> dict[str, Any]:
    template = PROVIDERS.get(name)
    if template is None:
        known = ", ".join(sorted(PROVIDERS))
        raise OAuthConfigError(f"identityProvider {name[:40]!r} is not supported (supported: {known})")
    return template


def oauth_config_for(connector: Connector, overrides: Mapping[str, Any] | None = None) -> OAuthConfig:
    """The OAuthConfig of a connector's oauthSetting parameter.

    `overrides` are per-connection values, keyed with or without paconn's "token:" prefix, case-insensitive:
    clientId, scopes (list or space-separated), authorizationUrl, tokenUrl, refreshUrl, revocationUrl,
    tenantId, resourceUri, loginUri, aadVersion, oidcAuthority, grantType, tokenAuth, pkce; any other name
    is an oauth2generic placeholder value. Client secrets and other secret parameters are ignored.
    Raises OAuthConfigError naming the missing or unusable field.
    """
    settings = connector.oauth_settings
    if not isinstance(settings, Mapping):
        raise OAuthConfigError("the connector has no oAuthSettings")
    provider = _text(settings.get("identityProvider"))
    if provider is None:
        raise OAuthConfigError("identityProvider is missing")
    name = provider.lower()
    template = _template_for(name)
    s = _Settings(connector, template, overrides)

    client_id = _client_id(connector, s)
    scope_source = s.overrides.get("scopes", settings.get("scopes") or template.get("scopes"))
    scopes = _scope_list(scope_source)
    grant_type = {"code": "authorization_code"}.get(
        s.get("grantType") or "", s.get("grantType") or "authorization_code"
    )
    token_auth = s.get("tokenAuth", "token_auth") or "client_secret_post"
    protocol = template["protocol"]
    if grant_type not in GRANT_TYPES:
        raise OAuthConfigError(f"grantType must be one of {sorted(GRANT_TYPES)}")
    if token_auth not in TOKEN_AUTH_METHODS:
        raise OAuthConfigError(f"tokenAuth must be one of {sorted(TOKEN_AUTH_METHODS)}")

    fields: dict[str, Any] = {
        key: copy.deepcopy(value)
        for key, value in template.items()
        if key in CONFIG_FIELDS and not key.endswith("_url") and key != "scopes"
    }
    if name != "oauth2generic":
        fields["scopes"] = tuple(scopes)
    fields["backend_host_suffixes"] = tuple(fields.get("backend_host_suffixes") or ())
    if protocol == "aad":
        fields.update(_aad_fields(s, client_id, scopes))
    elif protocol == "oauth2generic":
        fields["scopes"] = tuple(_scope_list([_generic_scope(scope, s.template_values()) for scope in scopes]))
        fields.update(_generic_fields(s, client_id))
    else:
        fields.update(_oauth2_fields(s, client_id))
    fields.update(
        identity_provider=name,
        protocol=protocol,
        client_id=client_id,
        grant_type=grant_type,
        token_auth=token_auth,
        pkce=_flag("pkce", s.overrides.get("pkce") or s.custom.get("pkce"), fields.get("pkce", True)),
    )
    if grant_type == "authorization_code":
        fields["authorization_url"] = _checked_url("customParameters.authorizationUrl", fields.get("authorization_url"))
    else:
        fields["authorization_url"] = fields.get("authorization_url") or ""
    fields["token_url"] = _checked_url("customParameters.tokenUrl", fields.get("token_url"))
    fields["refresh_url"] = _checked_url(
        "customParameters.refreshUrl", fields.get("refresh_url") or fields["token_url"]
    )
    if fields.get("revocation_url"):
        fields["revocation_url"] = _checked_url("revocationUrl", fields["revocation_url"])
    if fields.get("oidc_authority"):
        fields["oidc_authority"] = _checked_url("oidcAuthority", fields["oidc_authority"])
    secret_parameter = next(
        (p.name for p in connector.parameters if p.secret and p.name.lower() == "token:clientsecret"), None
    )
    return OAuthConfig(**fields, client_secret_parameter=secret_parameter)
