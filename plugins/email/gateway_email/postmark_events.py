"""Postmark's Delivery and Bounce webhooks: the fate of a reply sent through Postmark.

Point the outbound stream's Delivery and Bounce webhooks at the `postmark-inbound` channel's own
URL (with its Basic auth credentials, as for inbound): a body with `RecordType: Delivery`
becomes a status interaction `delivered`, one with `RecordType: Bounce` of a permanent kind
(`HardBounce`, `BadEmailAddress`, `Blocked`, ..., or any that made Postmark deactivate the
address, `Inactive: true`) becomes `failed` with Postmark's description. `of_external_id` is
the `MessageID` the send answered. Soft and transient bounces (Postmark keeps trying, or it was
an auto-responder) are acknowledged and not stored: they change nothing about the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.errors import PayloadError
from gateway.schema import MAX_SHORT

__all__ = ["EVENT_TYPES", "PERMANENT_BOUNCES", "postmark_status"]

EVENT_TYPES = frozenset({"Delivery", "Bounce"})
"""The `RecordType`s read as the status of a reply."""
PERMANENT_BOUNCES = frozenset(
    {
        "HardBounce",
        "BadEmailAddress",
        "Blocked",
        "ManuallyDeactivated",
        "SpamNotification",
        "DMARCPolicy",
        "SMTPApiError",
        "Unconfirmed",
        "TemplateRenderingFailed",
    }
)
"""Bounce `Type`s after which Postmark will not deliver the message."""


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError("required string is missing or blank", field=name, status=422)
    return value.strip()


def _moment(document: Mapping[str, Any], name: str, received_at: datetime) -> datetime:
    value = document.get(name)
    if not isinstance(value, str):
        return received_at
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError("expected an ISO 8601 time", field=name, status=422) from None
    return moment if moment.tzinfo else received_at


def postmark_status(document: Mapping[str, Any], received_at: datetime) -> dict[str, Any] | None:
    """Return the status interaction fields of a Delivery or Bounce webhook, or None for a
    bounce that changes nothing (soft, transient)."""
    record = document.get("RecordType")
    message_id = _text(document, "MessageID")
    if record == "Delivery":
        state, error, moment = "delivered", None, _moment(document, "DeliveredAt", received_at)
        external_id = f"{message_id}/delivered"
    else:
        kind = _text(document, "Type")
        if kind not in PERMANENT_BOUNCES and document.get("Inactive") is not True:
            return None
        description = document.get("Description") or document.get("Details") or kind
        state, error = "failed", f"Postmark {kind}: {description}"[:MAX_SHORT]
        moment = _moment(document, "BouncedAt", received_at)
        external_id = f"{message_id}/bounce/{document.get('ID', kind)}"
    metadata = {"record_type": str(record)}
    if isinstance(document.get("MessageStream"), str):
        metadata["message_stream"] = document["MessageStream"][:MAX_SHORT]
    return {
        "type": "status",
        "direction": "outbound",
        "external_id": external_id,
        "occurred_at": moment,
        "status": {"of_external_id": message_id, "state": state, "error": error},
        "metadata": metadata,
    }
