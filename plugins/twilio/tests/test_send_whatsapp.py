"""End to end: replies sent through `twilio-whatsapp` (DESIGN §12), against a strict fake Twilio.

An inbound WhatsApp message (Twilio's webhook form, signed), `POST /admin/messages` answering it,
exactly one Messages API create with `whatsapp:` addresses, the signed status callbacks marking
it delivered then read, and the `webhook` backend receiving the outbound interaction in the
customer's conversation after the inbound one. Also: the 24-hour window (free-form text refused
25 h later, a Content template sent), Twilio's WhatsApp errors and the `from` setting
(test_send_faults.py covers Twilio's faults for both senders).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fake_twilio import CONTENT_SID, FakeTwilio
from gateway_twilio.sender import classify_error
from outbound_cases import (
    PUBLIC_URL,
    WHATSAPP,
    Clock,
    post_twilio,
    reply,
    send,
    status_callback,
)
from recordings import CUSTOMER, WHATSAPP_SENDER

from gateway.errors import ConfigError
from gateway.plugin import Rejected
from gateway.testing import GatewayFactory, GatewayUnderTest, WebhookReceiver, eventually

TO = f"whatsapp:{CUSTOMER}"
FROM = f"whatsapp:{WHATSAPP_SENDER}"


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory,
    twilio: FakeTwilio,
    webhook_receiver: WebhookReceiver,
    clock: Clock,
) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(WHATSAPP.config(twilio, webhook_receiver), clock=clock)
    async with gut.gateway.running():
        yield gut


def template(*parameters: str, name: str = CONTENT_SID) -> dict[str, Any]:
    return {"name": name, "parameters": list(parameters)}


async def test_a_reply_is_sent_once_delivered_read_and_reaches_the_crm(
    gut: GatewayUnderTest, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    message = await WHATSAPP.inbound(gut)
    status, answer = await send(gut, reply(message))
    assert status == 202, answer
    queued = answer["message"]
    assert (queued["channel"], queued["conversation_id"]) == ("wa", message["conversation_id"])
    sent = await gut.message_in_state(queued["id"], "sent")
    assert twilio.created == [
        {
            "To": TO,
            "From": FROM,
            "Body": "On its way",
            "StatusCallback": f"{PUBLIC_URL}/webhooks/wa",
        }
    ]
    sid = sent["provider_message_id"]
    await post_twilio(gut, "wa", status_callback(sid, "delivered", to=TO, from_=FROM))
    await gut.message_in_state(queued["id"], "delivered")
    await post_twilio(gut, "wa", status_callback(sid, "read", to=TO, from_=FROM))
    await gut.message_in_state(queued["id"], "read")
    await post_twilio(gut, "wa", status_callback(sid, "delivered", to=TO, from_=FROM))  # late
    assert (await gut.message(queued["id"]))["state"] == "read"

    async def both_delivered() -> bool:
        return len(webhook_receiver.messages()) == 2

    await eventually(both_delivered)
    first, answered = webhook_receiver.messages()
    assert (first["direction"], answered["direction"]) == ("inbound", "outbound")
    assert (first["channel"]["kind"], answered["channel"]["kind"]) == ("whatsapp", "whatsapp")
    assert answered["id"] == sent["interaction_id"]
    assert answered["conversation_id"] == first["conversation_id"]
    assert len(twilio.created) == 1


async def test_free_text_25_hours_later_is_refused_a_content_template_is_sent(
    gut: GatewayUnderTest, twilio: FakeTwilio, clock: Clock
) -> None:
    message = await WHATSAPP.inbound(gut)
    clock.offset = timedelta(hours=25)
    status, answer = await send(gut, reply(message))
    assert (status, answer["error"]["code"]) == (409, "outside_messaging_window")
    templated = {"to": {"interaction_id": message["id"]}, "template": template("Jane", "1042")}
    status, answer = await send(gut, templated, "key-2")
    assert status == 202, answer
    await gut.message_in_state(answer["message"]["id"], "sent")
    [create] = twilio.created
    assert create == {
        "To": TO,
        "From": FROM,
        "ContentSid": CONTENT_SID,
        "ContentVariables": '{"1":"Jane","2":"1042"}',
        "StatusCallback": f"{PUBLIC_URL}/webhooks/wa",
    }
    assert orjson.loads(create["ContentVariables"]) == {"1": "Jane", "2": "1042"}


async def test_a_template_without_parameters_sends_no_content_variables(
    gut: GatewayUnderTest, twilio: FakeTwilio
) -> None:
    message = await WHATSAPP.inbound(gut)
    _, answer = await send(
        gut, {"to": {"customer_id": message["customer_id"]}, "template": template()}
    )
    await gut.message_in_state(answer["message"]["id"], "sent")
    [create] = twilio.created
    assert (create["ContentSid"], "ContentVariables" in create, "Body" in create) == (
        CONTENT_SID,
        False,
        False,
    )


async def test_a_template_name_that_is_no_content_sid_is_dead_with_the_reason(
    gut: GatewayUnderTest, twilio: FakeTwilio
) -> None:
    message = await WHATSAPP.inbound(gut)
    body = {"to": {"interaction_id": message["id"]}, "template": template(name="order_update")}
    _, answer = await send(gut, body)
    dead = await gut.message_in_state(answer["message"]["id"], "dead")
    assert "must be a Content SID (HX and 32 hex digits), got 'order_update'" in dead["error"]
    assert twilio.requests == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (63016, "outside WhatsApp's 24-hour customer service window: send a template"),
        (63024, "not a valid WhatsApp user"),
        (63014, "blocked the sender"),
        (21655, "the ContentSid is not a Content template of this account"),
        (21656, "ContentVariables is not valid"),
        (63028, "variables do not match"),
    ],
)
def test_whatsapp_refusals_are_dead_with_the_reason(code: int, reason: str) -> None:
    outcome = classify_error(400, {"code": code, "message": "refused"}, None)
    assert isinstance(outcome, Rejected)
    assert reason in outcome.reason
    assert f"Twilio 400 error {code}: refused" in outcome.reason


async def test_the_whatsapp_rate_limit_is_retried(
    gut: GatewayUnderTest, twilio: FakeTwilio
) -> None:
    message = await WHATSAPP.inbound(gut)
    # the code says "later", whatever the status
    twilio.fail_next(body={"code": 63018, "message": "Rate limit exceeded"}, status=400)
    _, answer = await send(gut, reply(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert (len(twilio.created), twilio.faults_served) == (1, 1)


async def test_a_messaging_service_sends_without_from(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    service = "MG" + "9f8e7d6c5b4a3210" * 2
    settings = WHATSAPP.config(twilio, webhook_receiver, messaging_service_sid=service)
    del settings["channels"]["wa"]["send"]["from"]
    gut = await gateway_factory(settings)
    async with gut.gateway.running():
        message = await WHATSAPP.inbound(gut)
        _, answer = await send(gut, reply(message))
        await gut.message_in_state(answer["message"]["id"], "sent")
    [create] = twilio.created
    assert (create["To"], create["MessagingServiceSid"], "From" in create) == (TO, service, False)


async def test_a_failed_status_callback_marks_it_failed_with_twilio_error(
    gut: GatewayUnderTest, twilio: FakeTwilio
) -> None:
    """WhatsApp refusals that come later (the window closed at Meta) arrive as a callback."""
    message = await WHATSAPP.inbound(gut)
    _, answer = await send(gut, reply(message))
    sent = await gut.message_in_state(answer["message"]["id"], "sent")
    failed = status_callback(sent["provider_message_id"], "undelivered", to=TO, from_=FROM)
    failed += b"&ErrorCode=63016&ErrorMessage=Outside+the+allowed+window"
    await post_twilio(gut, "wa", failed)
    shown = await gut.message_in_state(answer["message"]["id"], "failed")
    assert shown["error"] == "63016: Outside the allowed window"


@pytest.mark.parametrize("number", ["14155238886", "whatsapp:4155238886", "TwilioCo"])
async def test_the_whatsapp_sender_is_a_phone_number(
    gateway_factory: GatewayFactory,
    twilio: FakeTwilio,
    webhook_receiver: WebhookReceiver,
    number: str,
) -> None:
    with pytest.raises(ConfigError, match=r"channels\.wa\.send\.from: .*E\.164"):
        await gateway_factory(WHATSAPP.config(twilio, webhook_receiver, **{"from": number}))


async def test_a_whatsapp_prefixed_sender_is_sent_as_written(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    gut = await gateway_factory(WHATSAPP.config(twilio, webhook_receiver, **{"from": FROM}))
    async with gut.gateway.running():
        message = await WHATSAPP.inbound(gut)
        _, answer = await send(gut, reply(message))
        await gut.message_in_state(answer["message"]["id"], "sent")
    assert [create["From"] for create in twilio.created] == [FROM]


async def test_whatsapp_send_needs_somewhere_for_status_callbacks(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    broken = WHATSAPP.config(twilio, webhook_receiver)
    del broken["channels"]["wa"]["public_url"]
    with pytest.raises(ConfigError, match="public_url"):
        await gateway_factory(broken)
