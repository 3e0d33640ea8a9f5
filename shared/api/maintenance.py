"""Timer work: finish what a crash or an outage interrupted, drop spent limit counters, and keep idle OAuth
connections alive."""

from __future__ import annotations

import logging

from shared.gateway import gateway
from shared.limits import purge_expired

log = logging.getLogger(__name__)


def finish_interrupted_connections() -> None:
    gw = gateway()
    gw.connections.audit.flush()
    gw.keys.usage.flush()
    finished = gw.connections.finish_interrupted()
    purged = gw.signin.purge_expired()
    if finished or purged:
        log.info("cleanup: finished %d interrupted connection(s), purged %d expired sign-in state(s)", finished, purged)


def purge_expired_limit_counters() -> None:
    """Counters whose windows and periods have all passed count nothing any more (lifetime quotas stay)."""
    purged = purge_expired(gateway().limits_table)
    if purged:
        log.info("cleanup: purged %d expired limit counter(s)", purged)


def refresh_expiring_tokens() -> None:
    gw = gateway()
    # Twice the margin: the next run (5 minutes later) must still find the token valid.
    horizon = max(2 * gw.settings.oauth_refresh_margin_seconds, 600)
    refreshed = gw.refresher.refresh_expiring(horizon)
    if refreshed:
        log.info("token refresh: %d connection(s) refreshed", refreshed)
