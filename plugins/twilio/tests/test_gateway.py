"""End to end: Twilio's signed webhooks through a running gateway, into the store.

Twilio signs the URL it called, so each request is signed (by the official SDK) for the URL of
the test server, exactly as the gateway sees it.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from gateway_twilio.twiml import EMPTY_TWIML
from recordings import (
    CUSTOMER,
    FORM,
    JSON,
    OTHER_TOKEN,
    OUR_NUMBER,
    RECEIVED,
    TOKEN,
    WHATSAPP_SENDER,
    as_json,
    fixture,
    json_url,
    pairs,
    sdk_signature,
)

from gateway.errors import ConfigError
from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest

VOICEMAIL = "<Response><Say>Please leave a message.</Say><Record/></Response>"
CONFIG: dict[str, Any] = {
    "channels": {
        "sms": {"type": "twilio-sms", "auth_token": TOKEN},
        "whatsapp": {"type": "twilio-whatsapp", "auth_token": TOKEN},
        "voice": {"type": "twilio-voice", "auth_token": TOKEN, "twiml": VOICEMAIL},
    },
    "backends": {},
}


@pytest.fixture
async def gut(gateway_factory: GatewayFactory) -> GatewayUnderTest:
    return await gateway_factory(CONFIG, clock=lambda: RECEIVED)


async def post(
    gut: GatewayUnderTest,
    channel_id: str,
    body: bytes,
    *,
    token: str = TOKEN,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    """POST a recorded form body, signed for the URL the test server answers on."""
    path = f"/webhooks/{channel_id}"
    signature = sdk_signature(str(gut.client.make_url(path)), pairs(body), token)
    sent = {"X-Twilio-Signature": signature, "Content-Type": FORM, **(headers or {})}
    return await gut.client.post(path, data=body, headers=sent)


async def stored(gut: GatewayUnderTest, channel_id: str, external_id: str) -> list[Interaction]:
    """Return the interactions stored under (channel_id, external_id)."""
    return [i for i in await gut.interactions(channel_id) if i.external_id == external_id]


async def count(gut: GatewayUnderTest) -> int:
    """Return how many interactions the gateway stored."""
    return len(await gut.interactions())


async def assert_twiml(response: ClientResponse, twiml: str = EMPTY_TWIML) -> None:
    assert response.status == 200, await response.text()
    assert response.content_type == "text/xml"
    assert await response.text() == twiml


async def test_an_sms_is_stored_and_acknowledged_with_twiml(gut: GatewayUnderTest) -> None:
    await assert_twiml(await post(gut, "sms", fixture("sms_inbound")))
    [sms] = await stored(gut, "sms", "SM5f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c")
    assert (sms.type, sms.direction, sms.channel.kind) == ("message", "inbound", "sms")
    assert sms.sender.identities[0].value == CUSTOMER
    assert sms.recipient.identities[0].value == OUR_NUMBER
    assert sms.occurred_at == RECEIVED
    assert sms.occurred_at.tzinfo == UTC
    assert sms.content is not None
    assert sms.content.text == "Hi, my order #123 is late"
    assert sms.customer_id is not None


async def test_an_mms_keeps_its_media(gut: GatewayUnderTest) -> None:
    await assert_twiml(await post(gut, "sms", fixture("mms_two_media")))
    [mms] = await stored(gut, "sms", "MM7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d")
    assert mms.channel.kind == "mms"
    assert mms.content is not None
    assert [a.content_type for a in mms.content.attachments] == ["image/jpeg", "image/png"]


async def test_a_json_webhook_is_checked_by_its_body_hash(gut: GatewayUnderTest) -> None:
    body = as_json(fixture("sms_inbound"))
    url = json_url(str(gut.client.make_url("/webhooks/sms")), body)
    headers = {"X-Twilio-Signature": sdk_signature(url, {}), "Content-Type": JSON}
    path_and_query = url.split("/", 3)[3]
    await assert_twiml(await gut.client.post(f"/{path_and_query}", data=body, headers=headers))
    assert await stored(gut, "sms", "SM5f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c")


async def test_a_provider_retry_is_stored_once(gut: GatewayUnderTest) -> None:
    for _ in range(2):
        await assert_twiml(await post(gut, "sms", fixture("sms_inbound")))
    assert len(await stored(gut, "sms", "SM5f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c")) == 1
    assert await count(gut) == 1


async def test_a_bad_signature_is_refused_and_nothing_stored(gut: GatewayUnderTest) -> None:
    for channel_id, name in [("sms", "sms_inbound"), ("voice", "voice_incoming")]:
        response = await post(gut, channel_id, fixture(name), token=OTHER_TOKEN)
        assert response.status == 401
        assert response.content_type == "application/json"
        assert TOKEN not in await response.text()
    unsigned = await gut.client.post(
        "/webhooks/sms", data=fixture("sms_inbound"), headers={"Content-Type": FORM}
    )
    assert unsigned.status == 401
    assert await count(gut) == 0


async def test_a_bad_payload_is_refused_with_its_field(gut: GatewayUnderTest) -> None:
    body = fixture("sms_inbound").replace(b"MessageSid=", b"MessageSidX=")
    response = await post(gut, "sms", body)
    assert response.status == 422
    assert "MessageSid" in await response.text()
    assert await count(gut) == 0


async def test_out_of_order_statuses_are_each_stored_once(gut: GatewayUnderTest) -> None:
    """`delivered` overtakes `sent`: both are kept (the core keeps the higher state)."""
    for name in ("status_delivered", "status_sent", "status_delivered"):
        await assert_twiml(await post(gut, "sms", fixture(name)))
    sid = "SM0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
    [delivered] = await stored(gut, "sms", f"{sid}/delivered")
    [sent] = await stored(gut, "sms", f"{sid}/sent")
    assert delivered.status
    assert sent.status
    assert (delivered.status.state, sent.status.state) == ("delivered", "sent")
    assert delivered.status.of_external_id == sent.status.of_external_id == sid
    assert await count(gut) == 2


async def test_whatsapp_messages_are_phone_identities(gut: GatewayUnderTest) -> None:
    await assert_twiml(await post(gut, "whatsapp", fixture("whatsapp_location")))
    [message] = await stored(gut, "whatsapp", "SM2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b")
    assert message.channel.kind == "whatsapp"
    assert message.sender.display_name == "Jane Doe"
    assert message.sender.identities[0].value == CUSTOMER
    assert message.recipient.identities[0].value == WHATSAPP_SENDER
    assert message.metadata["Label"] == "Twilio HQ"
    await assert_twiml(await post(gut, "whatsapp", fixture("whatsapp_status_read")))
    [read] = await stored(gut, "whatsapp", "SM7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f/read")
    assert read.status is not None
    assert read.status.state == "read"


async def test_sms_and_whatsapp_from_one_phone_are_one_customer(gut: GatewayUnderTest) -> None:
    await post(gut, "sms", fixture("sms_inbound"))
    await post(gut, "whatsapp", fixture("whatsapp_text"))
    [sms] = await stored(gut, "sms", "SM5f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c")
    [chat] = await stored(gut, "whatsapp", "SM1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a")
    assert sms.customer_id is not None
    assert sms.customer_id == chat.customer_id


async def test_a_call_its_recording_and_transcription(gut: GatewayUnderTest) -> None:
    call_sid = "CA42ed11f93dc08b952027ffbc406d0868"
    await assert_twiml(await post(gut, "voice", fixture("voice_incoming")), VOICEMAIL)
    await assert_twiml(await post(gut, "voice", fixture("voice_recording")))
    await assert_twiml(await post(gut, "voice", fixture("voice_transcription")))
    await assert_twiml(await post(gut, "voice", fixture("voice_status_completed")), VOICEMAIL)
    [ringing] = await stored(gut, "voice", f"{call_sid}/ringing")
    [completed] = await stored(gut, "voice", f"{call_sid}/completed")
    recording_id = f"{call_sid}/recording/RE5c1a8e9f3b2d4c6a7e8f9a0b1c2d3e4f"
    [recording] = await stored(gut, "voice", recording_id)
    transcription_id = f"{call_sid}/transcription/TR8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c"
    [transcription] = await stored(gut, "voice", transcription_id)
    assert {i.thread_external_id for i in (ringing, completed, recording, transcription)} == {
        call_sid
    }
    assert ringing.channel.kind == "voice"
    assert ringing.sender.identities[0].value == CUSTOMER
    assert completed.call
    assert recording.call
    assert transcription.call
    assert completed.call.duration_s == 63
    assert recording.call.recording_url
    assert transcription.call.transcript
    assert completed.customer_id == ringing.customer_id is not None


async def test_behind_a_proxy_the_public_url_is_what_twilio_signed(
    gateway_factory: GatewayFactory,
) -> None:
    public = "https://gw.example.com/webhooks/sms"
    body = fixture("sms_inbound")
    headers = {"X-Twilio-Signature": sdk_signature(public, pairs(body)), "Content-Type": FORM}
    configured = await gateway_factory(
        {"channels": {"sms": {**CONFIG["channels"]["sms"], "public_url": "https://gw.example.com"}}}
    )
    await assert_twiml(await configured.client.post("/webhooks/sms", data=body, headers=headers))


async def test_behind_a_trusted_proxy_forwarded_headers_rebuild_the_url(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    public = "https://gw.example.com/webhooks/sms"
    body = fixture("sms_inbound")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.com"}
    headers = {
        "X-Twilio-Signature": sdk_signature(public, pairs(body)),
        "Content-Type": FORM,
        **forwarded,
    }
    config = {"channels": {"sms": CONFIG["channels"]["sms"]}}
    untrusting = await gateway_factory(config)
    refused = await untrusting.client.post("/webhooks/sms", data=body, headers=headers)
    assert refused.status == 401
    storage = {"url": f"sqlite:///{tmp_path}/trusting.db"}
    trusting = await gateway_factory(
        {**config, "server": {"trust_proxy": True}, "storage": storage}
    )
    await assert_twiml(await trusting.client.post("/webhooks/sms", data=body, headers=headers))


async def test_other_media_types_are_refused(gut: GatewayUnderTest) -> None:
    response = await gut.client.post(
        "/webhooks/sms", data=b"<xml/>", headers={"Content-Type": "text/xml"}
    )
    assert response.status == 415


async def test_a_blank_token_refuses_to_start(gateway_factory: GatewayFactory) -> None:
    for block in ({"type": "twilio-sms", "auth_token": ""}, {"type": "twilio-voice"}):
        with pytest.raises(ConfigError) as caught:
            await gateway_factory({"channels": {"support": block}})
        assert any("support" in problem for problem in caught.value.problems)
