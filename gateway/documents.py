"""The JSON shapes the admin API returns and the CLI prints (DESIGN §8).

The store's records are dataclasses whose field names are the JSON keys: `asdict` is the shape.
Every timestamp is written one way, `timestamp()`'s: `2026-12-02T15:00:00.123456Z`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from gateway.service_report import ServiceReport, percentile
from gateway.store.base import (
    CustomerRecord,
    ErasureRecord,
    LinkResult,
    MergeProposal,
    MergeRecord,
    OutboundMessage,
    Store,
    StoredDelivery,
    TimelineEntry,
)
from gateway.store.sql import utc_text
from gateway.store.stored_rows import StoredInteraction, UnreadableInteraction

__all__ = [
    "customer_document",
    "delivery_document",
    "erasure_document",
    "interaction_document",
    "interaction_json",
    "link_document",
    "merge_document",
    "message_document",
    "proposal_document",
    "proposals_page",
    "service_report_document",
    "timed",
    "timeline_entry_document",
    "timeline_page",
    "timestamp",
    "unmerge_document",
]


def timestamp(moment: datetime) -> str:
    """Return `moment` as admin and CLI JSON write it (and the store keeps it): UTC, `T`,
    microseconds and `Z`."""
    return utc_text(moment)


def _record(record: Any) -> dict[str, Any]:
    """Return a store record (a dataclass) as JSON-ready data, timestamps as `timestamp()`."""
    return {key: timed(value) for key, value in asdict(record).items()}


def timed(value: Any) -> Any:
    """Return `value` (dicts, lists, tuples, scalars) with every datetime as `timestamp()`."""
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, dict):
        return {key: timed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [timed(item) for item in value]
    return value


def interaction_json(interaction: StoredInteraction) -> dict[str, Any]:
    """Return an interaction's JSON with its timestamps written as `timestamp()` writes them.

    A row that no longer validates gets its stored columns and the reason, `unreadable`.
    """
    if isinstance(interaction, UnreadableInteraction):
        return {
            "id": interaction.id,
            "channel": {"id": interaction.channel_id},
            "external_id": interaction.external_id,
            "received_at": interaction.received_at,
            "unreadable": interaction.reason,
        }
    python = interaction.model_dump(mode="python")
    return {
        key: _retimed(python[key], value)
        for key, value in interaction.model_dump(mode="json").items()
    }


def _retimed(python: Any, json: Any) -> Any:
    """Walk a model's python and JSON dumps together; take `timestamp()` where python has a
    datetime, the JSON value elsewhere."""
    if isinstance(python, datetime):
        return timestamp(python)
    if isinstance(python, dict) and isinstance(json, dict):
        return {key: _retimed(python.get(key), item) for key, item in json.items()}
    if isinstance(python, list | tuple) and isinstance(json, list):
        return [_retimed(p, j) for p, j in zip(python, json, strict=True)]
    return json


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
                "started_at": timestamp(attempt.started_at),
                "finished_at": timestamp(attempt.finished_at),
                "outcome": attempt.outcome,
                "error": attempt.error,
            }
        )
    return {
        "interaction": interaction_json(interaction),
        "deliveries": [
            {**delivery_document(d), "attempt_log": log_by_delivery.get(d.id, [])}
            for d in deliveries
        ],
    }


def delivery_document(delivery: StoredDelivery) -> dict[str, Any]:
    """Return a delivery in the admin API's JSON shape."""
    return _record(delivery)


def message_document(message: OutboundMessage) -> dict[str, Any]:
    """Return an outbound message in the admin API's JSON shape (DESIGN §12)."""
    document = _record(message)
    document["channel"] = document.pop("channel_id")
    del document["request_hash"]
    return document


def customer_document(customer: CustomerRecord) -> dict[str, Any]:
    """Return a customer with its tree's identities, crosswalk and merge log."""
    return {
        **_record(customer),
        "identities": [i.model_dump() for i in customer.identities],
    }


def merge_document(merge: MergeRecord) -> dict[str, Any]:
    """Return one entry of the merge log: a merge, or the unmerge that undid one."""
    return _record(merge)


def proposal_document(proposal: MergeProposal) -> dict[str, Any]:
    """Return a merge proposal."""
    return {**_record(proposal), "identity": proposal.identity.model_dump()}


def erasure_document(erasure: ErasureRecord) -> dict[str, Any]:
    """Return an erasure request with the receipts of the backends answered so far."""
    return _record(erasure)


def timeline_entry_document(entry: TimelineEntry) -> dict[str, Any]:
    """Return one interaction of a customer's timeline with its deliveries."""
    return {
        "interaction": interaction_json(entry.interaction),
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


def service_report_document(report: ServiceReport) -> dict[str, Any]:
    """Return the JSON answer of `GET /admin/reports/service`."""
    return {
        "window": {"since": timestamp(report.since), "until": timestamp(report.until)},
        "first_responses": [
            {
                "channel_kind": kind,
                "count": len(seconds),
                "p50_seconds": percentile(seconds, 0.5),
                "p90_seconds": percentile(seconds, 0.9),
            }
            for kind, seconds in sorted(report.first_responses.items())
        ],
        "chases": [
            {"from_kind": from_kind, "to_kind": to_kind, "count": count}
            for (from_kind, to_kind), count in sorted(report.chases.items())
        ],
        "unanswered_conversations": report.unanswered,
    }
