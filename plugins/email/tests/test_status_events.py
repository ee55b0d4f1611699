"""Providers' delivery events read as the status of a reply: what is kept, what is ignored,
and what is refused 422 (the recorded Postmark Delivery and Bounce webhooks are in fixtures/,
checked by the conformance suite)."""

from __future__ import annotations

from typing import Any

import pytest
from email_cases import RECEIVED
from gateway_email.mailgun_events import mailgun_status, signature_fields
from gateway_email.postmark_events import postmark_status

from gateway.errors import PayloadError

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
