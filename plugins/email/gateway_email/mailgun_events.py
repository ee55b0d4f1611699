"""Mailgun's event webhooks: the fate of a reply sent through Mailgun.

Point the sending domain's `delivered` and `permanent_fail` webhooks at the `mailgun-inbound`
channel's own URL: Mailgun posts JSON `{"signature": {timestamp, token, signature},
"event-data": {...}}`, signed like route posts (HMAC-SHA256 of `timestamp + token` with the
HTTP webhook signing key; the channel checks it, the timestamp's age and the token's reuse).
`event: delivered` becomes a status interaction `delivered`; `event: failed` with `severity:
permanent` becomes `failed` with the recipient server's answer. `of_external_id` is
`event-data.message.headers.message-id` (no `<>`), the send's answered `id`. A temporary
failure (Mailgun keeps trying) and every other event are acknowledged and not stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.errors import PayloadError
from gateway.schema import MAX_SHORT

__all__ = ["mailgun_status", "signature_fields"]


def _object(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = document.get(name)
    if not isinstance(value, Mapping):
        raise PayloadError("expected an object", field=name, status=422)
    return value


def signature_fields(document: Any) -> tuple[str | None, str | None, str | None]:
    """Return `timestamp`, `token` and `signature` of an event webhook body (None if absent)."""
    found = document.get("signature") if isinstance(document, Mapping) else None
    signed: Mapping[str, Any] = found if isinstance(found, Mapping) else {}

    def text(name: str) -> str | None:
        value = signed.get(name)
        return value if isinstance(value, str) else None

    return text("timestamp"), text("token"), text("signature")


def mailgun_status(document: Any, received_at: datetime) -> dict[str, Any] | None:
    """Return the status interaction fields of a `delivered` or permanent `failed` event, or
    None for an event that changes nothing about a reply."""
    if not isinstance(document, Mapping):
        raise PayloadError("expected a JSON object: a Mailgun event webhook", status=422)
    event = _object(document, "event-data")
    kind = event.get("event")
    if kind not in ("delivered", "failed") or (
        kind == "failed" and event.get("severity") != "permanent"
    ):
        return None
    headers = _object(_object(event, "message"), "headers")
    message_id, event_id = headers.get("message-id"), event.get("id")
    if not isinstance(message_id, str) or not message_id.strip("<> "):
        raise PayloadError("required string is missing", field="message-id", status=422)
    if not isinstance(event_id, str) or not event_id.strip():
        raise PayloadError("required string is missing", field="id", status=422)
    error = None
    if kind == "failed":
        status = event.get("delivery-status")
        status = status if isinstance(status, Mapping) else {}
        said = status.get("description") or status.get("message") or event.get("reason")
        error = f"Mailgun {status.get('code', 'failed')}: {said or 'permanent failure'}"
    stamp = event.get("timestamp")
    moment = received_at
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            moment = datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, ValueError, OSError):
            raise PayloadError("timestamp is out of range", field="timestamp", status=422) from None
    return {
        "type": "status",
        "direction": "outbound",
        "external_id": event_id.strip(),
        "occurred_at": moment,
        "status": {
            "of_external_id": message_id.strip("<> "),
            "state": "delivered" if kind == "delivered" else "failed",
            "error": error[:MAX_SHORT] if error else None,
        },
        "metadata": {"event": str(kind)},
    }
