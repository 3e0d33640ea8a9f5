"""Turns Azure SDK failures into a 503 problem without leaking what the SDK says."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import AzureError

from shared import problems

log = logging.getLogger(__name__)


def dependency_failed(service: str, error: AzureError) -> problems.Problem:
    # SDK messages can quote requests; log the type and status only.
    log.warning("%s call failed: %s (status %s)", service, type(error).__name__, getattr(error, "status_code", None))
    return problems.unavailable(f"{service} is unavailable right now; nothing was changed. Try again shortly.")


@contextmanager
def translate_errors(service: str) -> Iterator[None]:
    try:
        yield
    except AzureError as error:
        raise dependency_failed(service, error) from None
