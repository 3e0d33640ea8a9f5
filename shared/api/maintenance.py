"""Timer work: finish what a crash or an outage interrupted."""

from __future__ import annotations

import logging

from shared.gateway import gateway

log = logging.getLogger(__name__)


def finish_interrupted_connections() -> None:
    finished = gateway().connections.finish_interrupted()
    if finished:
        log.info("cleanup finished %d interrupted connection(s)", finished)
