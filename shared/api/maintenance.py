"""Timer work: finish what a crash or an outage interrupted, drop spent limit counters, and keep idle OAuth
connections alive.

Every step of a run stands alone: a step that fails (a store down, a damaged record) is logged and the
steps after it still run, so one bad record can't keep sign-in states or limit counters from being purged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.gateway import gateway
from shared.limits import purge_expired

log = logging.getLogger(__name__)


def _step(name: str, work: Callable[[], int]) -> int:
    """Run one step; its failure is logged (type only: messages can quote requests) and counts as 0."""
    try:
        return work()
    except Exception as error:  # a failing step must not keep the others from running
        log.error("cleanup: %s failed (%s); the next run tries again", name, type(error).__name__)
        return 0


def finish_interrupted_connections() -> None:
    gw = gateway()
    _step("audit use counts", gw.connections.audit.flush)
    _step("subscription usage", gw.keys.usage.flush)
    finished = _step("interrupted connections", gw.connections.finish_interrupted)
    purged = _step("expired sign-in states", gw.signin.purge_expired)
    if finished or purged:
        log.info("cleanup: finished %d interrupted connection(s), purged %d expired sign-in state(s)", finished, purged)


def purge_expired_limit_counters() -> None:
    """Counters whose windows and periods have all passed count nothing any more (lifetime quotas stay)."""
    purged = _step("expired limit counters", lambda: purge_expired(gateway().limits_table))
    if purged:
        log.info("cleanup: purged %d expired limit counter(s)", purged)


def refresh_expiring_tokens() -> None:
    gw = gateway()
    # Twice the margin: the next run (5 minutes later) must still find the token valid.
    horizon = max(2 * gw.settings.oauth_refresh_margin_seconds, 600)
    refreshed = gw.refresher.refresh_expiring(horizon)
    if refreshed:
        log.info("token refresh: %d connection(s) refreshed", refreshed)
