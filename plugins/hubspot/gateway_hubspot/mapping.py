"""What an interaction becomes in HubSpot: pure functions, no I/O.

- SMS / MMS and WhatsApp messages: a `communications` object (`SMS`, `WHATS_APP`: the channel
  types HubSpot's communications API supports);
- calls: a `calls` object (direction, status, duration in ms, numbers, recording, transcript);
- e-mail: an `emails` object (direction, subject, text, HTML, headers);
- every other message (web chat, Messenger, Instagram, Slack, Telegram, ...): a `notes` object
  whose body says which channel it came on.

Every engagement carries `gateway_key`, unique in HubSpot: `{channel id}:{external id}` for a
message (the gateway's own dedupe key, so a retry or a replay writes the same record, and a
receipt finds the message it is about), `{channel id}:call:{call id}` for a call (every event of
one call updates the one call record).

An interaction the gateway marks `context.identity_claimed` (it reached its customer through
identities nobody verified: typed in a form, an e-mail without SPF/DKIM) sets
`gateway_identity_claimed: true` on its engagement, says so in a note's body, and never fills
the contact's e-mail, phone or name; only verified identities ever fill them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Final

import orjson

from gateway.schema import Interaction, Party

__all__ = [
    "CALL_STATUSES",
    "CLAIMED",
    "COMMUNICATION_CHANNELS",
    "ENGAGEMENT_TYPES",
    "contact_updates",
    "customer_party",
    "engagement_key",
    "engagement_properties",
    "engagement_type",
    "hubspot_time",
    "receipt_key",
    "receipt_properties",
    "ticket_properties",
]

ENGAGEMENT_TYPES: Final = ("communications", "calls", "emails", "notes")
CLAIMED: Final = "gateway_identity_claimed"
"""The engagement property saying `true` when the interaction's identity was only claimed."""
COMMUNICATION_CHANNELS: Final = {"sms": "SMS", "mms": "SMS", "whatsapp": "WHATS_APP"}
"""Channel kinds HubSpot's communications object has a `hs_communication_channel_type` for."""
CALL_STATUSES: Final = {
    "queued": "QUEUED",
    "initiated": "CONNECTING",
    "ringing": "RINGING",
    "in-progress": "IN_PROGRESS",
    "answered": "IN_PROGRESS",
    "completed": "COMPLETED",
    "busy": "BUSY",
    "failed": "FAILED",
    "no-answer": "NO_ANSWER",
    "canceled": "CANCELED",
}
"""Provider call statuses (Twilio's names) as `hs_call_status` values."""
_KIND_NAMES: Final = {
    "sms": "SMS", "mms": "MMS", "whatsapp": "WhatsApp", "messenger": "Messenger",
    "instagram": "Instagram", "slack": "Slack", "telegram": "Telegram", "email": "E-mail",
    "voice": "Voice", "webchat": "Web chat", "other": "Message",
}  # fmt: skip


def engagement_type(interaction: Interaction) -> str:
    """Return the HubSpot object type an interaction (or the message a receipt is about) is."""
    kind = interaction.channel.kind
    if interaction.type == "call":
        return "calls"
    if kind in COMMUNICATION_CHANNELS:
        return "communications"
    return "emails" if kind == "email" else "notes"


def engagement_key(interaction: Interaction) -> str:
    """Return the `gateway_key` of the engagement an interaction writes."""
    if interaction.type == "call":
        call_id = interaction.thread_external_id or interaction.external_id
        return f"{interaction.channel.id}:call:{call_id}"
    return f"{interaction.channel.id}:{interaction.external_id}"


def receipt_key(receipt: Interaction) -> str:
    """Return the `gateway_key` of the message a status receipt is about."""
    assert receipt.status is not None
    return f"{receipt.channel.id}:{receipt.status.of_external_id}"


def hubspot_time(interaction: Interaction) -> str:
    """Return `occurred_at` as HubSpot's `hs_timestamp`: UTC ISO 8601 with milliseconds."""
    return interaction.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def customer_party(interaction: Interaction) -> Party:
    """Return the customer's side: the sender of what came in, the recipient of what went out."""
    return interaction.sender if interaction.direction == "inbound" else interaction.recipient


def engagement_properties(interaction: Interaction, owner_id: str | None) -> dict[str, str]:
    """Return the properties of the engagement `interaction` writes (never empty values)."""
    kind = engagement_type(interaction)
    props = {
        "hs_timestamp": hubspot_time(interaction),
        "gateway_key": engagement_key(interaction),
        "gateway_interaction_id": interaction.id,
    }
    if owner_id:
        props["hubspot_owner_id"] = owner_id
    if interaction.identity_claimed:
        props[CLAIMED] = "true"
    if kind == "communications":
        props["hs_communication_channel_type"] = COMMUNICATION_CHANNELS[interaction.channel.kind]
        props["hs_communication_logged_from"] = "CRM"
        props["hs_communication_body"] = _plain_body(interaction)
    elif kind == "calls":
        props.update(_call_properties(interaction))
    elif kind == "emails":
        props.update(_email_properties(interaction))
    else:
        props["hs_note_body"] = _note_body(interaction)
    return {key: value for key, value in props.items() if value}


