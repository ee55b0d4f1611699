"""What an interaction becomes in Zendesk: comment text, subject, name, identities, tags."""

from __future__ import annotations

import pytest
from gateway_zendesk.mapping import (
    FINAL_CALL_STATUSES,
    channel_tag,
    comment_body,
    identities,
    marker,
    ticket_subject,
    user_name,
    writes_comment,
)

from gateway.testing import customer_interactions, make_interaction

CUSTOMER = "cus_01KAXZ0000000000000000CVST"
SMS = {"id": "support-sms", "kind": "sms", "provider": "twilio"}
PHONE = {"kind": "phone", "value": "+15551230001"}
EMAIL = {"kind": "email", "value": "jane.doe@example.com"}


def test_an_inbound_message_names_its_channel_and_links_its_attachments() -> None:
    interaction = make_interaction(
        channel={"id": "wa-main", "kind": "whatsapp", "provider": "meta"},
        sender={"display_name": "Jane Doe", "identities": [PHONE]},
        content={
            "text": "Here is the photo of the box.",
            "attachments": [
                {"url": "https://lookaside.fbsbx.com/m/1", "filename": "box.jpg"},
                {"url": "https://lookaside.fbsbx.com/m/2", "content_type": "audio/ogg"},
                {"filename": "no-url.pdf"},
            ],
        },
    )
    assert comment_body(interaction).splitlines() == [
        "WhatsApp inbound via wa-main from Jane Doe, +15551230001",
        "",
        "Here is the photo of the box.",
        "Attachment: box.jpg https://lookaside.fbsbx.com/m/1",
        "Attachment: audio/ogg https://lookaside.fbsbx.com/m/2",
        "",
        f"[gateway ref {interaction.id}]",
    ]


def test_an_outbound_message_names_its_recipient() -> None:
    interaction = make_interaction(
        direction="outbound", channel=SMS, recipient={"identities": [PHONE]}
    )
    assert (
        comment_body(interaction).splitlines()[0] == "SMS outbound via support-sms to +15551230001"
    )


def test_a_call_gives_its_outcome_duration_recording_and_transcript() -> None:
    _, call, _ = customer_interactions()
    assert call.call is not None
    with_transcript = call.model_copy(
        update={"call": call.call.model_copy(update={"transcript": "Where is my order?"})}
    )
    assert comment_body(with_transcript).splitlines() == [
        "Inbound call from Jane, +15551230001 via support-voice",
        "",
        "Call completed, duration 3 min 4 s (184 s)",
        "Recording: https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE0",
        "Transcript:",
        "Where is my order?",
        "",
        f"[{marker(call)}]",
    ]


def test_a_failed_receipt_says_which_message_failed() -> None:
    receipt = make_interaction(
        type="status",
        direction="outbound",
        channel=SMS,
        content=None,
        status={"of_external_id": "SM1", "state": "failed", "error": "30003 unreachable"},
    )
    assert comment_body(receipt).splitlines()[:3] == [
        "Delivery failure on SMS (support-sms)",
        "",
        "The message SM1 could not be delivered: 30003 unreachable",
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"content": {"subject": "Order 1042", "text": "x"}}, "Order 1042"),
        ({"content": {"subject": "S" * 400}}, "S" * 150),
        (
            {"channel": SMS, "sender": {"identities": [PHONE]}},
            "SMS conversation with +15551230001",
        ),
    ],
)
def test_the_subject_is_the_first_subject_or_says_who_wrote(
    fields: dict[str, object], expected: str
) -> None:
    assert ticket_subject(make_interaction(**fields)) == expected


def test_a_user_is_named_after_the_customer_or_an_address() -> None:
    named = make_interaction(sender={"display_name": "Jane Doe", "identities": [PHONE]})
    unnamed = make_interaction(sender={"identities": [EMAIL, PHONE]})
    nothing = make_interaction(customer_id=CUSTOMER)
    assert [user_name(i) for i in (named, unnamed, nothing)] == [
        "Jane Doe",
        "jane.doe@example.com",
        f"Customer {CUSTOMER}",
    ]


def test_identities_are_the_customers_addresses_and_numbers_once() -> None:
    interaction = make_interaction(
        sender={"identities": [PHONE, EMAIL, PHONE, {"kind": "slack_user", "value": "U1"}]}
    )
    assert identities(interaction) == [
        ("phone_number", "+15551230001"),
        ("email", "jane.doe@example.com"),
    ]
    outbound = make_interaction(direction="outbound", recipient={"identities": [EMAIL]})
    assert identities(outbound) == [("email", "jane.doe@example.com")]


def test_what_writes_a_comment() -> None:
    _, call, _ = customer_interactions()
    assert call.call is not None
    assert writes_comment(make_interaction())
    assert writes_comment(call)
    assert "completed" in FINAL_CALL_STATUSES
    for status in ("queued", "ringing", "in-progress"):
        ringing = call.model_copy(update={"call": call.call.model_copy(update={"status": status})})
        assert not writes_comment(ringing)
    for state, writes in (("delivered", False), ("read", False), ("failed", True)):
        receipt = make_interaction(
            type="status", content=None, status={"of_external_id": "SM1", "state": state}
        )
        assert writes_comment(receipt) is writes


def test_the_channel_tag_names_the_kind() -> None:
    assert channel_tag(make_interaction(channel=SMS)) == "gateway_sms"
