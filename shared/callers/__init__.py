"""Authenticates the gateway's callers: OIDC bearer JWTs and subscription keys."""

from shared.callers._authenticate import CallerAuthenticator
from shared.callers._jwt import ALLOWED_ALGORITHMS, JwtValidator, SigningKeysUnavailable, TokenRejected
from shared.callers._jwt_policy import PermissionMap, RequiredClaim, TokenLocation
from shared.callers._keys import KeyRecord, SubscriptionKeyStore, subscription_key_table
from shared.callers._principal import Authentication, Principal, PrincipalKind

__all__ = [
    "ALLOWED_ALGORITHMS",
    "Authentication",
    "CallerAuthenticator",
    "JwtValidator",
    "KeyRecord",
    "PermissionMap",
    "Principal",
    "PrincipalKind",
    "RequiredClaim",
    "SigningKeysUnavailable",
    "SubscriptionKeyStore",
    "TokenLocation",
    "TokenRejected",
    "subscription_key_table",
]
