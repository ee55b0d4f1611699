"""One WARNING line per refused webhook, so an integrator with a wrong secret sees why.

A line names the channel, the outcome and the reason, never a secret, signature or body, and is
rate-limited per (channel, outcome): a flood of bad requests costs a line per interval, which
says how many like it were left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RejectionLog"]

log = logging.getLogger("gateway.ingest")
_REASON_CHARS = 300


@dataclass(slots=True)
class _Window:
    started: float
    suppressed: int = 0


class RejectionLog:
    """Logs refused webhooks, at most one line per (channel, outcome) per `interval` seconds.

    Keys are configured channel ids and the gateway's own outcome labels, so the state is bounded.
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def rejected(self, channel_id: str, outcome: str, status: int, reason: str) -> None:
        """Record one refused webhook; log it unless its kind was logged within `interval`."""
        now = self._clock()
        key = (channel_id, outcome)
        window = self._windows.get(key)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            return
        self._windows[key] = _Window(now)
        more = (
            f" ({window.suppressed} more like it in the last {now - window.started:.0f}s)"
            if window is not None and window.suppressed
            else ""
        )
        log.warning(
            "channel %s refused a webhook: %d %s: %s%s",
            channel_id,
            status,
            outcome,
            reason[:_REASON_CHARS],
            more,
            extra={"channel": channel_id},
        )
