"""SendGrid's Event Webhook: the fate of a reply sent through SendGrid.

Point the Event Webhook (Settings → Mail Settings → Event Webhook, events *Delivered*, *Bounced*
and *Dropped*, *Signed Event Webhook Requests* on) at the `sendgrid-inbound` channel's own URL
and copy its verification key into `event_webhook_key`. SendGrid signs each post with ECDSA
(P-256, SHA-256) over the `X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw
body; the base64 DER signature is in `X-Twilio-Email-Event-Webhook-Signature`, the key is base64
DER (SubjectPublicKeyInfo). The body is a JSON array of events: `delivered` becomes a status
interaction `delivered`, `bounce` and `dropped` become `failed` with SendGrid's reason; each is
linked to its reply by the `gateway_message_id` custom argument the sender puts on every send
(SendGrid echoes custom arguments in every event), else by `smtp-id`, the reply's `Message-ID`.
Other events (`processed`, `deferred`, opens, clicks) and events of mail the gateway did not
send are acknowledged and not stored. A resent post carries the same `sg_event_id`s: stored once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from gateway.errors import PayloadError, SignatureError
from gateway.schema import MAX_SHORT

__all__ = [
    "CUSTOM_ARG",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "check_event_signature",
    "load_event_key",
    "sendgrid_statuses",
]

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
CUSTOM_ARG = "gateway_message_id"
"""The custom argument naming the reply's `Message-ID` (without `<>`) on every send."""
_STATES = {"delivered": "delivered", "bounce": "failed", "dropped": "failed"}


def load_event_key(value: str) -> ec.EllipticCurvePublicKey:
    """Return the Event Webhook's verification key (base64 DER), or raise `ValueError`."""
    try:
        key = load_der_public_key(base64.b64decode(value.strip(), validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError(
            "event_webhook_key must be the Event Webhook's verification key as SendGrid shows"
            " it (base64, starting MFkw...)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("event_webhook_key is not an elliptic-curve (ECDSA) public key")
    return key


def check_event_signature(
    key: ec.EllipticCurvePublicKey, headers: Mapping[str, str], body: bytes
) -> None:
    """Raise `SignatureError` unless `key` signed the timestamp header followed by `body`."""
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    try:
        signed = base64.b64decode(signature.strip(), validate=True)
        key.verify(signed, timestamp.strip().encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        raise SignatureError("Event Webhook signature does not match event_webhook_key") from None


def _reply_id(event: Mapping[str, Any]) -> str | None:
    ours = event.get(CUSTOM_ARG)
    if isinstance(ours, str) and ours.strip():
        return ours.strip()
    smtp_id = event.get("smtp-id")
    if isinstance(smtp_id, str) and smtp_id.strip("<> "):
        return smtp_id.strip("<> ")
    return None


def _fields(event: Mapping[str, Any], state: str, received_at: datetime) -> dict[str, Any] | None:
    of_id = _reply_id(event)
    if of_id is None:
        return None  # not mail the gateway sent
    event_id = event.get("sg_event_id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise PayloadError("required string is missing", field="sg_event_id", status=422)
    stamp = event.get("timestamp")
    moment = received_at
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        try:
            moment = datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, ValueError, OSError):
            raise PayloadError("timestamp is out of range", field="timestamp", status=422) from None
    error = None
    if state == "failed":
        said = event.get("reason") or event.get("response") or event.get("type") or "failed"
        error = f"SendGrid {event['event']}: {said}"[:MAX_SHORT]
    metadata = {"event": str(event["event"])}
    if isinstance(event.get("sg_message_id"), str):
        metadata["sg_message_id"] = event["sg_message_id"][:MAX_SHORT]
    return {
        "type": "status",
        "direction": "outbound",
        "external_id": event_id.strip(),
        "occurred_at": moment,
        "status": {"of_external_id": of_id, "state": state, "error": error},
        "metadata": metadata,
    }


def sendgrid_statuses(document: Any, received_at: datetime) -> list[dict[str, Any]]:
    """Return the status interaction fields of the replies' events in an Event Webhook post."""
    if not isinstance(document, list):
        raise PayloadError("expected a JSON array of SendGrid events", status=422)
    found = []
    for event in document:
        if not isinstance(event, Mapping):
            raise PayloadError("expected an object", field="event", status=422)
        kind = event.get("event")
        state = _STATES.get(kind) if isinstance(kind, str) else None
        fields = _fields(event, state, received_at) if state is not None else None
        if fields is not None:
            found.append(fields)
    return found
