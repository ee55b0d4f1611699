"""`twilio-sms` and `twilio-whatsapp`: incoming messages and the status of outbound ones."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from gateway_twilio import TwilioSmsChannel, TwilioWhatsAppChannel
from gateway_twilio.messaging import STATES
from recordings import CUSTOMER, OUR_NUMBER, TOKEN, fixture, pairs, signed_form, signed_json

from gateway.errors import PayloadError
from gateway.plugin import Channel
from gateway.schema import Interaction
from gateway.testing import make_channel, run_channel

SID = "SM0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"


def sms(**settings: Any) -> Channel[Any]:
    return make_channel(TwilioSmsChannel, {"auth_token": TOKEN, **settings})


def whatsapp(**settings: Any) -> Channel[Any]:
    return make_channel(TwilioWhatsAppChannel, {"auth_token": TOKEN, **settings})


def edited(name: str, drop: tuple[str, ...] = (), **changes: str) -> bytes:
    """Return the recording `name` with parameters dropped or changed."""
    params = [(k, v) for k, v in pairs(fixture(name)).items() if k not in drop and k not in changes]
    return urlencode([*params, *changes.items()]).encode()


def parse_one(channel: Channel[Any], body: bytes) -> Interaction:
    [interaction] = run_channel(channel, signed_form(body))
    return interaction


def test_an_sms_is_a_message_from_the_customer_to_our_number() -> None:
    message = parse_one(sms(), fixture("sms_inbound"))
    assert (message.type, message.direction, message.channel.kind) == ("message", "inbound", "sms")
    assert message.external_id == "SM5f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c"
    assert message.sender.identities[0].value == CUSTOMER
    assert message.recipient.identities[0].value == OUR_NUMBER
    assert message.occurred_at == message.received_at  # Twilio sends no timestamp


def test_media_makes_an_mms_with_attachments() -> None:
    message = parse_one(sms(), fixture("mms_two_media"))
    assert message.channel.kind == "mms"
    assert message.content is not None
    assert [a.content_type for a in message.content.attachments] == ["image/jpeg", "image/png"]
    assert all(a.url and "/Media/ME" in a.url for a in message.content.attachments)


def test_media_on_whatsapp_stays_whatsapp() -> None:
    body = edited(
        "whatsapp_text",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        MediaContentType0="application/pdf",
    )
    message = parse_one(whatsapp(), body)
    assert message.channel.kind == "whatsapp"
    assert message.content is not None
    assert message.content.attachments[0].content_type == "application/pdf"


def test_whatsapp_addresses_are_phones_and_the_profile_name_is_the_display_name() -> None:
    message = parse_one(whatsapp(), fixture("whatsapp_text"))
    assert message.sender.display_name == "Jane Doe"
    assert [(i.kind, i.value) for i in message.sender.identities] == [("phone", CUSTOMER)]
    assert message.metadata["WaId"] == "14155550123"


def test_a_reply_names_the_message_it_quotes() -> None:
    message = parse_one(whatsapp(), fixture("whatsapp_reply"))
    assert message.metadata["OriginalRepliedMessageSid"] == "SM8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a"


def test_a_button_without_body_says_its_text() -> None:
    message = parse_one(whatsapp(), edited("whatsapp_button", drop=("Body",)))
    assert message.content is not None
    assert message.content.text == "Track my order"
    assert message.metadata["ButtonPayload"] == "track_order_123"


def test_a_location_without_label_or_address() -> None:
    body = edited("whatsapp_location", drop=("Label", "Address"))
    message = parse_one(whatsapp(), body)
    assert message.content is not None
    assert message.content.text == "Location: 37.7879277, -122.3937508"


def test_a_client_or_short_code_address_is_no_phone() -> None:
    message = parse_one(sms(), edited("sms_inbound", To="24365", From="TwilioCo"))
    assert message.sender.identities == []
    assert message.recipient.identities == []


def test_include_raw_keeps_every_parameter() -> None:
    message = parse_one(sms(include_raw=True), fixture("sms_inbound"))
    assert isinstance(message.raw, dict)
    assert message.raw["SmsStatus"] == "received"
    assert message.raw["Body"] == "Hi, my order #123 is late"


def test_an_inbound_status_of_received_is_the_message_itself() -> None:
    message = parse_one(sms(), edited("sms_inbound", MessageStatus="received"))
    assert message.type == "message"


@pytest.mark.parametrize(("reported", "state"), sorted(STATES.items()))
def test_status_callbacks_map_onto_canonical_states(reported: str, state: str) -> None:
    status = parse_one(sms(), edited("status_sent", MessageStatus=reported, SmsStatus=reported))
    assert status.type == "status"
    assert status.direction == "outbound"
    assert status.external_id == f"{SID}/{reported}"
    assert status.status is not None
    assert (status.status.of_external_id, status.status.state) == (SID, state)
    assert status.metadata["MessageStatus"] == reported
    assert status.sender.identities[0].value == OUR_NUMBER
    assert status.recipient.identities[0].value == CUSTOMER


def test_a_failure_carries_its_error() -> None:
    undelivered = parse_one(sms(), fixture("status_undelivered"))
    assert undelivered.status is not None
    assert (undelivered.status.state, undelivered.status.error) == ("failed", "30003")
    body = edited(
        "status_undelivered", MessageStatus="failed", ErrorMessage="Unreachable destination handset"
    )
    failed = parse_one(sms(), body)
    assert failed.status is not None
    assert failed.status.error == "30003: Unreachable destination handset"
    canceled = parse_one(sms(), edited("status_sent", MessageStatus="canceled"))
    assert canceled.status is not None
    assert (canceled.status.state, canceled.status.error) == ("failed", "canceled")


def test_each_state_of_a_message_is_its_own_event() -> None:
    sent = parse_one(sms(), fixture("status_sent"))
    delivered = parse_one(sms(), fixture("status_delivered"))
    assert sent.external_id != delivered.external_id
    assert sent.status
    assert delivered.status
    assert sent.status.of_external_id == delivered.status.of_external_id == SID


@pytest.mark.parametrize(
    ("sender", "reason"),
    [("client:" + "a" * 600, "invalid"), ("MyBrand", "invalid"), ("anonymous", "withheld")],
)
def test_a_sender_that_names_no_one_is_kept_in_metadata(sender: str, reason: str) -> None:
    """An over-long Client name, an alphanumeric sender ID or a withheld number: the message
    is kept, without a sender identity, and the value stays in `metadata` (cut to 256)."""
    message = parse_one(sms(), edited("sms_inbound", From=sender))
    assert message.sender.identities == []
    assert json.loads(message.metadata["unusable_identities"]) == [
        {"party": "sender", "kind": "phone", "value": sender[:256], "reason": reason}
    ]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        (edited("sms_inbound", drop=("MessageSid",)), "MessageSid", 422),
        (edited("sms_inbound", MessageSid="  "), "MessageSid", 422),
        (edited("status_sent", drop=("MessageSid",)), "MessageSid", 422),
        (edited("status_sent", MessageStatus="teleported"), "MessageStatus", 422),
        (edited("mms_two_media", NumMedia="two"), "NumMedia", 422),
        (edited("mms_two_media", NumMedia="-1"), "NumMedia", 422),
        (edited("mms_two_media", NumMedia="100000"), "NumMedia", 422),
        *(
            (edited("mms_two_media", NumMedia=count), "NumMedia", 422)
            for count in ("²", "\u0661", "\uff12", "+2", " 2_0", "9" * 19, "9" * 5000)
        ),
        (edited("mms_two_media", drop=("MediaUrl1",)), "MediaUrl1", 422),
        (edited("sms_inbound", MessageSid="SM" * 300), "external_id", 422),
    ],
)
def test_bad_payloads_name_the_field(body: bytes, field: str, status: int) -> None:
    with pytest.raises(PayloadError) as caught:
        run_channel(sms(), signed_form(body))
    assert (caught.value.field, caught.value.status) == (field, status)


def test_a_json_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PayloadError) as caught:
        run_channel(sms(), signed_json(b'["MessageSid", "SM1"]'))
    assert caught.value.status == 422
    with pytest.raises(PayloadError) as caught:
        run_channel(sms(), signed_json(b"{not json"))
    assert caught.value.status == 400


def test_json_values_become_parameters() -> None:
    body = b'{"MessageSid": "SM1", "NumMedia": 0, "Body": "hi", "Extra": {"nested": true}}'
    [message] = run_channel(sms(include_raw=True), signed_json(body))
    assert message.external_id == "SM1"
    assert message.raw == {"MessageSid": "SM1", "NumMedia": "0", "Body": "hi"}


def test_acknowledges_with_empty_twiml() -> None:
    channel = sms()
    request = signed_form(fixture("sms_inbound"))
    answer = channel.acknowledge(request, run_channel(channel, request))
    assert answer.status == 200
    assert answer.content_type == "text/xml"
    assert answer.body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
