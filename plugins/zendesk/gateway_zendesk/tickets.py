"""The conversation's one ticket, and one comment per interaction on it.

The ticket is found by `external_id` (`GET /api/v2/tickets?external_id=`, the conversation id)
before anything is created, so a crash after the create never opens a second ticket; the create
itself carries an `Idempotency-Key` (Zendesk answers a replay within two hours with the first
answer). A closed ticket cannot take comments: the next interaction opens a follow-up
(`via_followup_source_id`) with the same external id. Before a comment is appended, the
ticket's comments are read for the interaction's marker line, so a retried delivery whose first
attempt landed adds nothing; the append is a safe update (`safe_update` with the ticket's
`updated_at`), so a second send of the same request — the HTTP client re-sends a PUT whose
connection dropped — is refused with 409 instead of adding the comment twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.schema import Interaction
from gateway_zendesk.client import ZendeskClient
from gateway_zendesk.mapping import channel_tag, comment_body, marker, ticket_subject
from gateway_zendesk.settings import ZendeskSettings

__all__ = ["TicketLookup", "append_comment", "create_ticket", "find_ticket", "has_comment"]

MAX_COMMENT_PAGES: Final = 60
"""Pages of 100 comments read at most (Zendesk keeps up to 5,000 comments per ticket)."""


@dataclass(frozen=True, slots=True)
class TicketLookup:
    """The conversation's open ticket (with its `updated_at`), if any, and its latest closed one."""

    open_id: int | None
    closed_id: int | None
    updated_at: str | None = None


async def find_ticket(client: ZendeskClient, conversation_id: str) -> TicketLookup:
    """Find the conversation's tickets by external id (there may be follow-ups)."""
    answer = await client.call("GET", "/api/v2/tickets", params={"external_id": conversation_id})
    listed = answer.body.get("tickets") if isinstance(answer.body, Mapping) else None
    tickets = [
        t
        for t in listed or ()
        if isinstance(t, Mapping)
        and isinstance(t.get("id"), int)
        and t.get("external_id") == conversation_id
    ]
    open_ = [t for t in tickets if t.get("status") != "closed"]
    closed = [t["id"] for t in tickets if t.get("status") == "closed"]
    latest = max(open_, key=lambda t: int(t["id"]), default=None)
    if latest is None:
        return TicketLookup(None, max(closed, default=None))
    stamp = latest.get("updated_at")
    return TicketLookup(latest["id"], None, stamp if isinstance(stamp, str) else None)


def comment(interaction: Interaction, user_id: int | None, public: bool) -> dict[str, Any]:
    """Return the `comment` object of a ticket create or update for `interaction`."""
    document: dict[str, Any] = {"body": comment_body(interaction), "public": public}
    if user_id is not None and interaction.direction == "inbound":
        document["author_id"] = user_id
    return document


async def create_ticket(
    client: ZendeskClient,
    settings: ZendeskSettings,
    interaction: Interaction,
    user_id: int,
    follow_up_of: int | None,
) -> int:
    """Open the conversation's ticket with `interaction` as its first comment; return its id."""
    assert interaction.conversation_id is not None
    ticket: dict[str, Any] = {
        "external_id": interaction.conversation_id,
        "requester_id": user_id,
        "subject": ticket_subject(interaction),
        "comment": comment(interaction, user_id, settings.public_comments),
        "tags": list(dict.fromkeys([*settings.tags, channel_tag(interaction)])),
    }
    if settings.group_id is not None:
        ticket["group_id"] = settings.group_id
    if settings.brand_id is not None:
        ticket["brand_id"] = settings.brand_id
    if follow_up_of is not None:
        ticket["via_followup_source_id"] = follow_up_of
    answer = await client.call(
        "POST",
        "/api/v2/tickets",
        json={"ticket": ticket},
        # One key per conversation and interaction: the same body every time it is sent.
        headers={"Idempotency-Key": f"{interaction.conversation_id}/{interaction.id}"},
    )
    ticket_id = answer.record("ticket").get("id")
    if not isinstance(ticket_id, int):
        raise TransientDeliveryError("Zendesk answered the ticket create without a ticket id")
    return ticket_id


async def append_comment(
    client: ZendeskClient,
    lookup: TicketLookup,
    interaction: Interaction,
    user_id: int | None,
    public: bool,
) -> None:
    """Add `interaction` as a comment on the open ticket (and its channel's tag).

    A safe update: Zendesk refuses it (409, retried) if the ticket changed since it was read,
    so no send of this request after the one that landed can add the comment again — not even
    the HTTP client's own retry of a PUT whose connection dropped.
    """
    assert lookup.open_id is not None
    if lookup.updated_at is None:
        raise TransientDeliveryError(f"Zendesk listed ticket {lookup.open_id} without updated_at")
    ticket = {
        "comment": comment(interaction, user_id, public),
        "additional_tags": [channel_tag(interaction)],
        "safe_update": True,
        "updated_stamp": lookup.updated_at,
    }
    await client.call("PUT", f"/api/v2/tickets/{lookup.open_id}", json={"ticket": ticket})


async def has_comment(client: ZendeskClient, ticket_id: int, interaction: Interaction) -> bool:
    """Return whether a comment on the ticket carries the interaction's marker."""
    wanted = marker(interaction)
    path, params = f"/api/v2/tickets/{ticket_id}/comments", {"per_page": "100"}
    for _ in range(MAX_COMMENT_PAGES):
        answer = await client.call("GET", path, params=params)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        for listed in body.get("comments") or ():
            if isinstance(listed, Mapping) and wanted in str(listed.get("body", "")):
                return True
        next_page = body.get("next_page")
        if not isinstance(next_page, str) or not next_page:
            return False
        split = urlsplit(next_page)
        path, params = split.path, dict(parse_qsl(split.query))
    raise PermanentDeliveryError(
        f"ticket {ticket_id} has more comments than the backend reads "
        f"({MAX_COMMENT_PAGES * 100}); Zendesk takes no more comments on it anyway"
    )
