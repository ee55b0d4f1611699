"""A local budget of requests per rolling window, shared by every backend using one token.

HubSpot counts a private app's requests in a rolling 10-second window and answers 429 past its
limit. The delivery engine runs several workers per backend (and a portal may be configured in
two backends), so the budget is kept here, once per token, before a request is sent: a request
that would exceed it waits for a slot if one frees soon, else the caller is told to come back
(`ThrottledError`), so the gateway's own concurrency never reaches HubSpot's limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections import deque
from collections.abc import Callable

from gateway.errors import TransientDeliveryError

__all__ = ["RateLimiter", "ThrottledError", "limiter_for"]


class ThrottledError(TransientDeliveryError):
    """The local budget (or HubSpot's 429) says: not before `retry_after` seconds.

    `sent` is False when the local budget stopped the request before it left.
    """

    def __init__(self, message: str, *, retry_after: float, sent: bool = True) -> None:
        super().__init__(message, retry_after=retry_after)
        self.sent = sent


class RateLimiter:
    """At most `budget` requests in any `window_s` seconds."""

    def __init__(
        self, budget: int, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget = budget
        self.window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()
        self._closed_until = 0.0

    async def acquire(self, max_wait_s: float) -> None:
        """Take a slot, waiting up to `max_wait_s`; raise `ThrottledError` if none frees by then."""
        while True:
            wait = self._wait_s()
            if wait <= 0:
                self._sent.append(self._clock())
                return
            if wait > max_wait_s:
                raise ThrottledError(
                    f"local rate limit: {self.budget} requests per {self.window_s:g}s used up",
                    retry_after=round(wait, 3),
                    sent=False,
                )
            await asyncio.sleep(wait)

    def adopt(self, limit: int | None, remaining: int | None, interval_s: float | None) -> None:
        """Follow HubSpot's `X-HubSpot-RateLimit-*` headers: a lower limit, a window used up."""
        if interval_s:
            self.window_s = interval_s
        if limit is not None and 0 < limit < self.budget:
            self.budget = limit
        if remaining == 0:
            self.close_for(self.window_s)

    def close_for(self, seconds: float) -> None:
        """Send nothing for `seconds` (HubSpot answered 429, or said nothing remains)."""
        self._closed_until = max(self._closed_until, self._clock() + seconds)

    def _wait_s(self) -> float:
        now = self._clock()
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        closed = self._closed_until - now
        full = self._sent[0] + self.window_s - now if len(self._sent) >= self.budget else 0.0
        return max(closed, full)


_SHARED: weakref.WeakValueDictionary[str, RateLimiter] = weakref.WeakValueDictionary()


def limiter_for(root: str, token: str, budget: int) -> RateLimiter:
    """Return the limiter of the HubSpot account behind `token` at `root`, made on first use."""
    key = hashlib.sha256(f"{root}\n{token}".encode()).hexdigest()
    limiter = _SHARED.get(key)
    if limiter is None:
        limiter = _SHARED[key] = RateLimiter(budget)
    limiter.budget = min(limiter.budget, budget)
    return limiter
