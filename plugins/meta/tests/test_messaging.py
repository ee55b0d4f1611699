"""The `messenger` and `instagram` channels: Messenger Platform `messaging[]` events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from gateway_meta import InstagramChannel, MessengerChannel
from meta_cases import SETTINGS, fixture, messaging_body, signed_request

from gateway.errors import PayloadError
from gateway.schema import Interaction
from gateway.testing import make_channel

PSID, PAGE = "1254459154682919", "682498302938465"
IGSID, IG_ACCOUNT = "1914819265308137", "17841405793187218"


def parse(body: bytes, channel_type: Any = MessengerChannel) -> list[Interaction]:
    channel = make_channel(channel_type, SETTINGS, channel_id="fb")
    req = signed_request(body)
    channel.verify(req)
    return channel.parse(req)


def event(**fields: Any) -> dict[str, Any]:
    return {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1518479195308, **fields}


def identities(party: Any) -> list[tuple[str, str]]:
    return [(identity.kind, identity.value) for identity in party.identities]


def test_a_messenger_text() -> None:
    [message] = parse(fixture("messenger_text"))
    assert (message.type, message.direction, message.channel.kind) == (
        "message",
        "inbound",
        "messenger",
    )
    assert message.external_id == "m_1457764197618:41d102a3e1ae206a38"
    assert message.occurred_at == datetime(2018, 2, 12, 23, 46, 35, 308000, tzinfo=UTC)
    assert identities(message.sender) == [("messenger_psid", PSID)]
    assert identities(message.recipient) == [("messenger_psid", PAGE)]
    assert message.content is not None
    assert message.content.text == "hello, world!"


def test_attachments_keep_their_url_and_type() -> None:
    [message] = parse(fixture("messenger_attachment"))
    assert message.content is not None
    assert [a.url for a in message.content.attachments] == [
        "https://scontent.xx.fbcdn.net/v/t1.15752-9/298147021_n.jpg?_nc_cat=104&ccb=1-7&oh=00_AT8&oe=63A1B2C3",
        "https://cdn.fbsbx.com/v/t59.2708-21/receipt_1042.pdf?_nc_cat=101&oh=03_AVL&oe=63A1B2C4",
    ]
    assert (message.metadata["attachment_type_0"], message.metadata["attachment_type_1"]) == (
        "image",
        "file",
    )


def test_an_echo_is_outbound_from_the_page_to_the_customer() -> None:
    [echo] = parse(fixture("messenger_echo"))
    assert echo.direction == "outbound"
    assert identities(echo.sender) == [("messenger_psid", PAGE)]
    assert identities(echo.recipient) == [("messenger_psid", PSID)]
    assert (echo.metadata["app_id"], echo.metadata["echo_metadata"]) == (
        "1517776481860111",
        "agent:42",
    )


def test_a_delivery_is_one_status_per_listed_message() -> None:
    statuses = parse(fixture("messenger_delivery"))
    assert [(s.external_id, s.status and s.status.of_external_id) for s in statuses] == [
        ("mid.1458668856218:ed81099e15d3f4f233/delivered", "mid.1458668856218:ed81099e15d3f4f233"),
        ("mid.1458668856219:3a4e5c81d1f7b2e0c9/delivered", "mid.1458668856219:3a4e5c81d1f7b2e0c9"),
    ]
    for status in statuses:
        assert (status.type, status.direction) == ("status", "outbound")
        assert identities(status.sender) == [("messenger_psid", PAGE)]
        assert identities(status.recipient) == [("messenger_psid", PSID)]
        # Meta's documented delivery has no `timestamp`: the watermark is when it happened.
        assert status.occurred_at == datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=UTC)


def test_a_read_watermark_reports_on_the_watermark() -> None:
    [status] = parse(fixture("messenger_read"))
    assert status.external_id == f"{PSID}/{PAGE}/read/1458668856253"
    assert status.status is not None
    assert (status.status.of_external_id, status.status.state) == (
        "watermark:1458668856253",
        "read",
    )
    assert status.metadata["watermark"] == "1458668856253"


def test_a_delivery_without_mids_reports_on_its_watermark() -> None:
    [status] = parse(messaging_body(event(delivery={"watermark": 1518479195000})))
    assert status.external_id == f"{PSID}/{PAGE}/delivered/1518479195000"
    assert status.status is not None
    assert status.status.of_external_id == "watermark:1518479195000"


def test_a_receipt_naming_nothing_is_invalid() -> None:
    with pytest.raises(PayloadError) as caught:
        parse(messaging_body(event(read={})))
    assert caught.value.field == "entry.0.messaging.0.read.watermark"


def test_postbacks_and_quick_replies() -> None:
    postback, quick_reply = parse(fixture("messenger_postback"))
    assert postback.content is not None
    assert postback.content.text == "Track my order"
    assert postback.metadata["postback_payload"] == "TRACK_ORDER"
    assert quick_reply.metadata["quick_reply_payload"] == "ORDER_1042"


def test_a_postback_without_mid_is_known_by_who_and_when() -> None:
    [postback] = parse(messaging_body(event(postback={"title": "Start", "payload": "GET_STARTED"})))
    assert postback.external_id == f"{PSID}/{PAGE}/postback/1518479195308"


def test_standby_messages_are_the_customers_too() -> None:
    body = messaging_body(event(message={"mid": "m_standby", "text": "hi"}), key="standby")
    [message] = parse(body)
    assert (message.external_id, message.metadata["standby"]) == ("m_standby", "true")


def test_unmapped_events_are_skipped() -> None:
    body = messaging_body(
        event(reaction={"mid": "m_1", "action": "react", "reaction": "love", "emoji": "❤"}),
        event(message_edit={"mid": "m_1", "text": "edited", "num_edit": 1}),
        event(optin={"type": "notification_messages", "payload": "x"}),
        event(message={"mid": "m_gone", "is_deleted": True}),
    )
    assert parse(body) == []


def test_an_instagram_text() -> None:
    [message] = parse(fixture("instagram_text"), InstagramChannel)
    assert message.channel.kind == "instagram"
    assert identities(message.sender) == [("instagram_id", IGSID)]
    assert identities(message.recipient) == [("instagram_id", IG_ACCOUNT)]
    assert message.occurred_at == datetime(2019, 9, 23, 18, 14, 45, 349000, tzinfo=UTC)


def test_an_instagram_echo() -> None:
    [echo] = parse(fixture("instagram_echo"), InstagramChannel)
    assert echo.direction == "outbound"
    assert identities(echo.sender) == [("instagram_id", IG_ACCOUNT)]
    assert identities(echo.recipient) == [("instagram_id", IGSID)]


def test_an_instagram_read_names_its_message() -> None:
    [status] = parse(fixture("instagram_read"), InstagramChannel)
    assert status.status is not None
    assert status.status.state == "read"
    assert status.external_id == f"{status.status.of_external_id}/read"


def test_an_instagram_story_reply() -> None:
    story = {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1", "id": "17890"}
    message = {"mid": "m_story", "text": "Love this!", "reply_to": {"story": story}}
    [parsed] = parse(
        messaging_body(event(message=message), object_name="instagram"), InstagramChannel
    )
    assert parsed.metadata["reply_to_story_id"] == "17890"


def test_each_channel_takes_its_own_product_only() -> None:
    with pytest.raises(PayloadError) as caught:
        parse(fixture("instagram_text"), MessengerChannel)
    assert (caught.value.status, caught.value.field) == (422, "object")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (event(message={"text": "no mid"}), "entry.0.messaging.0.message.mid"),
        (event(sender={}, message={"mid": "m"}), "entry.0.messaging.0.sender.id"),
        (
            {"recipient": {"id": PAGE}, "timestamp": 1, "message": {"mid": "m"}},
            "entry.0.messaging.0.sender",
        ),
        (event(timestamp="1518479195308", message={"mid": "m"}), "entry.0.messaging.0.timestamp"),
        (event(timestamp=10**30, message={"mid": "m"}), "entry.0.messaging.0.timestamp"),
        *(  # year 1, before and at the epoch, year 9999 and later: refused, never stored
            (event(timestamp=millis, message={"mid": "m"}), "entry.0.messaging.0.timestamp")
            for millis in (-62135596800000, -1, 0, 253402214400000, 253402300800000, 2**63)
        ),
        (event(message={"mid": "m", "attachments": {}}), "entry.0.messaging.0.message.attachments"),
        (event(delivery={"mids": "m_1"}), "entry.0.messaging.0.delivery.mids"),
    ],
)
def test_bad_events_name_the_field(item: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(messaging_body(item))
    assert (caught.value.status, caught.value.field) == (422, field)
