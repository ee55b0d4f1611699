"""The `whatsapp-cloud` channel: what each kind of Cloud API event becomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from gateway_meta import WhatsAppCloudChannel
from meta_cases import (
    SETTINGS,
    fixture,
    signed_request,
    whatsapp_body,
    whatsapp_value,
)

from gateway.errors import PayloadError
from gateway.schema import Interaction
from gateway.testing import make_channel

SHEENA = {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}


def parse(body: bytes, **settings: Any) -> list[Interaction]:
    channel = make_channel(WhatsAppCloudChannel, {**SETTINGS, **settings}, channel_id="wa")
    req = signed_request(body)
    channel.verify(req)
    return channel.parse(req)


def text_message(**fields: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": "wamid.TEXT1",
        "timestamp": "1749416383",
        "type": "text",
        "text": {"body": "hello"},
        **fields,
    }


def payload_error(body: bytes) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse(body)
    return caught.value


def identities(party: Any) -> list[tuple[str, str]]:
    return [(identity.kind, identity.value) for identity in party.identities]


def test_a_text_message() -> None:
    [message] = parse(fixture("wa_text"))
    assert (message.type, message.direction) == ("message", "inbound")
    assert (message.channel.id, message.channel.kind, message.channel.provider) == (
        "wa",
        "whatsapp",
        "meta",
    )
    assert message.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.occurred_at == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)
    assert message.sender.display_name == "Sheena Nelson"
    assert identities(message.sender) == [("phone", "+16505551234")]
    assert identities(message.recipient) == [("phone", "+15550783881")]
    assert message.metadata["phone_number_id"] == "106540352242922"
    assert message.content is not None
    assert message.content.text == "Does it come in another color?"


def test_media_is_an_attachment_without_url_and_with_its_media_id() -> None:
    [message] = parse(fixture("wa_image"))
    assert message.content is not None
    assert message.content.text == "The box arrived damaged"  # the caption
    [attachment] = message.content.attachments
    assert (attachment.url, attachment.content_type) == (None, "image/jpeg")
    assert message.metadata["media_id"] == "1003383421387256"


def test_a_document_keeps_its_filename() -> None:
    messages = parse(fixture("wa_batched"))
    document = next(m for m in messages if m.metadata.get("message_type") == "document")
    assert document.content is not None
    assert document.content.attachments[0].filename == "invoice-1042.pdf"


@pytest.mark.parametrize(
    ("kind", "media"), [("audio", {"voice": True}), ("video", {}), ("sticker", {"animated": False})]
)
def test_other_media(kind: str, media: dict[str, Any]) -> None:
    body = {"mime_type": f"{kind}/test", "sha256": "abc=", "id": "77", **media}
    message = text_message(type=kind, **{kind: body})
    del message["text"]
    [parsed] = parse(whatsapp_body(whatsapp_value(messages=[message])))
    assert parsed.content is not None
    assert parsed.content.attachments[0].content_type == f"{kind}/test"
    assert parsed.metadata["media_id"] == "77"
    assert parsed.metadata.get("voice") == ("true" if media.get("voice") else None)


def test_a_location() -> None:
    [message] = parse(fixture("wa_location"))
    assert message.content is not None
    assert message.content.text == "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"
    assert (message.metadata["latitude"], message.metadata["longitude"]) == (
        "37.483872693672",
        "-122.14835721843",
    )


def test_a_pin_without_a_name_says_where_it_is() -> None:
    location = {"latitude": 48.8584, "longitude": 2.2945}
    message = text_message(type="location", location=location)
    [parsed] = parse(whatsapp_body(whatsapp_value(messages=[message])))
    assert parsed.content is not None
    assert parsed.content.text == "48.8584,2.2945"


def test_an_interactive_button_reply() -> None:
    [message] = parse(fixture("wa_interactive"))
    assert message.content is not None
    assert message.content.text == "Change date"
    assert message.metadata["reply_id"] == "change-delivery-date"
    assert message.metadata["interactive_type"] == "button_reply"
    assert (
        message.metadata["reply_to"] == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDNjYxOTg4NEM0QTQwNDM5RjIA"
    )


def test_a_template_quick_reply_button() -> None:
    button = {"payload": "STOP_PROMOS", "text": "Stop promotions"}
    [message] = parse(
        whatsapp_body(whatsapp_value(messages=[text_message(type="button", button=button)]))
    )
    assert message.content is not None
    assert message.content.text == "Stop promotions"
    assert message.metadata["button_payload"] == "STOP_PROMOS"


def test_a_reaction_and_its_removal() -> None:
    [reaction] = parse(fixture("wa_reaction"))
    assert reaction.content is not None
    assert reaction.content.text == "👍"
    assert reaction.metadata["reaction_to"].startswith("wamid.")
    removed = text_message(type="reaction", reaction={"message_id": "wamid.X"}, id="wamid.R2")
    [parsed] = parse(whatsapp_body(whatsapp_value(messages=[removed])))
    assert parsed.content is not None
    assert parsed.content.text is None
    assert parsed.metadata["reaction_removed"] == "true"


def test_a_reply_names_the_message_it_answers() -> None:
    [message] = parse(fixture("wa_context_reply"))
    assert (
        message.metadata["reply_to"] == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QjY2NjQ3RjM4RjQ3QzZBNTUA"
    )


def test_a_delivered_status() -> None:
    [status] = parse(fixture("wa_status_delivered"))
    assert (status.type, status.direction) == ("status", "outbound")
    wamid = "wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA="
    assert status.external_id == f"{wamid}/delivered"
    assert status.status is not None
    assert (status.status.of_external_id, status.status.state) == (wamid, "delivered")
    assert identities(status.recipient) == [("phone", "+5516992318222")]  # the customer
    assert identities(status.sender) == [("phone", "+15556459128")]  # our number
    assert status.occurred_at == datetime(2025, 6, 25, 13, 16, 24, tzinfo=UTC)


def test_a_failed_status_carries_the_error() -> None:
    [status] = parse(fixture("wa_status_failed"))
    assert status.status is not None
    assert status.status.state == "failed"
    assert status.status.error == (
        "131047 Re-engagement message: Message failed to send because more than 24 hours have "
        "passed since the customer last replied to this number."
    )
    assert status.metadata["error_code"] == "131047"


def test_statuses_outside_the_schema_are_skipped() -> None:
    statuses = [
        {
            "id": "wamid.V",
            "status": "played",
            "timestamp": "1749417000",
            "recipient_id": "16505551234",
        },
        {
            "id": "wamid.V",
            "status": "read",
            "timestamp": "1749416999",
            "recipient_id": "16505551234",
        },
    ]
    [status] = parse(whatsapp_body(whatsapp_value(statuses=statuses)))
    assert status.external_id == "wamid.V/read"


def test_a_group_status_names_no_customer() -> None:
    status = {
        "id": "wamid.G",
        "status": "sent",
        "timestamp": "1749417000",
        "recipient_id": "120363024578120001",
        "recipient_type": "group",
    }
    [parsed] = parse(whatsapp_body(whatsapp_value(statuses=[status])))
    assert parsed.recipient.identities == []
    assert parsed.metadata["group_id"] == "120363024578120001"


def test_a_bsuid_only_sender() -> None:
    [message] = parse(fixture("wa_bsuid_only"))
    assert identities(message.sender) == [("whatsapp_bsuid", "US.13491208655302741918")]
    assert message.sender.display_name == "Sheena Nelson"
    assert message.metadata["username"] == "@sheena.nelson"


def test_a_bsuid_alongside_the_phone() -> None:
    contact = {
        "profile": {"name": "Krish"},
        "wa_id": "919810218674",
        "user_id": "IN.1410018717833190",
    }
    message = text_message(**{"from": "919810218674", "from_user_id": "IN.1410018717833190"})
    [parsed] = parse(whatsapp_body(whatsapp_value(contacts=[contact], messages=[message])))
    assert identities(parsed.sender) == [
        ("phone", "+919810218674"),
        ("whatsapp_bsuid", "IN.1410018717833190"),
    ]
    assert parsed.sender.display_name == "Krish"


@pytest.mark.parametrize(
    ("category", "callback_data", "answers"),
    [
        ("service", None, "yes"),
        ("utility", None, "yes"),
        ("marketing", None, "no"),
        ("authentication", None, "no"),
        ("service", "channel-gateway:key-1", "not itself"),
    ],
)
def test_a_sent_status_of_a_message_sent_elsewhere_is_an_answer(
    category: str, callback_data: str | None, answers: str
) -> None:
    status: dict[str, Any] = {"id": "wamid.C", "status": "sent", "timestamp": "1779372900"}
    status |= {"recipient_id": "16505551234", "pricing": {"category": category}}
    if callback_data is not None:
        status["biz_opaque_callback_data"] = callback_data
    found = parse(whatsapp_body(whatsapp_value(statuses=[status])))
    if answers == "not itself":  # the gateway's own message: it is stored already
        assert [i.type for i in found] == ["status"]
        return
    answer, sent = found  # the answer first: the core then knows the receipt's message
    assert (sent.type, answer.type, answer.direction) == ("status", "message", "outbound")
    assert (answer.external_id, answer.content) == ("wamid.C", None)
    assert answer.recipient == sent.recipient
    assert ("automated" in answer.metadata) == (answers == "no")


def test_a_status_to_a_bsuid() -> None:
    status = {
        "id": "wamid.B",
        "status": "delivered",
        "timestamp": "1779372900",
        "recipient_user_id": "US.13491208655302741918",
    }
    contacts = [{"profile": {"name": "Sheena"}, "user_id": "US.13491208655302741918"}]
    [parsed] = parse(whatsapp_body(whatsapp_value(contacts=contacts, statuses=[status])))
    assert identities(parsed.recipient) == [("whatsapp_bsuid", "US.13491208655302741918")]
    assert parsed.recipient.display_name == "Sheena"


def test_a_batch_becomes_one_interaction_per_event() -> None:
    found = parse(fixture("wa_batched"))
    assert [(i.type, i.external_id.rsplit("/", 1)[-1][:5]) for i in found] == [
        ("message", "wamid"),
        ("message", "wamid"),
        ("message", "wamid"),  # the `sent` of a message sent elsewhere: an answer, then
        ("status", "sent"),  # its receipt
        ("status", "read"),
        ("message", "wamid"),
    ]
    assert found[2].direction == "outbound"
    assert found[2].metadata["sent_elsewhere"] == "true"
    assert len({i.external_id for i in found}) == 6
    # The second entry is another business number: each event names its own.
    assert identities(found[-1].recipient) == [("phone", "+447700900456")]
    assert found[-1].metadata["waba_id"] == "109876543210987"


def test_other_fields_and_system_messages_are_skipped() -> None:
    system = {
        "from": "16505551234",
        "id": "wamid.SYS",
        "timestamp": "1749417000",
        "type": "system",
        "system": {
            "body": "User changed from 16505551234 to 16505559999",
            "type": "user_changed_number",
        },
    }
    template = {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    envelope = json.loads(whatsapp_body(whatsapp_value(messages=[system])))
    envelope["entry"][0]["changes"].append(template)
    assert parse(json.dumps(envelope).encode()) == []


def test_types_without_a_mapping_are_kept_without_text() -> None:
    unsupported = text_message(
        type="unsupported",
        errors=[{"code": 131051, "title": "Message type unknown"}],
    )
    del unsupported["text"]
    [parsed] = parse(whatsapp_body(whatsapp_value(contacts=[SHEENA], messages=[unsupported])))
    assert parsed.content is not None
    assert parsed.content.text is None
    assert parsed.metadata["message_type"] == "unsupported"
    assert parsed.metadata["error_code"] == "131051"


def test_an_empty_batch_is_nothing() -> None:
    assert parse(b'{"object": "whatsapp_business_account", "entry": []}') == []


def test_raw_keeps_only_this_event_when_asked() -> None:
    found = parse(fixture("wa_batched"), include_raw=True)
    raw: Any = found[0].raw
    assert [m["id"] for m in raw["messages"]] == [found[0].external_id]
    assert raw["contacts"][0]["wa_id"] == "16505551234"
    assert raw["metadata"]["phone_number_id"] == "106540352242922"
    assert parse(fixture("wa_batched"))[0].raw is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m.pop("id"), "entry.0.changes.0.value.messages.0.id"),
        (lambda m: m.update(id=""), "entry.0.changes.0.value.messages.0.id"),
        (lambda m: m.update(timestamp="yesterday"), "entry.0.changes.0.value.messages.0.timestamp"),
        (lambda m: m.update(timestamp="9" * 18), "entry.0.changes.0.value.messages.0.timestamp"),
        *(  # year 1, the epoch, year 9999 and later: refused, never stored
            (
                lambda m, seconds=seconds: m.update(timestamp=seconds),
                "entry.0.changes.0.value.messages.0.timestamp",
            )
            for seconds in (-62135596800, 0, "0", 253402214400, "253402300800", 2**63)
        ),
        (lambda m: m.pop("type"), "entry.0.changes.0.value.messages.0.type"),
        (lambda m: m.update(text="hello"), "entry.0.changes.0.value.messages.0.text"),
        (lambda m: m.pop("from"), "entry.0.changes.0.value.messages.0.from"),
        (lambda m: m.update(type="image"), "entry.0.changes.0.value.messages.0.image"),
        (lambda m: m.update(id="w" * 600), "entry.0.changes.0.value.messages.0"),
    ],
)
def test_bad_events_name_the_field(change: Any, field: str) -> None:
    message = text_message()
    change(message)
    error = payload_error(whatsapp_body(whatsapp_value(messages=[message])))
    assert (error.status, error.field) == (422, field)


@pytest.mark.parametrize(("sender", "kept"), [("not-a-phone", "not-a-phone"), ("12", "+12")])
def test_a_sender_that_is_no_phone_is_kept_in_metadata(sender: str, kept: str) -> None:
    """The message is stored without a phone identity; the value stays in `metadata` (digits
    as read: international, with their `+`)."""
    [message] = parse(whatsapp_body(whatsapp_value(messages=[text_message(**{"from": sender})])))
    assert identities(message.sender) == []
    assert json.loads(message.metadata["unusable_identities"]) == [
        {"party": "sender", "kind": "phone", "value": kept, "reason": "invalid"}
    ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[]", 422, None),
        (b'{"entry": []}', 422, "object"),
        (b'{"object": "page", "entry": []}', 422, "object"),
        (b'{"object": "whatsapp_business_account"}', 422, "entry"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', 422, "entry"),
        (b'{"object": "whatsapp_business_account", "entry": [1]}', 422, "entry.0"),
        (
            b'{"object": "whatsapp_business_account",'
            b' "entry": [{"changes": [{"field": "messages"}]}]}',
            422,
            "entry.0.changes.0.value",
        ),
    ],
)
def test_bad_envelopes(body: bytes, status: int, field: str | None) -> None:
    error = payload_error(body)
    assert (error.status, error.field) == (status, field)


def test_a_product_sent_to_the_wrong_channel_says_so() -> None:
    error = payload_error(b'{"object": "page", "entry": []}')
    assert "'whatsapp_business_account'" in error.reason
    assert "'page'" in error.reason
