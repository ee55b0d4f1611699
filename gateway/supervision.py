"""Supervision of background workers: a worker that raises is logged, restarted and shown.

Like a container restarted by its orchestrator, not a coroutine that ends quietly inside
`gather`: the error goes to the log with its traceback, the worker comes back after an
exponential backoff, and whoever reports health (`/readyz`, the admin API, metrics) sees the
worker down until it has completed a round of work again. `Outage` keeps a dependency that
fails every poll (the store) to one log line when it goes and one when it comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter

__all__ = ["RESTART_MAX_S", "RESTART_MIN_S", "LaneHealth", "Outage", "Supervisor"]

RESTART_MIN_S = 1.0
"""The first restart of a crashed worker waits this long; each crash before it recovers doubles
it, up to `RESTART_MAX_S`."""
RESTART_MAX_S = 60.0
_ERROR_CHARS = 500


@dataclass(slots=True)
class LaneHealth:
    """Which workers of one lane are down, how often they were restarted, and the last error."""

    down: dict[str, str] = field(default_factory=dict)
    """Worker name → the type of the exception that stopped it, until it works again."""
    restarts: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def up(self) -> bool:
        """Return True while no worker is down."""
        return not self.down

    def document(self) -> dict[str, object]:
        """Return the lane's health as the admin API shows it."""
        return {
            "up": self.up,
            "down": dict(sorted(self.down.items())),
            "restarts": self.restarts,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    def problem(self) -> str | None:
        """Say why the lane is down (exception types only), or None while it is up."""
        if not self.down:
            return None
        kinds = ", ".join(sorted(set(self.down.values())))
        return f"lane stopped: {kinds} ({len(self.down)} worker(s) restarting)"


class Supervisor:
    """Runs the workers of one lane, restarting each one that raises.

    `redact` scrubs secrets from the error text a crash leaves in `LaneHealth.last_error`.
    """

    def __init__(
        self,
        lane: str,
        health: LaneHealth,
        *,
        stopping: Callable[[], bool],
        pause: Callable[[float], Awaitable[None]],
        clock: Callable[[], datetime],
        changed: Callable[[], None],
        restarts: Counter,
        log: logging.Logger,
        redact: Callable[[str], str] = str,
    ) -> None:
        self._lane = lane
        self._health = health
        self._stopping = stopping
        self._pause = pause
        self._clock = clock
        self._changed = changed
        self._restarts = restarts
        self._log = log
        self._redact = redact

    async def run(self, worker: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work()` until it returns or the engine stops; after a raise, restart it later."""
        delay = RESTART_MIN_S
        while not self._stopping():
            try:
                await work()
            except Exception as exc:
                again = worker in self._health.down  # crashed again before it recovered
                delay = min(delay * 2, RESTART_MAX_S) if again else RESTART_MIN_S
                self._crashed(worker, exc, delay)
            else:
                return
            await self._pause(delay)

    def alive(self, worker: str) -> None:
        """Note that `worker` completed a round of work: it is no longer down."""
        if self._health.down.pop(worker, None) is not None:
            self._log.info(
                "backend %s: %s recovered", self._lane, worker, extra={"backend": self._lane}
            )
            self._changed()

    def _crashed(self, worker: str, exc: Exception, delay: float) -> None:
        health = self._health
        health.down[worker] = type(exc).__name__
        health.restarts += 1
        self._restarts.inc()
        health.last_error = self._redact(f"{type(exc).__name__}: {exc}")[:_ERROR_CHARS]
        health.last_error_at = self._clock()
        self._log.error(
            "backend %s: %s stopped by %s; restarting in %.1fs",
            self._lane,
            worker,
            type(exc).__name__,
            delay,
            exc_info=exc,
            extra={"backend": self._lane},
        )
        self._changed()


class Outage:
    """A dependency of a backend's lane that fails every poll: logged once when it goes, once
    when it comes back (both lines name the lane as `backend`)."""

    def __init__(
        self,
        log: logging.Logger,
        failing: str,
        recovered: str,
        *,
        min_s: float,
        max_s: float,
        backend: str,
    ) -> None:
        self._log = log
        self._extra = {"backend": backend}
        self._failing = failing
        self._recovered = recovered
        self._min_s = min_s
        self._max_s = max_s
        self._failures = 0

    @property
    def active(self) -> bool:
        """Return True from a failure until the next success."""
        return self._failures > 0

    @property
    def wait_s(self) -> float:
        """How long to wait before trying again: doubles with each failure, up to the cap."""
        return min(self._max_s, self._min_s * 2.0 ** max(self._failures - 1, 0))

    def failed(self, exc: Exception) -> None:
        """Note a failure; log it only if it starts an outage."""
        if not self._failures:
            message = "%s: %s (logged once; backing off until it recovers)"
            self._log.error(message, self._failing, exc, extra=self._extra)
        self._failures = min(self._failures + 1, 64)

    def succeeded(self) -> None:
        """Note a success; log the recovery if it ends an outage."""
        if self._failures:
            self._failures = 0
            self._log.info("%s", self._recovered, extra=self._extra)
