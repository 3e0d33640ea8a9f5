"""Builds the Azure SDK clients the gateway uses, from settings.

In Azure every client authenticates with the app's managed identity through
DefaultAzureCredential (AZURE_CLIENT_ID picks the user-assigned one). Locally the
Key Vault emulator takes a fixed dev token and Azurite a connection string.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.data.tables import TableServiceClient
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from shared.settings import Settings

EMULATOR_TOKEN = "key-vault-emulator-dev-token"  # noqa: S105 - a fixed placeholder only the emulator accepts


class StaticTokenCredential:
    """A TokenCredential that always hands out the same token. For the local Key Vault emulator only."""

    def __init__(self, token: str = EMULATOR_TOKEN) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + 3600)


def azure_credential() -> TokenCredential:
    # Managed identity first; no interactive or developer-tool fallbacks in a server.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def secret_client(settings: Settings, **client_options: Any) -> SecretClient:
    if settings.key_vault_emulator:
        return SecretClient(
            settings.key_vault_url,
            StaticTokenCredential(),
            verify_challenge_resource=False,
            connection_verify=settings.key_vault_ca_bundle or True,
            **client_options,
        )
    return SecretClient(settings.key_vault_url, azure_credential(), **client_options)


def table_service(settings: Settings) -> TableServiceClient:
    if settings.tables_connection_string:
        return TableServiceClient.from_connection_string(settings.tables_connection_string)
    assert settings.tables_endpoint  # Settings.from_env guarantees one of the two
    return TableServiceClient(settings.tables_endpoint, credential=azure_credential())
