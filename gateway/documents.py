"""The JSON shapes the admin API returns and the CLI prints (DESIGN §8).

The store's records are dataclasses whose field names are the JSON keys: `asdict` is the shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from gateway.store.base import (
    CustomerRecord,
    ErasureRecord,
    LinkResult,
    MergeProposal,
    MergeRecord,
    Store,
    StoredDelivery,
    TimelineEntry,
)

__all__ = [
    "customer_document",
    "delivery_document",
    "erasure_document",
    "interaction_document",
    "link_document",
    "merge_document",
    "proposal_document",
    "proposals_page",
    "timeline_entry_document",
    "timeline_page",
    "unmerge_document",
]


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
    return asdict(delivery)


def customer_document(customer: CustomerRecord) -> dict[str, Any]:
    """Return a customer with its tree's identities, crosswalk and merge log."""
    return {**asdict(customer), "identities": [i.model_dump() for i in customer.identities]}


def merge_document(merge: MergeRecord) -> dict[str, Any]:
    """Return one entry of the merge log: a merge, or the unmerge that undid one."""
    return asdict(merge)


def proposal_document(proposal: MergeProposal) -> dict[str, Any]:
    """Return a merge proposal."""
    return {**asdict(proposal), "identity": proposal.identity.model_dump()}


def erasure_document(erasure: ErasureRecord) -> dict[str, Any]:
    """Return an erasure request with the receipts of the backends answered so far."""
    return asdict(erasure)


def timeline_entry_document(entry: TimelineEntry) -> dict[str, Any]:
    """Return one interaction of a customer's timeline with its deliveries."""
    return {
        "interaction": entry.interaction.model_dump(mode="json"),
        "deliveries": [delivery_document(d) for d in entry.deliveries],
    }


def timeline_page(entries: Sequence[TimelineEntry], limit: int) -> dict[str, Any]:
    """Return a page of a timeline; `next_cursor` is set when the page is full."""
    return {
        "interactions": [timeline_entry_document(e) for e in entries],
        "next_cursor": entries[-1].interaction.id if len(entries) == limit else None,
    }


def proposals_page(proposals: Sequence[MergeProposal], limit: int) -> dict[str, Any]:
    """Return a page of merge proposals; `next_cursor` is set when the page is full."""
    return {
        "proposals": [proposal_document(p) for p in proposals],
        "next_cursor": proposals[-1].id if len(proposals) == limit else None,
    }


async def link_document(store: Store, result: LinkResult) -> dict[str, Any]:
    """Return what linking an identity did, with the customer that holds it now."""
    holder = await store.get_customer(result.customer_id)
    return {"action": result.action, "customer": customer_document(holder) if holder else None}


async def unmerge_document(store: Store, entry: MergeRecord) -> dict[str, Any]:
    """Return an unmerge log entry with the restored customer and its former survivor."""
    customers = [
        customer_document(customer)
        for customer_id in (entry.merged_id, entry.survivor_id)
        if (customer := await store.get_customer(customer_id)) is not None
    ]
    return {"unmerge": merge_document(entry), "customers": customers}
