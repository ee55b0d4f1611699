"""A backend's credentials and health, as the delivery engine tracks them.

Refused credentials (`AuthenticationError` from `start`, `deliver` or `health_check`) cost the
deliveries nothing: the lane stops claiming, its deliveries stay pending, and the credentials are
checked again after `AUTH_RECHECK_MIN_S`, doubling up to `AUTH_RECHECK_MAX_S`, until they work.
While the backend delivers, `health_check` runs every `HEALTH_CHECK_INTERVAL_S`; `/readyz` and
`GET /admin/backends` read the latest result instead of calling the remote on every probe.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AUTH_RECHECK_MAX_S",
    "AUTH_RECHECK_MIN_S",
    "HEALTH_CHECK_INTERVAL_S",
    "BackendChecks",
]

AUTH_RECHECK_MIN_S = 30.0
"""The first re-check of refused credentials waits this long; each refusal doubles it."""
AUTH_RECHECK_MAX_S = 600.0
HEALTH_CHECK_INTERVAL_S = 30.0
"""How old the health result `/readyz` reports may be, at most (plus one check's timeout)."""
_ERROR_CHARS = 500


class BackendChecks:
    """When a backend's credentials or health are checked next, and what the last check said.

    Times are the event loop's monotonic clock; `checked_at` is wall-clock time, for people.
    """

    def __init__(self, now: float) -> None:
        self.due = now
        """When the next check runs (the first one right after the backend starts)."""
        self.wait_s = AUTH_RECHECK_MIN_S
        """How long the next refusal waits before the credentials are checked again."""
        self.refused: str | None = None
        """Why the credentials were refused (secrets scrubbed), until they work again."""
        self.incident = False
        """True from a refusal until a delivery goes through: one ERROR log per incident."""
        self.error: str | None = None
        """The last health check's failure (secrets scrubbed), None if it passed."""
        self.error_type: str | None = None
        self.checked_at: datetime | None = None

    def refuse(self, reason: str, now: float) -> float:
        """Note refused credentials; return the wait before the re-check (doubled next time)."""
        wait = self.wait_s
        self.refused = reason[:_ERROR_CHARS]
        self.due = now + wait
        self.wait_s = min(wait * 2, AUTH_RECHECK_MAX_S)
        return wait

    def accepted(self) -> None:
        """Note that the credentials passed a check: the lane delivers again."""
        self.refused = None

    def worked(self) -> None:
        """Note that a delivery call went through: the next refusal starts a new incident."""
        self.incident = False
        self.wait_s = AUTH_RECHECK_MIN_S

    def checked(
        self, error: BaseException | None, detail: str | None, when: datetime, now: float
    ) -> None:
        """Record a health check's result (`detail`: its scrubbed text) and schedule the next."""
        self.error_type = None if error is None else type(error).__name__
        self.error = None if detail is None else detail[:_ERROR_CHARS]
        self.checked_at = when
        self.due = now + (HEALTH_CHECK_INTERVAL_S if self.refused is None else self.wait_s)

    def problem(self) -> str | None:
        """Say why the backend is unhealthy (exception types only), or None."""
        return None if self.error_type is None else f"health check failed: {self.error_type}"

    def document(self) -> dict[str, object]:
        """Return the checks as the admin API shows them."""
        return {
            "ok": None if self.checked_at is None else self.error is None,
            "checked_at": self.checked_at,
            "error": self.error,
            "credentials_refused": self.refused,
        }
