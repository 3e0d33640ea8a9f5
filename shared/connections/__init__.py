"""Connections: records in Table Storage, secrets in Key Vault, OAuth sign-in and token refresh."""

from shared.connections._connection_checks import ConnectionTester
from shared.connections._grants import GrantIndex
from shared.connections._lease import Leases
from shared.connections._records import ConnectionRecords
from shared.connections._refresh import TokenRefresher
from shared.connections._service import ConnectionService
from shared.connections._signin import CALLBACK_PATH, Consent, SignIn, SignInResult
from shared.connections._snapshot import oauth_config
from shared.connections._use import ConnectionTarget, ConnectionUse, Credential

__all__ = [
    "CALLBACK_PATH",
    "ConnectionRecords",
    "ConnectionService",
    "ConnectionTarget",
    "ConnectionTester",
    "ConnectionUse",
    "Consent",
    "Credential",
    "GrantIndex",
    "Leases",
    "SignIn",
    "SignInResult",
    "TokenRefresher",
    "oauth_config",
]
