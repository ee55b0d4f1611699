"""The `gateway_unanswered_conversations` gauge: counted from the store at a scrape, without
letting a large store make the scrape slow or the counting expensive.

The count grows with the conversations open in the last `conversation_window` (the store
counts them per conversation: milliseconds for thousands). Whatever it costs, a scrape waits at
most `SCRAPE_WAIT_S` for a fresh count and otherwise shows the last one while the count finishes
in the background (one at a time); a count that took long is not started again before
`COOLDOWN_FACTOR` times as long has passed, so counting never takes more than about a tenth of
the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge

from gateway.errors import StoreUnavailableError

__all__ = ["CHEAP_S", "COOLDOWN_FACTOR", "SCRAPE_WAIT_S", "UnansweredGauge"]

log = logging.getLogger("gateway.metrics")

SCRAPE_WAIT_S = 0.5
"""The longest a scrape waits for a count before it shows the last one."""
COOLDOWN_FACTOR = 10
"""After a count that took T seconds, the next one starts no sooner than this many T later."""
CHEAP_S = 0.05
"""A count quicker than this is done again at every scrape: the gauge is then always fresh."""


class UnansweredGauge:
    """Keeps the gauge set from `count()`, one count at a time, at a bounded cost."""

    def __init__(
        self,
        count: Callable[[], Awaitable[int]],
        gauge: Gauge,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = count
        self._gauge = gauge
        self._clock = clock
        self._running: asyncio.Task[None] | None = None
        self._not_before = 0.0

    async def refresh(self) -> None:
        """Count now unless a count runs or the last was too slow to repeat yet; wait for it
        at most `SCRAPE_WAIT_S`."""
        if self._running is None and self._clock() >= self._not_before:
            self._running = asyncio.create_task(self._update(), name="unanswered-gauge")
        if self._running is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._running), SCRAPE_WAIT_S)

    async def close(self) -> None:
        """Stop a count still running."""
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running

    async def _update(self) -> None:
        started = self._clock()
        try:
            self._gauge.set(await self._count())
        except StoreUnavailableError as exc:
            log.warning("cannot count the unanswered conversations: %s", exc)
        finally:
            took = self._clock() - started
            if took >= CHEAP_S:
                self._not_before = self._clock() + COOLDOWN_FACTOR * took
            self._running = None
