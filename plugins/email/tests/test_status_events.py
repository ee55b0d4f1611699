"""Providers' delivery events read as the status of a reply: what is kept, what is ignored,
and what is refused 422 (the recorded Postmark Delivery and Bounce webhooks are in fixtures/,
checked by the conformance suite)."""

from __future__ import annotations

from typing import Any

import pytest
from email_cases import RECEIVED
from gateway_email.mailgun_events import mailgun_status, signature_fields
from gateway_email.postmark_events import postmark_status
from gateway_email.sendgrid_events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_event_signature,
    load_event_key,
    sendgrid_statuses,
)

from gateway.errors import PayloadError, SignatureError

SENDGRID_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGh"
    "HPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
)
"""The test vector of SendGrid's own Event Webhook library (@sendgrid/eventwebhook's tests)."""
SENDGRID_SIGNED = {
    SIGNATURE_HEADER: "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6Bp"
    "SzoQsbVRamr2nlxFDWYNH2j/0=",
    TIMESTAMP_HEADER: "1588788367",
}
SENDGRID_PAYLOAD = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'

MESSAGE = {"headers": {"message-id": "20261122100500.1@mg.acme.example"}}


def event(**fields: Any) -> dict[str, Any]:
    data = {"event": "delivered", "id": "ev-1", "timestamp": 1795341600.25, "message": MESSAGE}
    return {"signature": {"timestamp": "1795341600", "token": "t", "signature": "s"}} | {
        "event-data": data | fields
    }


def test_a_mailgun_delivery_names_the_sent_message() -> None:
    fields = mailgun_status(event(), RECEIVED)
    assert fields is not None
    assert fields["status"] == {
        "of_external_id": "20261122100500.1@mg.acme.example",
        "state": "delivered",
        "error": None,
    }
    assert fields["occurred_at"].isoformat() == "2026-11-22T10:00:00.250000+00:00"
    assert signature_fields(event()) == ("1795341600", "t", "s")


@pytest.mark.parametrize(
    "fields",
    [{"event": "opened"}, {"event": "accepted"}, {"event": "failed", "severity": "temporary"}],
)
def test_mailgun_events_that_change_nothing_are_not_stored(fields: dict[str, Any]) -> None:
    assert mailgun_status(event(**fields), RECEIVED) is None


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], None),
        ({"event-data": "x"}, "event-data"),
        (event(message={"headers": {}}), "message-id"),
        (event(id=""), "id"),
        (event(timestamp=1e300), "timestamp"),
    ],
)
def test_unusable_mailgun_events_are_422(document: Any, field: str | None) -> None:
    with pytest.raises(PayloadError) as raised:
        mailgun_status(document, RECEIVED)
    assert (raised.value.status, raised.value.field) == (422, field)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"RecordType": "Delivery"}, "MessageID"),
        ({"RecordType": "Delivery", "MessageID": "m", "DeliveredAt": "yesterday"}, "DeliveredAt"),
        ({"RecordType": "Bounce", "MessageID": "m"}, "Type"),
    ],
)
def test_unusable_postmark_events_are_422(document: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as raised:
        postmark_status(document, RECEIVED)
    assert (raised.value.status, raised.value.field) == (422, field)


def test_sendgrids_own_test_vector_verifies_and_a_changed_byte_does_not() -> None:
    key = load_event_key(SENDGRID_KEY)
    check_event_signature(key, SENDGRID_SIGNED, SENDGRID_PAYLOAD)
    with pytest.raises(SignatureError):
        check_event_signature(key, SENDGRID_SIGNED, SENDGRID_PAYLOAD.replace(b"test", b"tesT"))
    with pytest.raises(SignatureError):
        check_event_signature(key, {**SENDGRID_SIGNED, TIMESTAMP_HEADER: "1588788368"}, b"{}")
    with pytest.raises(SignatureError, match="missing"):
        check_event_signature(key, {}, SENDGRID_PAYLOAD)
    with pytest.raises(ValueError, match="event_webhook_key"):
        load_event_key("not a key")


def test_sendgrid_events_of_replies_become_statuses() -> None:
    events = [
        {"event": "processed", "sg_event_id": "e0", "gateway_message_id": "r@acme.example"},
        {
            "event": "delivered",
            "sg_event_id": "e1",
            "gateway_message_id": "r@acme.example",
            "timestamp": 1795341600,
            "sg_message_id": "W1.filter0001",
        },
        {
            "event": "bounce",
            "sg_event_id": "e2",
            "smtp-id": "<s@acme.example>",
            "reason": "550 5.1.1 The email account does not exist",
            "type": "bounce",
        },
        {"event": "delivered", "sg_event_id": "e3", "email": "someone@else.example"},
    ]
    first, second = sendgrid_statuses(events, RECEIVED)
    assert (first["external_id"], first["status"]["state"]) == ("e1", "delivered")
    assert first["status"]["of_external_id"] == "r@acme.example"
    assert first["metadata"] == {"event": "delivered", "sg_message_id": "W1.filter0001"}
    assert second["status"] == {
        "of_external_id": "s@acme.example",
        "state": "failed",
        "error": "SendGrid bounce: 550 5.1.1 The email account does not exist",
    }
    with pytest.raises(PayloadError, match="expected a JSON array"):
        sendgrid_statuses({"event": "delivered"}, RECEIVED)
    with pytest.raises(PayloadError) as raised:
        sendgrid_statuses([{"event": "dropped", "gateway_message_id": "r@a.example"}], RECEIVED)
    assert raised.value.field == "sg_event_id"
