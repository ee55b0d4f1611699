"""Programmable Messaging webhooks (SMS, MMS, WhatsApp) as interaction fields.

Two kinds of request reach a messaging channel: an incoming message (the number's or sender's
"A message comes in" webhook) and a status callback about a message the company sent (its
`StatusCallback`), which carries `MessageStatus`. Inbound webhooks carry no timestamp, so an
incoming message occurred when the gateway received it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from gateway.errors import PayloadError
from gateway.schema import StatusState
from gateway_twilio.params import Params

__all__ = ["MAX_MEDIA", "STATES", "is_status_callback", "message_fields", "status_fields"]

MAX_MEDIA: Final = 100
"""Most attachments one message may list (Twilio sends at most 10 per MMS)."""

STATES: Final[dict[str, StatusState]] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "partially_delivered": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
"""Twilio's `MessageStatus` values for outbound messages, on the canonical `status.state`."""

_INBOUND_STATES = frozenset({"receiving", "received"})
_MESSAGE_EXTRAS = (
    "AccountSid", "MessagingServiceSid", "NumSegments", "NumMedia",
    "FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip", "ToCountry",
    # WhatsApp
    "WaId", "MessageType", "ButtonText", "ButtonPayload",
    "Latitude", "Longitude", "Address", "Label",
    "OriginalRepliedMessageSid", "OriginalRepliedMessageSender", "Forwarded", "FrequentlyForwarded",
    "ReferralCtwaClid", "ReferralSourceId", "ReferralSourceType", "ReferralSourceUrl",
    "ReferralHeadline", "ReferralBody",
)  # fmt: skip
_STATUS_EXTRAS = (
    "MessageStatus", "ErrorCode", "ErrorMessage", "AccountSid", "MessagingServiceSid",
    "RawDlrDoneDate",
)  # fmt: skip


def is_status_callback(params: Params) -> bool:
    """Return whether `params` report the status of an outbound message."""
    state = params.get("MessageStatus") or params.get("SmsStatus")
    return state is not None and state.strip().lower() not in _INBOUND_STATES


def message_fields(params: Params, received_at: datetime) -> dict[str, Any]:
    """Return the fields of the incoming message `params` describe."""
    return {
        "type": "message",
        "direction": "inbound",
        "external_id": params.require("MessageSid"),
        "occurred_at": received_at,
        "sender": {
            "display_name": params.get("ProfileName"),
            "identities": params.identity("From"),
        },
        "recipient": {"identities": params.identity("To")},
        "content": {"text": _text(params), "attachments": _attachments(params)},
        "metadata": params.extras(_MESSAGE_EXTRAS),
    }


def status_fields(params: Params, received_at: datetime) -> dict[str, Any]:
    """Return the fields of the status callback `params` describe (one per message and state)."""
    sid = params.require("MessageSid")
    reported = (params.get("MessageStatus") or params.require("SmsStatus")).strip().lower()
    state = STATES.get(reported)
    if state is None:
        raise PayloadError(
            f"unknown message status {reported!r:.40}; known: {', '.join(STATES)}",
            field="MessageStatus",
            status=422,
        )
    metadata = params.extras(_STATUS_EXTRAS)
    metadata["MessageStatus"] = reported
    return {
        "type": "status",
        "direction": "outbound",
        "external_id": f"{sid}/{reported}",
        "occurred_at": received_at,
        "sender": {"identities": params.identity("From")},
        "recipient": {"identities": params.identity("To")},
        "status": {"of_external_id": sid, "state": state, "error": _error(params, reported)},
        "metadata": metadata,
    }


def _text(params: Params) -> str | None:
    """Return what the message says: its body, a tapped button's text, or a shared location."""
    body = params.get("Body") or params.get("ButtonText")
    if body is not None:
        return body
    latitude, longitude = params.get("Latitude"), params.get("Longitude")
    if latitude is None or longitude is None:
        return None
    place = ", ".join(v.strip() for v in (params.get("Label"), params.get("Address")) if v)
    where = f"{latitude.strip()}, {longitude.strip()}"
    return f"Location: {place} ({where})" if place else f"Location: {where}"


def _attachments(params: Params) -> list[dict[str, str | None]]:
    """Return `MediaUrl{N}` and `MediaContentType{N}` for N below `NumMedia`."""
    return [
        {"url": params.require(f"MediaUrl{n}"), "content_type": params.get(f"MediaContentType{n}")}
        for n in range(params.count("NumMedia", most=MAX_MEDIA) or 0)
    ]


def _error(params: Params, reported: str) -> str | None:
    """Return `ErrorCode: ErrorMessage` (either alone if the other is missing), or None."""
    code, message = params.get("ErrorCode"), params.get("ErrorMessage")
    if code and message:
        return f"{code.strip()}: {message.strip()}"
    if code or message:
        return (code or message or "").strip()
    return "canceled" if reported == "canceled" else None
