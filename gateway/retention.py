"""Retention: delivered interactions older than `storage.retention` are pruned in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.errors import StoreUnavailableError
from gateway.store.base import Store

__all__ = ["prune_forever"]

log = logging.getLogger("gateway.retention")
_INTERVAL_MAX_S = 3600.0


async def prune_forever(store: Store, retention: timedelta, clock: Callable[[], datetime]) -> None:
    """Prune every `retention / 24` (at most hourly); dead letters and pending work are kept."""
    interval = min(_INTERVAL_MAX_S, max(1.0, retention.total_seconds() / 24))
    while True:
        try:
            if pruned := await store.prune(clock() - retention):
                log.info("pruned %d delivered interactions older than %s", pruned, retention)
        except StoreUnavailableError as exc:
            log.warning("pruning failed, will try again: %s", exc)
        await asyncio.sleep(interval)
