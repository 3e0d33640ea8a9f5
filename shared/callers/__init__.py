"""Authenticates the gateway's callers: OIDC bearer JWTs and subscription keys."""

from shared.callers._authenticate import CallerAuthenticator
from shared.callers._jwt import ALLOWED_ALGORITHMS, JwtValidator, SigningKeysUnavailable, TokenRejected
from shared.callers._jwt_policy import RequiredClaim, TokenLocation
from shared.callers._keys import SubscriptionKeyStore, subscription_key_table
from shared.callers._principal import (
    GROUP_GRANTEE_PREFIX,
    MAX_GRANTEE_LENGTH,
    Authentication,
    Principal,
    PrincipalKind,
    grantee_identities,
    group_grantee,
    in_group_namespace,
    is_plausible_grantee,
)
from shared.callers._scope import ALL_SCOPE, SubscriptionGrant, parse_scope
from shared.callers._shares import Share, granted_by_shares, share_id
from shared.callers._subscription_model import (
    SLOTS,
    STATES,
    KeyRecord,
    KeySlot,
    NewSubscription,
    StateConflict,
    Subscription,
    SubscriptionNotFound,
    SubscriptionState,
    checked_principal_id,
    checked_text,
    normalized_roles,
    parse_slot,
    parse_state,
    subscription_view,
)
from shared.callers._usage import DailyUsage, UsageCounter

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ALL_SCOPE",
    "GROUP_GRANTEE_PREFIX",
    "MAX_GRANTEE_LENGTH",
    "SLOTS",
    "STATES",
    "Authentication",
    "CallerAuthenticator",
    "DailyUsage",
    "JwtValidator",
    "KeyRecord",
    "KeySlot",
    "NewSubscription",
    "Principal",
    "PrincipalKind",
    "RequiredClaim",
    "Share",
    "SigningKeysUnavailable",
    "StateConflict",
    "Subscription",
    "SubscriptionGrant",
    "SubscriptionKeyStore",
    "SubscriptionNotFound",
    "SubscriptionState",
    "TokenLocation",
    "TokenRejected",
    "UsageCounter",
    "checked_principal_id",
    "checked_text",
    "granted_by_shares",
    "grantee_identities",
    "group_grantee",
    "in_group_namespace",
    "is_plausible_grantee",
    "normalized_roles",
    "parse_scope",
    "parse_slot",
    "parse_state",
    "share_id",
    "subscription_key_table",
    "subscription_view",
]
