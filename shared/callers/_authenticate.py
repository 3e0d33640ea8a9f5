"""Turns a request's headers and query into an authenticated Principal, or a 401 Problem.

A subscription key wins when one is sent; an Authorization header then belongs to the backend
and is left alone. Otherwise `Authorization: Bearer <jwt>` is validated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import requests
from azure.core.exceptions import AzureError

from shared import problems
from shared.callers._jwt import Clock, JwtValidator, SigningKeysUnavailable, TokenRejected
from shared.callers._keys import SubscriptionKeyStore
from shared.callers._principal import Authentication
from shared.settings import Settings

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"


def bearer_token(authorization: str) -> str | None:
    """The token of a `Bearer` Authorization value (scheme is case-insensitive); None for other schemes."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


class CallerAuthenticator:
    def __init__(
        self,
        settings: Settings,
        keys: SubscriptionKeyStore,
        session: requests.Session | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self._keys = keys
        self._key_header = settings.subscription_key_header.lower()
        self._key_query = settings.subscription_key_query
        self._jwt = JwtValidator.from_settings(settings, session, clock)
        self._no_credential = (
            "Send a bearer token in the Authorization header or a subscription key in the "
            f"'{settings.subscription_key_header}' header."
        )

    def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Authentication:
        lowered = {name.lower(): value for name, value in headers.items()}
        header_key = lowered.get(self._key_header, "").strip()
        query_key = query.get(self._key_query, "").strip()
        if header_key or query_key:
            return self._with_key(header_key or query_key, lowered, query)

        token = bearer_token(lowered.get(AUTHORIZATION, ""))
        if token is None:
            raise problems.unauthorized(self._no_credential, error="")
        if not token:
            raise problems.unauthorized("The bearer token is empty.")
        try:
            principal = self._jwt.principal_for(token)
        except TokenRejected as rejection:
            log.info("Bearer token rejected: %s", rejection)
            raise problems.unauthorized(str(rejection)) from None
        except SigningKeysUnavailable as outage:
            raise problems.unavailable(f"The signing keys of issuer {outage} can't be fetched right now.") from None
        return Authentication(principal, consumed_headers=frozenset({AUTHORIZATION}))

    def _with_key(self, value: str, headers: Mapping[str, str], query: Mapping[str, str]) -> Authentication:
        try:
            record = self._keys.find(value)
        except AzureError:
            log.exception("Looking up a subscription key failed")
            raise problems.unavailable("The subscription key store is unavailable.") from None
        if record is None:
            raise problems.unauthorized("The subscription key is unknown or revoked.")
        # Both key slots are gateway credentials; strip whichever was sent so neither reaches the backend.
        return Authentication(
            record.principal(),
            consumed_headers=frozenset({self._key_header} & headers.keys()),
            consumed_query=frozenset({self._key_query} & query.keys()),
        )
