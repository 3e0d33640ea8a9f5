"""The OAuth 2.0 protocol layer: configs from connectors, prepared messages, parsed answers, and a client.

    config = oauth_config_for(connector)                       # OAuthConfigError if unusable
    verifier, challenge = new_pkce() if config.pkce else ("", None)
    url = authorization_url(config, redirect_uri, state, challenge)
    tokens = OAuthClient(session).exchange_code(config, secret, code, redirect_uri, verifier or None)
    tokens = client.refresh(config, secret, tokens.refresh_token).merged_with(tokens)

Pure parts (_config, _messages, _tokens, _generic) do no I/O; _client and _aad (msal) send.
Provider templates are data: providers.json.
"""

from shared.oauth._backend_host import backend_url_with_host
from shared.oauth._checks import oauth_setup_problem, oauth_warnings
from shared.oauth._client import OAuthClient
from shared.oauth._config import PROVIDERS, oauth_config_for
from shared.oauth._config_model import OAuthConfig, OAuthConfigError, config_from_record, config_to_record
from shared.oauth._messages import (
    ClientCredential,
    PreparedRequest,
    authorization_url,
    new_pkce,
    revocation_requests,
    scope_text,
    token_request_for_client_credentials,
    token_request_for_code,
    token_request_for_refresh,
)
from shared.oauth._tokens import (
    OAuthError,
    ProviderAddressRefused,
    TokenSet,
    parse_revocation_response,
    parse_token_response,
    token_set_from_payload,
)

__all__ = [
    "PROVIDERS",
    "ClientCredential",
    "OAuthClient",
    "OAuthConfig",
    "OAuthConfigError",
    "OAuthError",
    "PreparedRequest",
    "ProviderAddressRefused",
    "TokenSet",
    "authorization_url",
    "backend_url_with_host",
    "config_from_record",
    "config_to_record",
    "new_pkce",
    "oauth_config_for",
    "oauth_setup_problem",
    "oauth_warnings",
    "parse_revocation_response",
    "parse_token_response",
    "revocation_requests",
    "scope_text",
    "token_request_for_client_credentials",
    "token_request_for_code",
    "token_request_for_refresh",
    "token_set_from_payload",
]
