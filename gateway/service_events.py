"""Cross-channel service (DESIGN §13): who waits for an answer, since when, what ends a wait.

The rule, written once for every store: a conversation waits from its first unanswered inbound
contact until the next outbound one (a first response, measured in seconds from the start of the
wait); an inbound contact on another channel than the last unanswered one is a chase (exactly the
`context.repeat_contact` case). Automated contacts (metadata `automated`) neither ask nor answer.
A receipt is no contact, except the first receipt of a message the gateway never sent (sent from
the provider's own inbox or another tool): the store marks it `sent_elsewhere` and it answers.
The SQLite resolver folds each committed contact through `advance` inside the commit
transaction; the service report folds the stored contacts of a window through the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "ANSWERING_RECEIPTS",
    "SENT_ELSEWHERE",
    "Chase",
    "Contact",
    "FirstResponse",
    "ServiceEvent",
    "Waiting",
    "advance",
]

SENT_ELSEWHERE = "sent_elsewhere"
"""Metadata key (value `"true"`) of the first receipt of a message the gateway did not send:
that receipt is the only sign of an answer given elsewhere, so it counts as an outbound contact."""
ANSWERING_RECEIPTS = frozenset({"sent", "delivered", "read"})
"""Receipt states that say a message reached (or left for) the customer."""


@dataclass(frozen=True, slots=True)
class Contact:
    """What the rule needs to know of one contact (an interaction that is not a status)."""

    direction: Literal["inbound", "outbound"]
    kind: str
    """The channel kind it came or went on."""
    occurred_at: datetime
    automated: bool


@dataclass(frozen=True, slots=True)
class Waiting:
    """A conversation waiting for an answer."""

    since: datetime
    """The `occurred_at` of its earliest unanswered inbound contact."""
    first_kind: str
    """The channel kind of that contact: the first response is counted under it."""
    last_kind: str
    """The channel kind of the latest unanswered inbound contact: a chase comes from it."""


@dataclass(frozen=True, slots=True)
class FirstResponse:
    """An outbound contact answered a waiting conversation."""

    channel_kind: str
    seconds: float
    """From the start of the wait to the answer's `occurred_at` (never negative)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class Chase:
    """The customer came back on another channel before any answer."""

    from_kind: str
    to_kind: str
    at: datetime


ServiceEvent = FirstResponse | Chase
"""What one contact did to the service of its conversation, if anything."""


def advance(
    waiting: Waiting | None, contact: Contact
) -> tuple[Waiting | None, ServiceEvent | None]:
    """Return the conversation's wait after `contact` (in processing order) and its event."""
    if contact.automated:
        return waiting, None
    at = contact.occurred_at
    if contact.direction == "outbound":
        if waiting is None:
            return None, None
        seconds = max(0.0, (at - waiting.since).total_seconds())
        return None, FirstResponse(waiting.first_kind, seconds, at)
    if waiting is None:
        return Waiting(at, contact.kind, contact.kind), None
    chase = None
    if waiting.last_kind != contact.kind:
        chase = Chase(waiting.last_kind, contact.kind, at)
    if at < waiting.since:  # arrived late: the wait began at this contact
        return Waiting(at, contact.kind, contact.kind), chase
    return Waiting(waiting.since, waiting.first_kind, contact.kind), chase
