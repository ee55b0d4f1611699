"""What each interaction becomes in HubSpot (pure functions), settings and the rate budget."""

from __future__ import annotations

import time

import orjson
import pytest
from gateway_hubspot import HubSpotSettings
from gateway_hubspot.limiter import RateLimiter, ThrottledError
from gateway_hubspot.mapping import (
    contact_updates,
    engagement_key,
    engagement_properties,
    engagement_type,
    receipt_properties,
    ticket_properties,
)
from pydantic import ValidationError

from gateway.testing import make_interaction

JANE = {
    "display_name": "Jane van Dijk",
    "identities": [
        {"kind": "phone", "value": "+15551230001"},
        {"kind": "email", "value": "jane@example.com"},
    ],
}
OURS = {"identities": [{"kind": "phone", "value": "+15557654321"}]}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("sms", "communications"),
        ("mms", "communications"),
        ("whatsapp", "communications"),
        ("email", "emails"),
        ("webchat", "notes"),
        ("messenger", "notes"),
        ("instagram", "notes"),
        ("slack", "notes"),
        ("telegram", "notes"),
        ("voice", "notes"),
        ("other", "notes"),
    ],
)
def test_each_channel_kind_has_its_engagement(kind: str, expected: str) -> None:
    message = make_interaction(channel={"id": "c", "kind": kind, "provider": "p"})
    assert engagement_type(message) == expected


def test_an_mms_is_an_sms_communication_with_its_attachments() -> None:
    message = make_interaction(
        channel={"id": "sms", "kind": "mms", "provider": "twilio"},
        external_id="MM1",
        sender=JANE,
        content={"text": "see photo", "attachments": [{"url": "https://media.example/1.jpg"}]},
    )
    props = engagement_properties(message, owner_id="77")
    assert props["hs_communication_channel_type"] == "SMS"
    assert props["hs_communication_body"] == "see photo\nAttachment: https://media.example/1.jpg"
    assert props["gateway_key"] == "sms:MM1"
    assert props["gateway_interaction_id"] == message.id
    assert props["hubspot_owner_id"] == "77"


def test_an_outbound_call_without_a_known_status_leaves_it_out() -> None:
    call = make_interaction(
        type="call",
        direction="outbound",
        channel={"id": "voice", "kind": "voice", "provider": "twilio"},
        external_id="CA9/answered-by-machine",
        thread_external_id="CA9",
        sender=OURS,
        recipient=JANE,
        content=None,
        call={"status": "answered-by-machine", "transcript": "Hi, call me back"},
    )
    props = engagement_properties(call, owner_id=None)
    assert props["hs_call_direction"] == "OUTBOUND"
    assert props["hs_call_title"] == "Outbound call to +15551230001"
    assert props["hs_call_body"] == "Hi, call me back"
    assert "hs_call_status" not in props
    assert "hs_call_duration" not in props
    assert engagement_key(call) == "voice:call:CA9"


def test_an_outbound_email_is_logged_as_sent_with_its_headers() -> None:
    mail = make_interaction(
        direction="outbound",
        channel={"id": "mail", "kind": "email", "provider": "postmark"},
        sender={"identities": [{"kind": "email", "value": "support@shop.example"}]},
        recipient=JANE,
        content={"subject": "Your order", "text": "On its way", "html": "<p>On its way</p>"},
    )
    props = engagement_properties(mail, owner_id=None)
    assert props["hs_email_direction"] == "EMAIL"
    assert props["hs_email_status"] == "SENT"
    assert orjson.loads(props["hs_email_headers"]) == {
        "from": {"email": "support@shop.example"},
        "to": [{"email": "jane@example.com", "firstName": "Jane", "lastName": "van Dijk"}],
        "cc": [],
        "bcc": [],
    }


def test_a_note_says_where_the_message_came_from_and_escapes_it() -> None:
    chat = make_interaction(sender=JANE, content={"text": "<script>alert(1)</script>"})
    body = engagement_properties(chat, owner_id=None)["hs_note_body"]
    assert body.startswith("<p><strong>Web chat inbound via web</strong> from Jane van Dijk, +1")
    assert "&lt;script&gt;" in body
    assert "<script>" not in body


def test_contact_updates_only_fill_empty_fields() -> None:
    message = make_interaction(sender=JANE)
    assert contact_updates(message, {}) == {
        "email": "jane@example.com",
        "phone": "+15551230001",
        "firstname": "Jane",
        "lastname": "van Dijk",
    }
    typed = {"email": "j@work.example", "phone": "", "lastname": "Dijk"}
    assert contact_updates(message, typed) == {"phone": "+15551230001"}


def test_receipts_and_tickets() -> None:
    failed = make_interaction(
        type="status",
        direction="outbound",
        content=None,
        status={"of_external_id": "M1", "state": "failed", "error": "bounced"},
    )
    assert receipt_properties(failed, "emails") == {
        "gateway_status": "failed: bounced",
        "hs_email_status": "FAILED",
    }
    first = make_interaction(
        sender=JANE, conversation_id="conv_01KAXZ0000000000000000C0NV", content={"text": "hi"}
    )
    assert ticket_properties(first, "0", "1") == {
        "subject": "Web chat conversation with Jane van Dijk",
        "content": "hi",
        "hs_pipeline": "0",
        "hs_pipeline_stage": "1",
        "gateway_conversation_id": "conv_01KAXZ0000000000000000C0NV",
    }


def test_settings_need_a_token_and_hide_it() -> None:
    with pytest.raises(ValidationError, match="access token is required"):
        HubSpotSettings.model_validate({"type": "hubspot", "token": "  "})
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        HubSpotSettings.model_validate({"type": "hubspot", "token": "pat-1", "batch_size": 101})
    settings = HubSpotSettings.model_validate({"type": "hubspot", "token": "pat-secret"})
    assert "pat-secret" not in repr(settings)
    assert (settings.ticket_pipeline, settings.ticket_stage) == ("0", "1")


async def test_the_budget_waits_briefly_or_says_when() -> None:
    limiter = RateLimiter(2, window_s=0.3)
    await limiter.acquire(0.05)
    await limiter.acquire(0.05)
    with pytest.raises(ThrottledError) as held:  # a slot frees in 0.3 s: too long to wait
        await limiter.acquire(0.05)
    assert held.value.retry_after is not None
    assert 0.2 < held.value.retry_after <= 0.3
    assert held.value.sent is False
    started = time.monotonic()
    await limiter.acquire(1.0)  # worth the wait
    assert 0.2 < time.monotonic() - started < 0.6

    limiter.adopt(limit=1, remaining=0, interval_s=5.0)  # HubSpot: nothing left this window
    assert (limiter.budget, limiter.window_s) == (1, 5.0)
    with pytest.raises(ThrottledError) as closed:
        await limiter.acquire(1.0)
    assert closed.value.retry_after == pytest.approx(5.0, abs=0.1)


def test_only_verified_identities_fill_a_contact() -> None:
    typed = {**JANE, "identities": [{**JANE["identities"][0], "verified": False},  # type: ignore[dict-item]
                                    JANE["identities"][1]]}  # fmt: skip
    message = make_interaction(sender=typed)
    assert contact_updates(message, {}) == {
        "email": "jane@example.com",
        "firstname": "Jane",
        "lastname": "van Dijk",
    }
