"""Attachments sent through Twilio: one `MediaUrl` per attachment (MMS on `twilio-sms`, at most
10; WhatsApp media, one per message), against the strict fake Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fake_twilio import ACCOUNT_SID, FakeTwilio
from gateway_twilio.send_settings import TwilioSendSettings, TwilioWhatsAppSendSettings
from gateway_twilio.sender import TwilioSender, TwilioWhatsAppSender
from outbound_cases import PUBLIC_URL, SMS, send
from recordings import CUSTOMER, OUR_NUMBER, TOKEN, WHATSAPP_SENDER

from gateway.plugin import BackendContext, Delivered, Delivery, Rejected
from gateway.testing import GatewayFactory, WebhookReceiver, make_interaction

PHOTO = "https://files.example.com/receipt.jpg"
LABEL = "https://files.example.com/label.pdf"
CALLBACK = f"{PUBLIC_URL}/webhooks/sms"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def settings(twilio: FakeTwilio, sender: str = OUR_NUMBER) -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT_SID,
        "from": sender,
        "auth_token": TOKEN,
        "status_callback": CALLBACK,
        "base_url": twilio.url,
    }


def sms_sender(twilio: FakeTwilio, http: aiohttp.ClientSession) -> TwilioSender:
    send = TwilioSendSettings.model_validate(settings(twilio))
    return TwilioSender(BackendContext("channel:sms", http), send)


def whatsapp_sender(twilio: FakeTwilio, http: aiohttp.ClientSession) -> TwilioWhatsAppSender:
    send = TwilioWhatsAppSendSettings.model_validate(settings(twilio, WHATSAPP_SENDER))
    return TwilioWhatsAppSender(BackendContext("channel:wa", http), send)


def outbound(*urls: str, text: str | None = None) -> Delivery:
    """Return the delivery of an outbound message to the customer with `urls` attached."""
    interaction = make_interaction(
        direction="outbound",
        channel={"id": "sms", "kind": "sms", "provider": "twilio"},
        recipient={"identities": [{"kind": "phone", "value": CUSTOMER}]},
        content={"text": text, "attachments": [{"url": url} for url in urls]},
    )
    return Delivery(id=1, interaction=interaction, attempt=1)


async def test_a_reply_with_attachments_is_an_mms_with_one_media_url_each(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    gut = await gateway_factory(SMS.config(twilio, webhook_receiver))
    async with gut.gateway.running():
        sms = await SMS.inbound(gut)
        attachments = [{"url": PHOTO, "content_type": "image/jpeg"}, {"url": LABEL}]
        content = {"text": "Your receipt and label", "attachments": attachments}
        _, answer = await send(gut, {"to": {"interaction_id": sms["id"]}, "content": content})
        await gut.message_in_state(answer["message"]["id"], "sent")
    [create] = twilio.created
    assert create == {
        "To": CUSTOMER,
        "From": OUR_NUMBER,
        "Body": "Your receipt and label",
        "MediaUrl": [PHOTO, LABEL],
        "StatusCallback": CALLBACK,
    }


async def test_attachments_without_text_are_sent_as_media_only(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    gut = await gateway_factory(SMS.config(twilio, webhook_receiver))
    async with gut.gateway.running():
        sms = await SMS.inbound(gut)
        content = {"attachments": [{"url": PHOTO}]}
        _, answer = await send(gut, {"to": {"interaction_id": sms["id"]}, "content": content})
        await gut.message_in_state(answer["message"]["id"], "sent")
    [create] = twilio.created
    assert (create["MediaUrl"], "Body" in create) == ([PHOTO], False)


async def test_a_whatsapp_reply_carries_one_attachment(
    twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    [outcome] = await whatsapp_sender(twilio, http).deliver([outbound(PHOTO, text="Receipt")])
    assert isinstance(outcome, Delivered)
    [create] = twilio.created
    assert create["To"] == f"whatsapp:{CUSTOMER}"
    assert (create["Body"], create["MediaUrl"]) == ("Receipt", [PHOTO])


@pytest.mark.parametrize(
    ("whatsapp", "delivery", "reason"),
    [
        (True, outbound(PHOTO, LABEL), "twilio-whatsapp sends at most 1 attachment(s)"),
        (False, outbound(*[PHOTO] * 11), "twilio-sms sends at most 10 attachment(s)"),
        (False, outbound("ftp://files.example.com/a.jpg"), "attachment 0: Twilio fetches media"),
        (False, outbound(text=None), "twilio-sms sends text or attachments"),
    ],
)
async def test_media_twilio_cannot_send_is_refused_before_any_request(
    twilio: FakeTwilio,
    http: aiohttp.ClientSession,
    whatsapp: bool,
    delivery: Delivery,
    reason: str,
) -> None:
    sender = whatsapp_sender(twilio, http) if whatsapp else sms_sender(twilio, http)
    [outcome] = await sender.deliver([delivery])
    assert isinstance(outcome, Rejected)
    assert reason in outcome.reason
    assert twilio.requests == []
