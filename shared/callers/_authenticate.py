"""Turns a request's headers and query into an authenticated Principal, or a 401 Problem.

A subscription key wins when one is sent; an Authorization header then belongs to the backend
and is left alone. Otherwise a JWT is validated: from `Authorization: Bearer <jwt>`, another
configured header (AUTH_TOKEN_HEADER) or a query parameter (AUTH_TOKEN_QUERY). A rejected token
gets AUTH_FAILED_VALIDATION_STATUS (401 or 403) with an RFC 6750 challenge; a request without
any credential always gets a plain 401 challenge.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping

import requests
from azure.core.exceptions import AzureError

from shared import problems
from shared.callers._jwt import Clock, JwtValidator, SigningKeysUnavailable, TokenRejected
from shared.callers._jwt_policy import TokenLocation, bearer_token, rejection_problem
from shared.callers._keys import SubscriptionKeyStore
from shared.callers._principal import Authentication, Principal
from shared.settings import Settings

__all__ = ["CallerAuthenticator", "bearer_token"]

log = logging.getLogger(__name__)


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
        self._token_location = TokenLocation(settings.token_header, settings.token_query)
        self._failed_status = settings.failed_validation_status
        self._failed_message = settings.failed_validation_message
        self._no_credential = (
            f"Send {self._token_location.hint()}, or a subscription key in the "
            f"'{settings.subscription_key_header}' header."
        )

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], fallback: Principal | None = None
    ) -> Authentication:
        """`fallback` authenticates a call that sends no credential at all (e.g. a pinned client certificate)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        header_key = lowered.get(self._key_header, "").strip()
        query_key = query.get(self._key_query, "").strip()
        if header_key or query_key:
            return self._with_key(header_key or query_key, lowered, query)

        found = self._token_location.find(lowered, query)
        if found is None:
            if fallback is not None:
                return Authentication(fallback)
            raise problems.unauthorized(self._no_credential, error="")
        try:
            if not found.token:
                raise TokenRejected("The token is empty.")
            principal = self._jwt.principal_for(found.token)
        except TokenRejected as rejection:
            log.info("Bearer token rejected: %s", rejection)
            raise rejection_problem(rejection, self._failed_status, self._failed_message) from None
        except SigningKeysUnavailable as outage:
            raise problems.unavailable(f"The signing keys of issuer {outage} can't be fetched right now.") from None
        return Authentication(principal, consumed_headers=found.consumed_headers, consumed_query=found.consumed_query)

    def _with_key(self, value: str, headers: Mapping[str, str], query: Mapping[str, str]) -> Authentication:
        try:
            record = self._keys.lookup(value)
        except AzureError:
            log.exception("Looking up a subscription key failed")
            raise problems.unavailable("The subscription key store is unavailable.") from None
        if record is None:
            raise problems.unauthorized("The subscription key is unknown or revoked.")
        if record.state != "active":
            raise problems.unauthorized(f"The subscription of this key is {record.state}.")
        if record.subscription_id is not None and record.slot is not None:
            self._keys.usage.record(record.subscription_id, record.slot)
        # Both key locations are gateway credentials; strip whichever was sent so neither reaches the backend.
        grant = record.grant()
        return Authentication(
            dataclasses.replace(record.principal(), subscription=grant),  # services enforce its scope
            consumed_headers=frozenset({self._key_header} & headers.keys()),
            consumed_query=frozenset({self._key_query} & query.keys()),
            subscription=grant,
        )
