"""The `Store` protocol every storage engine implements, and the records it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, get_args

from gateway.schema import Interaction

__all__ = [
    "DELIVERY_STATES",
    "AttemptOutcome",
    "AttemptRecord",
    "ClaimedDelivery",
    "CommitItem",
    "CommitResult",
    "DeliveryState",
    "DeliveryUpdate",
    "QueueStats",
    "Store",
    "StoredAttempt",
    "StoredDelivery",
]

DeliveryState = Literal["pending", "in_flight", "delivered", "dead"]
DELIVERY_STATES: tuple[DeliveryState, ...] = get_args(DeliveryState)
AttemptOutcome = Literal["delivered", "retry", "dead"]

BatchObserver = Callable[[int], None]
"""Called with the number of commit requests each group-commit transaction carried."""


@dataclass(frozen=True, slots=True)
class CommitItem:
    """An interaction to store, and the backends it is routed to (one delivery row each)."""

    interaction: Interaction
    backends: tuple[str, ...]
    order_key: str | None = None
    """Deliveries sharing (backend, order_key) go out one at a time, in commit order."""


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What the store holds for one `CommitItem` once `commit` returns."""

    interaction_id: str
    """The id it is stored under: its own, or the first arrival's id for a duplicate."""
    duplicate: bool
    """True if (channel id, external id) was already stored; nothing new was written."""


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """One delivery job of one interaction to one backend."""

    id: int
    interaction_id: str
    backend: str
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with its interaction."""

    id: int
    interaction: Interaction
    attempts: int
    """Attempts recorded before this claim."""
    created_at: datetime
    """When the delivery job was created (its age decides `retry.max_age`)."""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One call of a backend's `deliver` for one delivery, for the attempt log."""

    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """What became of a claimed delivery: delivered, due again later, or dead."""

    delivery_id: int
    state: Literal["delivered", "pending", "dead"]
    attempts: tuple[AttemptRecord, ...]
    """The attempts of this claim (more than one after in-process retries)."""
    next_attempt_at: datetime | None = None
    """When a `pending` delivery is due again."""
    error: str | None = None
    """The last error, kept as the delivery's `last_error`."""


@dataclass(frozen=True, slots=True)
class StoredAttempt:
    """One logged attempt of a delivery."""

    delivery_id: int
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: str | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The delivery queue of one backend."""

    pending: int
    """Deliveries pending or in flight."""
    dead: int
    oldest_due_s: float
    """How long the most overdue pending delivery has been due (0 when none is)."""


class Store(Protocol):
    """Durable storage. `commit` returning means the data survives a crash or power loss."""

    async def open(self) -> None:
        """Create or migrate the schema and start accepting commits."""

    async def close(self) -> None:
        """Finish the commits already accepted, then release every resource."""

    async def commit(self, items: Sequence[CommitItem]) -> list[CommitResult]:
        """Store `items` atomically with their delivery rows; raise `StoreUnavailableError`.

        Items of concurrent calls may share one transaction (group commit); a call's items are
        all stored or none are. Returns one result per item, in order.
        """

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless the store can be read right now."""

    async def get_interaction(self, interaction_id: str) -> Interaction | None:
        """Return a stored interaction, or None."""

    async def deliveries_of(self, interaction_id: str) -> list[StoredDelivery]:
        """Return the delivery jobs of one interaction, oldest first."""

    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        """Return how many deliveries each backend has in each state."""

    async def recover(self) -> int:
        """Claim this store for the serving gateway and release leases a crash left behind.

        Returns how many in-flight deliveries became due again. Raises `StoreUnavailableError`
        if another gateway already serves the store.
        """

    async def claim(
        self, backend: str, limit: int, *, now: datetime, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries of `backend`, oldest due first.

        Due: `pending` with `next_attempt_at <= now`, or `in_flight` with an expired lease. Never
        one whose predecessor with the same (backend, order_key) is pending, in flight or leased.
        """

    async def record(self, updates: Sequence[DeliveryUpdate]) -> None:
        """Record the outcome of claimed deliveries and their attempts, in one transaction."""

    async def release(self, delivery_ids: Sequence[int]) -> None:
        """Return leased deliveries to `pending` untouched (a graceful shutdown)."""

    async def get_delivery(self, delivery_id: int) -> StoredDelivery | None:
        """Return one delivery, or None."""

    async def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        backend: str | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[StoredDelivery]:
        """Return deliveries by ascending id, after `after_id` (the cursor)."""

    async def attempts_of(self, interaction_id: str) -> list[StoredAttempt]:
        """Return the attempt log of every delivery of one interaction."""

    async def replay(
        self,
        *,
        now: datetime,
        delivery_ids: Sequence[int] | None = None,
        backend: str | None = None,
    ) -> int:
        """Make dead deliveries (these ids, a backend's, or all) pending with a fresh budget."""

    async def backfill(
        self,
        backend: str,
        *,
        since: datetime,
        now: datetime,
        plan: Callable[[Interaction], tuple[bool, str | None]],
    ) -> int:
        """Queue stored interactions received since `since` for `backend`; return how many.

        `plan(interaction)` says whether routing sends it to `backend` and its order key.
        Interactions that already have a delivery for `backend` are skipped.
        """

    async def queue_stats(self, now: datetime) -> dict[str, QueueStats]:
        """Return the queue of every backend that has deliveries."""

    async def prune(self, before: datetime) -> int:
        """Delete interactions received before `before` whose deliveries are all delivered."""
