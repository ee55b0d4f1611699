"""Replies' delivery events posted back through a running gateway: Postmark's hard bounce fails
a reply and a soft one changes nothing; Mailgun's permanent failure fails it, a forged event is
refused; SendGrid's Event Webhook without a valid signature is refused."""

from __future__ import annotations

import json

from email_cases import (
    authorization,
)
from fake_mail_apis import (
    MAILGUN_DOMAIN,
    MAILGUN_KEY,
    SENDGRID_KEY,
    FakeMailgun,
    FakePostmark,
    FakeSendGrid,
)
from provider_events import (
    bounce_webhook,
    mailgun_event,
    sendgrid_events,
    sign_sendgrid,
)
from send_gateway import (
    CHANNEL,
    config,
    inbound,
    post_webhook,
    reply,
)

from gateway.testing import GatewayFactory, GatewayUnderTest, WebhookReceiver


async def test_a_hard_bounce_fails_the_reply_and_a_soft_one_changes_nothing(
    gut: GatewayUnderTest, postmark: FakePostmark
) -> None:
    email = await inbound(gut, "postmark-inbound")
    message_id = await reply(gut, email)
    sent = await gut.message_in_state(message_id, "sent")
    soft = bounce_webhook(sent["provider_message_id"], kind="SoftBounce", inactive=False)
    await post_webhook(gut, "postmark-inbound", soft, "bounce.json")
    assert (await gut.message(message_id))["state"] == "sent"
    await post_webhook(
        gut, "postmark-inbound", bounce_webhook(sent["provider_message_id"]), "b.json"
    )
    failed = await gut.message_in_state(message_id, "failed")
    assert failed["error"].startswith("Postmark HardBounce: The server was unable to deliver")
    statuses = [i for i in await gut.interactions(CHANNEL) if i.type == "status"]
    assert [s.status.state for s in statuses if s.status] == ["failed"]


async def test_a_permanent_mailgun_failure_fails_the_reply_and_a_forged_event_is_refused(
    gateway_factory: GatewayFactory, mailgun: FakeMailgun, webhook_receiver: WebhookReceiver
) -> None:
    send = {"transport": "mailgun", "api_key": MAILGUN_KEY, "domain": MAILGUN_DOMAIN}
    gut = await gateway_factory(
        config("mailgun-inbound", send | {"base_url": mailgun.url}, webhook_receiver)
    )
    async with gut.gateway.running():
        email = await inbound(gut, "mailgun-inbound")
        message_id = await reply(gut, email)
        sent = await gut.message_in_state(message_id, "sent")
        provider_id = sent["provider_message_id"]
        forged = json.loads(mailgun_event(provider_id))
        forged["signature"]["signature"] = "0" * 64
        headers = {"Content-Type": "application/json"}
        refused = await gut.client.post(
            f"/webhooks/{CHANNEL}", data=json.dumps(forged), headers=headers
        )
        assert refused.status == 401
        temporary = mailgun_event(provider_id, "failed", severity="temporary")
        await post_webhook(gut, "mailgun-inbound", temporary, "event.json")
        assert (await gut.message(message_id))["state"] == "sent"
        status = {"code": 550, "message": "5.1.1 No such user", "description": "No such user"}
        failed = mailgun_event(
            provider_id, "failed", severity="permanent", **{"delivery-status": status}
        )
        await post_webhook(gut, "mailgun-inbound", failed, "event.json")
        dead = await gut.message_in_state(message_id, "failed")
        assert dead["error"] == "Mailgun 550: No such user"


async def test_an_unsigned_or_forged_sendgrid_event_post_is_refused(
    gateway_factory: GatewayFactory, sendgrid: FakeSendGrid, webhook_receiver: WebhookReceiver
) -> None:
    send = {"transport": "sendgrid", "api_key": SENDGRID_KEY, "base_url": sendgrid.url}
    gut = await gateway_factory(config("sendgrid-inbound", send, webhook_receiver))
    async with gut.gateway.running():
        body = sendgrid_events("x@acme.example")
        signed = sign_sendgrid(body)
        forged = body.replace(b"delivered", b'bounce"   ')
        for headers in ({}, authorization(), signed):
            sent = {"Content-Type": "application/json", **headers}
            answer = await gut.client.post(f"/webhooks/{CHANNEL}", data=forged, headers=sent)
            assert answer.status == 401
        assert await gut.interactions(CHANNEL) == []
