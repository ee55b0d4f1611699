"""A per-backend circuit breaker: stop calling a remote that keeps failing, probe it, recover.

closed ──(failure_threshold consecutive failures)──> open ──(reset_timeout)──> half_open
half_open ──(the one probe succeeds)──> closed;  half_open ──(the probe fails)──> open
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.settings_types import Duration

__all__ = ["CircuitBreaker", "CircuitSettings", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]


class CircuitSettings(BaseModel):
    """When a backend's circuit opens, and how soon it is probed again."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    failure_threshold: Annotated[int, Field(ge=1)] = 5
    """Consecutive failed delivery calls (errors, timeouts, every item retried) that open it."""
    reset_timeout: Duration = timedelta(seconds=30)
    """How long it stays open before one probe delivery is let through."""


class CircuitBreaker:
    """Decides whether a backend may be called now; shared by all of the backend's workers."""

    def __init__(
        self, settings: CircuitSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = settings.failure_threshold
        self._reset_s = settings.reset_timeout.total_seconds()
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """Return the current state."""
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self._reset_s else "open"

    def acquire(self) -> bool:
        """Return True if a call may go now; in half-open, only one probe at a time may."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    @property
    def probing(self) -> bool:
        """Return True while the half-open probe is out."""
        return self._probing

    def seconds_until_probe(self) -> float:
        """Return how long until a probe may go (0 if now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._reset_s - self._clock())

    def succeeded(self) -> None:
        """Record a call the remote answered: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        """Record a failed call: open the circuit at the threshold, or when the probe failed."""
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._probing = False

    def abandon_probe(self) -> None:
        """Give the probe slot back unused (there was nothing to deliver)."""
        self._probing = False
