"""The JSON shapes the admin API returns and the CLI prints (DESIGN §8)."""

from __future__ import annotations

from typing import Any

from gateway.store.base import Store, StoredDelivery

__all__ = ["delivery_document", "interaction_document"]


async def interaction_document(store: Store, interaction_id: str) -> dict[str, Any] | None:
    """Return an interaction with its deliveries and attempt logs, or None."""
    interaction = await store.get_interaction(interaction_id)
    if interaction is None:
        return None
    deliveries = await store.deliveries_of(interaction_id)
    log_by_delivery: dict[int, list[dict[str, Any]]] = {}
    for attempt in await store.attempts_of(interaction_id):
        log_by_delivery.setdefault(attempt.delivery_id, []).append(
            {
                "number": attempt.number,
                "started_at": attempt.started_at,
                "finished_at": attempt.finished_at,
                "outcome": attempt.outcome,
                "error": attempt.error,
            }
        )
    return {
        "interaction": interaction.model_dump(mode="json"),
        "deliveries": [
            {**delivery_document(d), "attempt_log": log_by_delivery.get(d.id, [])}
            for d in deliveries
        ],
    }


def delivery_document(delivery: StoredDelivery) -> dict[str, Any]:
    """Return a delivery in the admin API's JSON shape."""
    return {
        "id": delivery.id,
        "interaction_id": delivery.interaction_id,
        "backend": delivery.backend,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at,
    }
