"""What an interaction becomes in Salesforce: pure functions, no I/O.

- every interaction is one Task, upserted by its key (`task_key`) in the task external-id field:
  `{channel id}:{external id}` for a message (the gateway's own dedupe key, so a retry or a
  replay writes the same Task and a receipt finds the message it is about),
  `{channel id}:call:{call id}` for a call (every event of one call updates the one Task);
- `TaskSubtype` is `Call` for calls, `Email` for e-mail, `Task` for every other channel;
  calls also carry `CallType` (`Inbound` / `Outbound`), `CallDurationInSeconds` and `CallObject`
  (the provider's call id);
- a Case per conversation (with `cases: true`), its `Origin` from the channel (`CASE_ORIGINS`);
- the Contact: `LastName` is required, so a customer without a display name gets their phone
  number or e-mail address as `LastName` (replaced by a real name once one arrives); e-mail and
  phone numbers only fill empty fields, never overwrite what a person typed in Salesforce;
  only verified identities fill them, and a claimed interaction (`Interaction.identity_claimed`:
  it reached its customer through asserted identities only) fills nothing, not even a name, and
  says in its Task's `Description` that the sender is not verified (`UNVERIFIED`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from gateway.schema import Interaction, Party

__all__ = [
    "CALL_TYPES",
    "CASE_ORIGINS",
    "CONTACT_FIELDS",
    "KEY_LENGTH",
    "PLACEHOLDER_NAME",
    "TASK_SUBTYPES",
    "UNVERIFIED",
    "case_fields",
    "contact_changes",
    "customer_party",
    "receipt_key",
    "receipt_value",
    "task_fields",
    "task_key",
]

KEY_LENGTH: Final = 255
"""Longest value of a Text external-id field."""
CONTACT_FIELDS: Final = ("FirstName", "LastName", "Email", "Phone", "MobilePhone")
"""Standard Contact fields the backend reads and fills."""
PLACEHOLDER_NAME: Final = "Unknown"
"""`LastName` of a contact the gateway knows neither a name, a phone nor an e-mail of."""
TASK_SUBTYPES: Final = {"call": "Call", "email": "Email", "other": "Task"}
"""`TaskSubtype` of a call, an e-mail and every other interaction."""
CALL_TYPES: Final = {"inbound": "Inbound", "outbound": "Outbound"}
"""`CallType` by the call's direction."""
CASE_ORIGINS: Final = {"voice": "Phone", "email": "Email", "other": "Web"}
"""Case `Origin` (standard picklist values) by channel kind: a call, an e-mail, all others."""
UNVERIFIED: Final = "Identity not verified: the sender may not be this customer."
"""The line under the first line of a claimed interaction's Task (and Case) `Description`."""
_KIND_NAMES: Final = {
    "sms": "SMS", "mms": "MMS", "whatsapp": "WhatsApp", "messenger": "Messenger",
    "instagram": "Instagram", "slack": "Slack", "telegram": "Telegram", "email": "E-mail",
    "voice": "Call", "webchat": "Web chat", "other": "Message",
}  # fmt: skip
_SUBJECT: Final = 255
_DESCRIPTION: Final = 32_000
_CALL_OBJECT: Final = 255
_NAME: Final = (40, 80)
"""Lengths of FirstName and LastName."""
_PLACEHOLDER = re.compile(r"^(?:\+?[0-9][0-9 ()-]*|[^@\s]+@[^@\s]+|" + PLACEHOLDER_NAME + ")$")


def task_key(interaction: Interaction) -> str:
    """Return the task external-id value of the Task `interaction` writes."""
    channel = interaction.channel.id
    if interaction.type == "call":
        return _bounded(
            f"{channel}:call:{interaction.thread_external_id or interaction.external_id}"
        )
    return _bounded(f"{channel}:{interaction.external_id}")


def receipt_key(receipt: Interaction) -> str:
    """Return the task external-id value of the message a status receipt is about."""
    assert receipt.status is not None
    return _bounded(f"{receipt.channel.id}:{receipt.status.of_external_id}")


def receipt_value(receipt: Interaction) -> str:
    """Return what a receipt writes into the delivery-status field: `read`, `failed: ...`."""
    assert receipt.status is not None
    value: str = receipt.status.state
    if receipt.status.error:
        value += f": {receipt.status.error}"
    return value[:KEY_LENGTH]


def customer_party(interaction: Interaction) -> Party:
    """Return the customer's side: the sender of what came in, the recipient of what went out."""
    return interaction.sender if interaction.direction == "inbound" else interaction.recipient


