"""Builds the Azure SDK clients the gateway uses, from settings, all under one client-options policy.

In Azure every client authenticates with the app's managed identity through
DefaultAzureCredential (AZURE_CLIENT_ID picks the user-assigned one). Locally the
Key Vault emulator takes a fixed dev token and Azurite a connection string.

Every Table and Key Vault call ends in a bounded time (`StorePolicy`): a few retries with short
backoff, connect and read timeouts per attempt, and a deadline for the whole call. The SDK defaults
(10 retries, backoff up to 120 s, 300 s socket timeouts, Retry-After obeyed however long) could hold
a request, and any counter lock it holds, past Azure's 230 s HTTP limit. A throttled or unavailable
store therefore costs the caller a 503 problem within about STORE_DEADLINE_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.pipeline.policies import RetryPolicy
from azure.data.tables import TableServiceClient
from azure.data.tables._policies import TablesRetryPolicy
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from shared.settings import Settings
from shared.telemetry import KEY_VAULT, TABLES, StoreSpanTransport

EMULATOR_TOKEN = "key-vault-emulator-dev-token"  # noqa: S105 - a fixed placeholder only the emulator accepts


@dataclass(frozen=True)
class StorePolicy:
    """How long any one store call may take, retries included."""

    retries: int = 3
    attempt_timeout: float = 10.0  # read timeout of one attempt; connecting gets at most half of it
    deadline: float = 30.0  # no new attempt, and no wait for one, past this many seconds from the start
    backoff_factor: float = 0.2  # 0.2 s, 0.4 s, 0.8 s ...
    backoff_max: float = 2.0
    retry_after_max: float = 5.0  # a longer Retry-After is cut to this (and to what the deadline leaves)

    @classmethod
    def from_settings(cls, settings: Settings) -> StorePolicy:
        return cls(
            retries=settings.store_retries,
            attempt_timeout=settings.store_attempt_timeout,
            deadline=settings.store_deadline,
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for an SDK client's constructor: transport timeouts and the retry policy's settings."""
        return {
            "connection_timeout": min(5.0, self.attempt_timeout / 2),
            "read_timeout": self.attempt_timeout,
            "retry_total": self.retries,
            "retry_connect": self.retries,
            "retry_read": self.retries,
            "retry_status": self.retries,
            "retry_backoff_factor": self.backoff_factor,
            "retry_backoff_max": self.backoff_max,
            "timeout": self.deadline,
        }


# Azure's front end answers an HTTP request 500 after 230 s, whatever the function is doing; however many store
# calls one request makes, none starts or retries past this many seconds into it.
REQUEST_STORE_BUDGET_SECONDS = 180.0
_request_deadline: ContextVar[float | None] = ContextVar("store_request_deadline", default=None)


@contextmanager
def request_budget(seconds: float = REQUEST_STORE_BUDGET_SECONDS) -> Iterator[None]:
    """Within this block (one HTTP request), store calls share one deadline `seconds` from now."""
    token = _request_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _request_deadline.reset(token)


class _Bounded:
    """Over azure-core's retry loop: Retry-After is capped, and no retry starts that would end past the deadline
    (the call's own, or the HTTP request's budget when that comes first)."""

    retry_after_max: float = StorePolicy.retry_after_max

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)  # type: ignore[misc]
        now = time.monotonic()
        request_deadline = _request_deadline.get()
        settings["deadline_at"] = now + settings["timeout"]
        if request_deadline is not None and request_deadline < settings["deadline_at"]:
            settings["deadline_at"] = request_deadline
            # azure-core's own timeout too: a spent budget sends nothing (ServiceRequestTimeoutError, a 503 problem).
            settings["timeout"] = max(request_deadline - now, 0.0)
        return settings

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)  # type: ignore[misc]
        return None if after is None else min(after, self.retry_after_max)

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        if not super().increment(settings, response=response, error=error):  # type: ignore[misc]
            return False
        after = self.get_retry_after(response) if hasattr(response, "http_response") else None
        wait = after if after is not None else self.get_backoff_time(settings)  # type: ignore[attr-defined]
        return time.monotonic() + wait < settings["deadline_at"]


class BoundedRetryPolicy(_Bounded, RetryPolicy):
    """Key Vault's retry policy (429 and 503 with Retry-After are retried, within bounds)."""


class BoundedTablesRetryPolicy(_Bounded, TablesRetryPolicy):
    """Table Storage's retry policy (keeps its secondary-host handling), within bounds."""


class _BoundedTableService(TableServiceClient):
    """A TableServiceClient whose pipeline, and that of every table client it hands out, retries within bounds."""

    def _configure_policies(self, **kwargs: Any) -> list[Any]:
        policies = super()._configure_policies(**kwargs)
        return [BoundedTablesRetryPolicy(**kwargs) if isinstance(p, TablesRetryPolicy) else p for p in policies]


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


def secret_client(settings: Settings, policy: StorePolicy | None = None) -> SecretClient:
    policy = policy or StorePolicy.from_settings(settings)
    options = policy.client_options()
    options["retry_policy"] = BoundedRetryPolicy(**options)
    if settings.key_vault_emulator:
        options["verify_challenge_resource"] = False
        options["connection_verify"] = settings.key_vault_ca_bundle or True
    # A span per request when traced; the transport takes the connection options (timeouts, verify).
    options["transport"] = StoreSpanTransport.requests(KEY_VAULT, **options)
    credential = StaticTokenCredential() if settings.key_vault_emulator else azure_credential()
    return SecretClient(settings.key_vault_url, credential, **options)


def table_service(settings: Settings, policy: StorePolicy | None = None) -> TableServiceClient:
    options = (policy or StorePolicy.from_settings(settings)).client_options()
    options["transport"] = StoreSpanTransport.requests(TABLES, **options)  # a span per request, when traced
    if settings.tables_connection_string:
        return _BoundedTableService.from_connection_string(settings.tables_connection_string, **options)
    assert settings.tables_endpoint  # Settings.from_env guarantees one of the two
    return _BoundedTableService(settings.tables_endpoint, credential=azure_credential(), **options)
