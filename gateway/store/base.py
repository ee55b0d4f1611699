"""The `Store` protocol every storage engine implements, and the records it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from gateway.schema import Interaction

__all__ = ["CommitItem", "CommitResult", "DeliveryState", "Store", "StoredDelivery"]

DeliveryState = Literal["pending", "in_flight", "delivered", "dead"]

BatchObserver = Callable[[int], None]
"""Called with the number of commit requests each group-commit transaction carried."""


@dataclass(frozen=True, slots=True)
class CommitItem:
    """An interaction to store, and the backends it is routed to (one delivery row each)."""

    interaction: Interaction
    backends: tuple[str, ...]


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
