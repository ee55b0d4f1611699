"""What an interaction becomes in Zendesk: pure functions, no I/O.

- the customer: one end user, `external_id` = the gateway customer id, named after the customer,
  with an `email` or `phone_number` identity per verified address and number the gateway saw;
- the conversation: one ticket, `external_id` = the conversation id, requested by that user;
- each message, and each call once it has ended: one comment on that ticket, headed by the
  channel it came on, listing attachments as links (never uploaded), and for a call its outcome,
  duration, recording and transcript; its last line is the marker `gateway ref {interaction id}`,
  which the backend looks for before it appends, so a retried delivery never adds a second one;
- a receipt that says a message failed: an internal note; other receipts write nothing.

A claimed interaction (`Interaction.identity_claimed`: it reached its customer through asserted
identities only, a web-chat form's typed e-mail, an e-mail without SPF/DKIM) gives the user
nothing, no identity and no name; its comment says the sender is not verified (`UNVERIFIED`).
"""

from __future__ import annotations

from typing import Final

from gateway.schema import Interaction, Party

__all__ = [
    "FINAL_CALL_STATUSES",
    "IDENTITY_TYPES",
    "KIND_NAMES",
    "UNVERIFIED",
    "channel_tag",
    "comment_body",
    "customer_name",
    "customer_party",
    "identities",
    "marker",
    "ticket_subject",
    "user_name",
    "writes_comment",
]

KIND_NAMES: Final = {
    "sms": "SMS", "mms": "MMS", "whatsapp": "WhatsApp", "messenger": "Messenger",
    "instagram": "Instagram", "slack": "Slack", "telegram": "Telegram", "email": "E-mail",
    "voice": "Call", "webchat": "Web chat", "other": "Message",
}  # fmt: skip
FINAL_CALL_STATUSES: Final = frozenset(
    {"completed", "busy", "failed", "no-answer", "canceled", "missed", "voicemail"}
)
"""Call statuses that end a call (Twilio's names): the call's comment is written on these; the
events before (queued, ringing, in-progress) write nothing, since a comment cannot be edited."""
IDENTITY_TYPES: Final = {"email": "email", "phone": "phone_number"}
"""Gateway identity kinds and the Zendesk user identity type each becomes."""
SUBJECT_LIMIT: Final = 150
UNVERIFIED: Final = "Identity not verified: the sender may not be this customer."
"""The line under the heading of a claimed interaction's comment."""


def customer_party(interaction: Interaction) -> Party:
    """Return the customer's side: the sender of what came in, the recipient of what went out."""
    return interaction.sender if interaction.direction == "inbound" else interaction.recipient


def writes_comment(interaction: Interaction) -> bool:
    """Return whether the interaction becomes a comment (else it is delivered as a no-op)."""
    if interaction.type == "call":
        assert interaction.call is not None
        return interaction.call.status.lower() in FINAL_CALL_STATUSES
    if interaction.type == "status":
        assert interaction.status is not None
        return interaction.status.state == "failed"
    return True


def marker(interaction: Interaction) -> str:
    """Return the line that identifies the interaction's comment on its ticket."""
    return f"gateway ref {interaction.id}"


def channel_tag(interaction: Interaction) -> str:
    """Return the tag naming the interaction's channel kind, e.g. `gateway_sms`."""
    return f"gateway_{interaction.channel.kind}"


def identities(interaction: Interaction) -> list[tuple[str, str]]:
    """Return the customer's verified e-mail addresses and phone numbers as (Zendesk type,
    value): none for a claimed interaction, whose sender may not be this customer."""
    if interaction.identity_claimed:
        return []
    party = customer_party(interaction)
    found = [
        (IDENTITY_TYPES[i.kind], i.value)
        for i in party.identities
        if i.kind in IDENTITY_TYPES and i.verified
    ]
    return list(dict.fromkeys(found))


def customer_name(interaction: Interaction) -> str | None:
    """Return the customer's display name, unless the interaction is claimed (a name typed by
    a sender who may not be this customer never names the user)."""
    if interaction.identity_claimed:
        return None
    return customer_party(interaction).display_name


def user_name(interaction: Interaction) -> str:
    """Return the name of a new user: the customer's name, else a verified address or number,
    else `Customer cus_...` (always that for a claimed interaction)."""
    if name := customer_name(interaction):
        return name[:255]
    known = identities(interaction)
    return known[0][1] if known else f"Customer {interaction.customer_id}"


def ticket_subject(interaction: Interaction) -> str:
    """Return the subject of the ticket a conversation's first comment opens."""
    subject = interaction.content.subject if interaction.content else None
    if not subject:
        subject = f"{KIND_NAMES[interaction.channel.kind]} conversation with {_who(interaction)}"
    return subject[:SUBJECT_LIMIT]


def comment_body(interaction: Interaction) -> str:
    """Return the plain-text comment: where it came from, what it said, then the marker."""
    lines = [_heading(interaction)]
    lines += [UNVERIFIED, ""] if interaction.identity_claimed else [""]
    if interaction.type == "status":
        assert interaction.status is not None
        lines.append(
            f"The message {interaction.status.of_external_id} could not be delivered"
            + (f": {interaction.status.error}" if interaction.status.error else ".")
        )
    content = interaction.content
    if content is not None and content.text:
        lines.append(content.text)
    if content is not None:
        for attachment in content.attachments:
            if attachment.url:
                name = attachment.filename or attachment.content_type or "file"
                lines.append(f"Attachment: {name} {attachment.url}")
    if interaction.call is not None:
        lines += _call_lines(interaction)
    lines += ["", f"[{marker(interaction)}]"]
    return "\n".join(lines)


def _heading(interaction: Interaction) -> str:
    kind = KIND_NAMES[interaction.channel.kind]
    channel = interaction.channel.id
    if interaction.type == "status":
        return f"Delivery failure on {kind} ({channel})"
    if interaction.type == "call":
        verb = "Inbound call from" if interaction.direction == "inbound" else "Outbound call to"
        return f"{verb} {_who(interaction)} via {channel}"
    arrow = "from" if interaction.direction == "inbound" else "to"
    return f"{kind} {interaction.direction} via {channel} {arrow} {_who(interaction)}"


def _call_lines(interaction: Interaction) -> list[str]:
    call = interaction.call
    assert call is not None
    status = f"Call {call.status}"
    if call.duration_s is not None:
        minutes, seconds = divmod(call.duration_s, 60)
        status += f", duration {minutes} min {seconds} s ({call.duration_s} s)"
    lines = [status]
    if call.recording_url:
        lines.append(f"Recording: {call.recording_url}")
    if call.transcript:
        lines += ["Transcript:", call.transcript]
    return lines


def _who(interaction: Interaction) -> str:
    party = customer_party(interaction)
    names = [party.display_name] if party.display_name else []
    return ", ".join(names + [i.value for i in party.identities]) or "unknown"