def contact_changes(
    interactions: Iterable[Interaction], current: Mapping[str, Any] | None
) -> dict[str, str]:
    """Return the Contact fields to write for a customer's `interactions`.

    `current` is the contact Salesforce holds (None: it is created, so `LastName` is set). Only
    empty fields are filled; a `LastName` that is a placeholder (a phone number, an e-mail
    address, `Unknown`) is replaced by a real name once one is known. Only verified identities
    fill `Email`, `Phone` and `MobilePhone`, and claimed interactions fill nothing: their
    sender may not be this customer.
    """
    current = current or {}
    name: str | None = None
    emails: list[str] = []
    phones: list[str] = []
    for interaction in interactions:
        if interaction.identity_claimed:
            continue
        party = customer_party(interaction)
        name = party.display_name or name
        for identity in party.identities:
            bucket = (
                emails if identity.kind == "email" else phones if identity.kind == "phone" else None
            )
            if bucket is not None and identity.verified and identity.value not in bucket:
                bucket.append(identity.value)
    changes: dict[str, str] = {}
    if not current.get("Email") and emails:
        changes["Email"] = emails[-1]
    phone, mobile = current.get("Phone"), current.get("MobilePhone")
    for number in phones:
        if number in (phone, mobile):
            continue
        if not phone:
            phone = changes["Phone"] = number
        elif not mobile:
            mobile = changes["MobilePhone"] = number
    last, first = current.get("LastName"), current.get("FirstName")
    placeholder = not last or (not first and _PLACEHOLDER.match(str(last)) is not None)
    if name and placeholder:
        given, _, family = name.strip().rpartition(" ")
        if given.strip():
            changes["FirstName"] = given.strip()[: _NAME[0]]
        changes["LastName"] = family[: _NAME[1]]
    elif not last:
        changes["LastName"] = (phones[:1] or emails[:1] or [PLACEHOLDER_NAME])[0][: _NAME[1]]
    return changes


def task_fields(interaction: Interaction, *, status: str, new: bool) -> dict[str, Any]:
    """Return the Task fields `interaction` writes (`TaskSubtype` only on a new Task: it cannot
    be updated)."""
    fields: dict[str, Any] = {
        "Subject": _subject(interaction)[:_SUBJECT],
        "Description": _description(interaction)[:_DESCRIPTION],
        "ActivityDate": interaction.occurred_at.date().isoformat(),
        "Status": status,
    }
    if new:
        fields["TaskSubtype"] = _subtype(interaction)
    call = interaction.call
    if interaction.type == "call" and call is not None:
        fields["CallType"] = CALL_TYPES[interaction.direction]
        fields["CallObject"] = (interaction.thread_external_id or interaction.external_id)[
            :_CALL_OBJECT
        ]
        if call.duration_s is not None:
            fields["CallDurationInSeconds"] = call.duration_s
    return fields


def case_fields(interaction: Interaction) -> dict[str, str]:
    """Return the fields of the Case a conversation's first delivered interaction opens."""
    party = customer_party(interaction)
    who = party.display_name or next((i.value for i in party.identities), "a customer")
    subject = (interaction.content.subject if interaction.content else None) or (
        f"{_KIND_NAMES[interaction.channel.kind]} conversation with {who}"
    )
    kind = interaction.channel.kind
    return {
        "Subject": subject[:_SUBJECT],
        "Description": _description(interaction)[:_DESCRIPTION],
        "Origin": CASE_ORIGINS.get(kind, CASE_ORIGINS["other"]),
    }


def _subtype(interaction: Interaction) -> str:
    if interaction.type == "call":
        return TASK_SUBTYPES["call"]
    return TASK_SUBTYPES["email" if interaction.channel.kind == "email" else "other"]


def _who(party: Party) -> str:
    values = [party.display_name] if party.display_name else []
    return ", ".join(values + [i.value for i in party.identities]) or "unknown"


def _subject(interaction: Interaction) -> str:
    party = customer_party(interaction)
    inbound = interaction.direction == "inbound"
    if interaction.type == "call":
        number = next((i.value for i in party.identities if i.kind == "phone"), None)
        return (
            f"{'Call from' if inbound else 'Call to'} {party.display_name or number or 'unknown'}"
        )
    subject = interaction.content.subject if interaction.content else None
    kind = _KIND_NAMES[interaction.channel.kind]
    if subject:
        return f"{kind}: {subject}"
    arrow = "from" if inbound else "to"
    name = party.display_name or next((i.value for i in party.identities), "unknown")
    return f"{kind} {arrow} {name}"


def _description(interaction: Interaction) -> str:
    """Return the text of the Task: where it came from, what it said, attachments, call facts."""
    party = customer_party(interaction)
    arrow = "from" if interaction.direction == "inbound" else "to"
    kind = _KIND_NAMES[interaction.channel.kind]
    lines = [f"{kind} {interaction.direction} via {interaction.channel.id} {arrow} {_who(party)}"]
    if interaction.identity_claimed:
        lines.append(UNVERIFIED)
    content = interaction.content
    if content is not None:
        lines += [content.text or ""]
        lines += [f"Attachment: {a.url}" for a in content.attachments if a.url]
    call = interaction.call
    if call is not None:
        lines.append(f"Call status: {call.status}")
        if call.duration_s is not None:
            lines.append(f"Duration: {call.duration_s} s")
        if call.recording_url:
            lines.append(f"Recording: {call.recording_url}")
        if call.transcript:
            lines += ["Transcript:", call.transcript]
    return "\n".join(line for line in lines if line)


def _bounded(key: str) -> str:
    """Return `key`, or its stable digest form when it is longer than the field holds."""
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_LENGTH - len(digest) - 8]}:sha256:{digest}"