def receipt_properties(receipt: Interaction, engagement: str) -> dict[str, str]:
    """Return what a status receipt changes on the engagement of its message."""
    assert receipt.status is not None
    props: dict[str, str] = {"gateway_status": receipt.status.state}
    if receipt.status.error:
        props["gateway_status"] += f": {receipt.status.error}"
    if engagement == "emails":
        props["hs_email_status"] = "FAILED" if receipt.status.state == "failed" else "SENT"
    return props


def contact_updates(interaction: Interaction, current: Mapping[str, str | None]) -> dict[str, str]:
    """Return what the gateway knows of the customer that the contact `current` lacks.

    Only empty fields are filled: an e-mail address, a phone number or a name a person typed in
    HubSpot is never overwritten, and a name only comes with a contact that has none.
    """
    if interaction.identity_claimed:  # the stranger's details never land on the customer's contact
        return {}
    party = customer_party(interaction)
    known = {
        i.kind: i.value
        for i in reversed(party.identities)
        if i.kind in ("email", "phone") and i.verified
    }
    updates: dict[str, str] = {}
    for field in ("email", "phone"):
        if field in known and not current.get(field):
            updates[field] = known[field]
    if party.display_name and not current.get("firstname") and not current.get("lastname"):
        first, _, last = party.display_name.partition(" ")
        updates["firstname"] = first
        if last.strip():
            updates["lastname"] = last.strip()
    return updates


def ticket_properties(interaction: Interaction, pipeline: str, stage: str) -> dict[str, str]:
    """Return the properties of the ticket a conversation's first delivered interaction opens."""
    assert interaction.conversation_id is not None
    party = customer_party(interaction)
    who = party.display_name or next((i.value for i in party.identities), "a customer")
    subject = (interaction.content.subject if interaction.content else None) or (
        f"{_KIND_NAMES[interaction.channel.kind]} conversation with {who}"
    )
    return {
        "subject": subject[:255],
        "content": _plain_body(interaction)[:2000],
        "hs_pipeline": pipeline,
        "hs_pipeline_stage": stage,
        "gateway_conversation_id": interaction.conversation_id,
    }


def _plain_body(interaction: Interaction) -> str:
    content = interaction.content
    if content is None:
        return ""
    lines = [content.text or ""]
    lines += [f"Attachment: {a.url}" for a in content.attachments if a.url]
    return "\n".join(line for line in lines if line)


def _note_body(interaction: Interaction) -> str:
    """Return an HTML note saying where the message came from, then what it said."""
    party = customer_party(interaction)
    names = [party.display_name] if party.display_name else []
    who = ", ".join(names + [i.value for i in party.identities])
    arrow = "from" if interaction.direction == "inbound" else "to"
    kind, channel = _KIND_NAMES[interaction.channel.kind], interaction.channel.id
    title = f"{kind} {interaction.direction} via {channel}"
    heading = (
        f"<p><strong>{html.escape(title)}</strong> {arrow} {html.escape(who or 'unknown')}</p>"
    )
    if interaction.identity_claimed:
        heading += "<p><em>Identity not verified: the sender may not be this contact.</em></p>"
    body = "".join(
        f"<p>{html.escape(line)}</p>" for line in _plain_body(interaction).splitlines() if line
    )
    return heading + body


def _phone(party: Party) -> str | None:
    return next((i.value for i in party.identities if i.kind == "phone"), None)


def _call_properties(interaction: Interaction) -> dict[str, str]:
    call = interaction.call
    assert call is not None
    inbound = interaction.direction == "inbound"
    caller, callee = _phone(interaction.sender), _phone(interaction.recipient)
    customer = caller if inbound else callee
    title = f"{'Inbound call from' if inbound else 'Outbound call to'} {customer or 'unknown'}"
    props = {
        "hs_call_direction": "INBOUND" if inbound else "OUTBOUND",
        "hs_call_title": title,
        "hs_call_from_number": caller or "",
        "hs_call_to_number": callee or "",
        "hs_call_status": CALL_STATUSES.get(call.status.lower(), ""),
        "hs_call_recording_url": call.recording_url or "",
        "hs_call_body": call.transcript or _plain_body(interaction),
    }
    if call.duration_s is not None:
        props["hs_call_duration"] = str(call.duration_s * 1000)
    return props


def _email_properties(interaction: Interaction) -> dict[str, str]:
    content = interaction.content
    inbound = interaction.direction == "inbound"
    headers = {
        "from": next(iter(_addresses(interaction.sender)), {}),
        "to": _addresses(interaction.recipient),
        "cc": [],
        "bcc": [],
    }
    return {
        "hs_email_direction": "INCOMING_EMAIL" if inbound else "EMAIL",
        "hs_email_status": "" if inbound else "SENT",
        "hs_email_subject": (content.subject if content else None) or "",
        "hs_email_text": (content.text if content else None) or "",
        "hs_email_html": (content.html if content else None) or "",
        "hs_email_headers": orjson.dumps(headers).decode(),
    }


def _addresses(party: Party) -> list[dict[str, str]]:
    names = (party.display_name or "").partition(" ")
    out = []
    for identity in party.identities:
        if identity.kind == "email":
            entry = {"email": identity.value}
            if names[0]:
                entry["firstName"] = names[0]
            if names[2]:
                entry["lastName"] = names[2]
            out.append(entry)
    return out
