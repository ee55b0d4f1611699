"""End to end through a running gateway: an inbound e-mail, `POST /admin/messages` answering
it, exactly one well-formed send through the channel's transport, the message `sent` (and,
where the provider's delivery events are read, `delivered`), and the `webhook` backend
receiving the outbound interaction in the customer's conversation after the inbound. Also:
Postmark down (503) retried and sent once, rate limited (429) retried, a send cut off in flight
parked as `outcome_unknown`, and `send:` blocks that cannot work refused at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_mail_apis import (
    MAILGUN_DOMAIN,
    MAILGUN_KEY,
    POSTMARK_TOKEN,
    SENDGRID_KEY,
    FakeMailgun,
    FakePostmark,
    FakeSendGrid,
)
from fake_smtp import FakeSMTP
from gateway_email.reply import reply_subject
from provider_events import (
    DELIVERY_WEBHOOKS,
)
from send_cases import FROM
from send_gateway import (
    config,
    inbound,
    post_webhook,
    reply,
    threading,
)

from gateway.errors import ConfigError
from gateway.testing import GatewayFactory, GatewayUnderTest, WebhookReceiver, eventually


class Transports:
    """The fake behind each transport, started on demand, and what it received."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.fake: Any = None

    async def start(self, transport: str) -> dict[str, Any]:
        """Start the fake of `transport`; return the `send:` keys pointing at it."""
        if transport == "smtp":
            relay = FakeSMTP(self.tmp_path, username="gw", password="relay-pass")
            self.fake = await relay.__aenter__()
            return {
                "transport": "smtp",
                "host": "127.0.0.1",
                "port": self.fake.port,
                "ca_file": str(self.fake.ca_file),
                "username": "gw",
                "password": "relay-pass",
            }
        self.fake = {"postmark": FakePostmark, "sendgrid": FakeSendGrid, "mailgun": FakeMailgun}[
            transport
        ]()
        await self.fake.start()
        keys = {
            "postmark": {"server_token": POSTMARK_TOKEN},
            "sendgrid": {"api_key": SENDGRID_KEY},
            "mailgun": {"api_key": MAILGUN_KEY, "domain": MAILGUN_DOMAIN},
        }[transport]
        return {"transport": transport, "base_url": self.fake.url, **keys}

    def sent(self) -> list[dict[str, str]]:
        """Return the From, To, Subject and threading headers of every message received."""
        fake = self.fake
        if isinstance(fake, FakeSMTP):
            names = ("From", "To", "Subject", "In-Reply-To", "References")
            return [{n: str(r.parsed()[n]) for n in names} for r in fake.received]
        if isinstance(fake, FakePostmark):
            return [
                {"From": s["From"], "To": s["To"], "Subject": s["Subject"]}
                | {h["Name"]: h["Value"] for h in s["Headers"] if h["Name"] != "Message-ID"}
                for s in fake.sent
            ]
        if isinstance(fake, FakeSendGrid):
            return [
                {"From": f"Acme Support <{s['from']['email']}>"}
                | {"To": s["personalizations"][0]["to"][0]["email"], "Subject": s["subject"]}
                | {k: v for k, v in s["headers"].items() if k != "Message-ID"}
                for s in fake.sent
            ]
        return [
            {"From": s["from"], "To": s["to"], "Subject": s["subject"]}
            | {"In-Reply-To": s["h:In-Reply-To"], "References": s["h:References"]}
            for s in fake.sent
        ]

    async def close(self) -> None:
        """Stop the fake and check it saw no bad request."""
        if isinstance(self.fake, FakeSMTP):
            await self.fake.__aexit__(None, None, None)
        else:
            await self.fake.close()
        self.fake.assert_ok()


@pytest.fixture
async def transports(tmp_path: Path) -> AsyncIterator[Transports]:
    started = Transports(tmp_path)
    yield started
    await started.close()


