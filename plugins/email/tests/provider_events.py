"""The providers' delivery events as they post them: Postmark's Delivery and Bounce webhooks,
Mailgun's signed event webhooks, SendGrid's ECDSA-signed Event Webhook (a key pair made here,
as SendGrid makes one per account)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from email_cases import (
    mailgun_signature,
)


def delivery_webhook(message_id: str) -> bytes:
    """Return Postmark's Delivery webhook for the message `message_id`."""
    return json.dumps(
        {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": "ana@example.com",
            "Tag": "",
            "DeliveredAt": "2026-11-22T10:05:03.1234567Z",
            "Details": "smtp;250 2.0.0 OK 1764756303 gmail",
            "Metadata": {},
        }
    ).encode()


def mailgun_event(message_id: str, event: str = "delivered", **fields: Any) -> bytes:
    """Return Mailgun's event webhook for the message `message_id`, signed now."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    data = {
        "event": event,
        "id": f"ev-{token[:12]}",
        "timestamp": time.time(),
        "log-level": "info",
        "recipient": "renee@example.fr",
        "message": {"headers": {"message-id": message_id, "to": "renee@example.fr"}, "size": 341},
        "delivery-status": {"code": 250, "message": "OK", "description": ""},
        **fields,
    }
    signature = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(timestamp, token),
    }
    return json.dumps({"signature": signature, "event-data": data}).encode()


EVENT_KEY = ec.generate_private_key(ec.SECP256R1())
"""The Event Webhook's signing key pair, as SendGrid generates one per account."""
EVENT_PUBLIC_KEY = base64.b64encode(
    EVENT_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
).decode()


def sendgrid_events(message_id: str, event: str = "delivered") -> bytes:
    """Return a SendGrid Event Webhook post (a JSON array) for the message `message_id`."""
    events = [
        {
            "email": "jose.munoz@example.es",
            "timestamp": int(time.time()),
            "event": "processed",
            "sg_event_id": secrets.token_urlsafe(16),
            "gateway_message_id": message_id,
        },
        {
            "email": "jose.munoz@example.es",
            "timestamp": int(time.time()),
            "event": event,
            "smtp-id": f"<{message_id}>",
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "response": "250 OK",
            "gateway_message_id": message_id,
        },
    ]
    return json.dumps(events).encode()


def sign_sendgrid(body: bytes) -> dict[str, str]:
    """Return the headers SendGrid signs an Event Webhook post with."""
    timestamp = str(int(time.time()))
    signature = EVENT_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


DELIVERY_WEBHOOKS = {
    "postmark": delivery_webhook,
    "mailgun": mailgun_event,
    "sendgrid": sendgrid_events,
}
"""The providers whose delivery events the channel reads, and each one's Delivery webhook."""


def bounce_webhook(message_id: str, kind: str = "HardBounce", inactive: bool = True) -> bytes:
    """Return Postmark's Bounce webhook for the message `message_id`."""
    return json.dumps(
        {
            "RecordType": "Bounce",
            "ID": 4323372036854775807,
            "Type": kind,
            "TypeCode": 1,
            "Name": "Hard bounce",
            "Tag": "",
            "MessageID": message_id,
            "ServerID": 23,
            "MessageStream": "outbound",
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
            "Email": "ana@example.com",
            "From": "support@acme.example",
            "BouncedAt": "2026-11-22T10:05:04Z",
            "DumpAvailable": True,
            "Inactive": inactive,
            "CanActivate": True,
            "Subject": "Re: Order 1042",
        }
    ).encode()
