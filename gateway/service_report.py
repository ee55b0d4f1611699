"""The service report (DESIGN §13): first responses, chases and unanswered conversations of a
window, folded from the stored contacts by the rule of `gateway.service_events`.

Computed from the store, not from the process's counters, so it survives restarts and agrees
with what is stored (an erased customer leaves it).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.service_events import Chase, Contact, Waiting, advance
from gateway.store.base import Store

__all__ = ["ServiceReport", "fold_contacts", "percentile", "service_report"]


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """What the contacts of a window tell about the service given in it."""

    since: datetime
    until: datetime
    first_responses: dict[str, list[float]]
    """Channel kind (of the first unanswered inbound) -> seconds of each first response."""
    chases: Counter[tuple[str, str]]
    """(from_kind, to_kind) -> chases."""
    unanswered: int
    """Conversations open at `until` whose latest non-automated contact is inbound."""


def percentile(values: Iterable[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `values` (one of them; not interpolated)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def fold_contacts(
    contacts: Iterable[tuple[str, Contact]], *, since: datetime, until: datetime, window: timedelta
) -> ServiceReport:
    """Fold each conversation's contacts (in threading order) into the report of a window:
    events whose contact occurred from `since` on; conversations waiting at `until` whose last
    activity is within the conversation `window` of it."""
    waits: dict[str, Waiting | None] = {}
    last: dict[str, datetime] = {}
    responses: dict[str, list[float]] = {}
    chases: Counter[tuple[str, str]] = Counter()
    for conversation, contact in contacts:
        waits[conversation], event = advance(waits.get(conversation), contact)
        seen = last.get(conversation)
        last[conversation] = contact.occurred_at if seen is None else max(seen, contact.occurred_at)
        if event is None or event.at < since:
            continue
        if isinstance(event, Chase):
            chases[event.from_kind, event.to_kind] += 1
        else:
            responses.setdefault(event.channel_kind, []).append(event.seconds)
    unanswered = sum(
        1 for c, waiting in waits.items() if waiting is not None and until - last[c] <= window
    )
    return ServiceReport(since, until, responses, chases, unanswered)


async def service_report(
    store: Store, *, since: datetime, until: datetime, window: timedelta
) -> ServiceReport:
    """Return the service report of `since`..`until` from the stored contacts."""
    contacts = await store.service_contacts(min(since, until - window))
    # Off the event loop: a busy window holds a million contacts.
    return await asyncio.to_thread(fold_contacts, contacts, since=since, until=until, window=window)