@pytest.mark.parametrize(
    ("type_name", "transport"),
    [
        ("postmark-inbound", "postmark"),
        ("postmark-inbound", "smtp"),
        ("sendgrid-inbound", "sendgrid"),
        ("mailgun-inbound", "mailgun"),
    ],
)
async def test_a_reply_is_sent_once_threaded_and_reaches_the_crm(
    gateway_factory: GatewayFactory,
    transports: Transports,
    webhook_receiver: WebhookReceiver,
    type_name: str,
    transport: str,
) -> None:
    gut = await gateway_factory(
        config(type_name, await transports.start(transport), webhook_receiver)
    )
    async with gut.gateway.running():
        email = await inbound(gut, type_name)
        message_id = await reply(gut, email, subject=None)  # answers Re: the customer's subject
        sent = await gut.message_in_state(message_id, "sent")
        customer = email["sender"]["identities"][0]["value"]
        subject = reply_subject(f"Re: {email['content']['subject']}")
        expected = {"From": FROM, "To": customer, "Subject": subject}
        assert transports.sent() == [expected | threading(email)]
        assert sent["customer_id"] == email["customer_id"]
        if transport in DELIVERY_WEBHOOKS:
            webhook = DELIVERY_WEBHOOKS[transport](sent["provider_message_id"])
            await post_webhook(gut, type_name, webhook, "delivery.json")
            await gut.message_in_state(message_id, "delivered")

        async def both() -> bool:
            return len([i for i in webhook_receiver.interactions if i["type"] == "message"]) == 2

        await eventually(both)
        first, answer = [i for i in webhook_receiver.interactions if i["type"] == "message"]
        assert (first["direction"], answer["direction"]) == ("inbound", "outbound")
        assert answer["id"] == sent["interaction_id"]
        assert answer["conversation_id"] == first["conversation_id"] == email["conversation_id"]
        assert answer["thread_external_id"] == email["thread_external_id"]
        await asyncio.sleep(0.05)
        assert len(transports.sent()) == 1


async def test_postmark_down_is_retried_and_sent_once(
    gut: GatewayUnderTest, postmark: FakePostmark
) -> None:
    email = await inbound(gut, "postmark-inbound")
    postmark.fail_next(2, status=503)
    await gut.message_in_state(await reply(gut, email), "sent")
    assert (postmark.faults_served, len(postmark.sent)) == (2, 1)


async def test_a_rate_limit_is_retried_and_sent_once(
    gut: GatewayUnderTest, postmark: FakePostmark
) -> None:
    email = await inbound(gut, "postmark-inbound")
    limited = {"ErrorCode": 429, "Message": "Rate limit exceeded"}
    postmark.fail_next(status=429, body=limited)
    await gut.message_in_state(await reply(gut, email), "sent")
    assert (postmark.faults_served, len(postmark.sent)) == (1, 1)


async def test_a_send_cut_off_in_flight_is_parked_not_resent(
    gateway_factory: GatewayFactory, postmark: FakePostmark, webhook_receiver: WebhookReceiver
) -> None:
    send = {"transport": "postmark", "server_token": POSTMARK_TOKEN, "base_url": postmark.url}
    gut = await gateway_factory(
        config("postmark-inbound", send | {"timeout": "200ms"}, webhook_receiver)
    )
    async with gut.gateway.running():
        email = await inbound(gut, "postmark-inbound")
        postmark.hang()
        dead = await gut.message_in_state(await reply(gut, email), "dead")
        assert dead["error"].startswith("outcome_unknown")
        assert POSTMARK_TOKEN not in dead["error"]
        await asyncio.sleep(0.3)
        assert len(postmark.requests) == 1


@pytest.mark.parametrize(
    ("send", "error"),
    [
        ({"transport": "smtp", "host": "smtp.acme.example", "tls": "none"}, "tls: none only"),
        ({"transport": "smtp", "host": "smtp.acme.example", "api_key": "x"}, "api_key: not a key"),
        ({"transport": "mailgun", "api_key": "x"}, "transport mailgun needs domain"),
        ({"transport": "postmark", "server_token": "t", "from": "not an address"}, "from must"),
    ],
)
async def test_send_blocks_that_cannot_work_are_refused(
    gateway_factory: GatewayFactory,
    webhook_receiver: WebhookReceiver,
    send: dict[str, Any],
    error: str,
) -> None:
    with pytest.raises(ConfigError, match=r"channels\.mail\.send") as raised:
        await gateway_factory(config("postmark-inbound", send, webhook_receiver))
    assert error in str(raised.value)
