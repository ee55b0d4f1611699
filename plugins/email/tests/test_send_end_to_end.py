"""End to end through a running gateway: an inbound e-mail, `POST /admin/messages` answering
it, exactly one well-formed send through the channel's transport, the message `sent` (and for
Postmark its Delivery webhook marking it `delivered`, a hard bounce `failed`), and the `webhook`
backend receiving the outbound interaction in the customer's conversation after the inbound.
Also: Postmark down (503) retried and sent once, rate limited (429) retried, a send cut off in
flight parked as `outcome_unknown`, and `send:` blocks that cannot work refused at start."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from email_cases import (
    BASIC,
    GENERIC_SECRET,
    OURS,
    SIGNING_KEY,
    authorization,
    content_type,
    fixture,
    mailgun_signature,
)
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
from send_cases import FAST, FROM

from gateway.errors import ConfigError
from gateway.testing import FakeCRM, GatewayFactory, GatewayUnderTest, eventually

CHANNEL = "mail"
INBOUND = {
    "postmark-inbound": "postmark_reply.json",
    "sendgrid-inbound": "sendgrid_parsed.multipart",
    "mailgun-inbound": "mailgun_reply.form",
}


class Hook(FakeCRM):
    """A `webhook` backend's receiver: keeps the interaction of every event, answers 204."""

    def __init__(self) -> None:
        super().__init__()
        self.interactions: list[dict[str, Any]] = []

    def routes(self) -> Iterable[web.RouteDef]:
        return [web.post("/hook", self.hook)]

    async def hook(self, request: web.Request) -> web.Response:
        self.interactions.append((await request.json())["data"])
        return web.Response(status=204)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    async with Hook() as fake:
        yield fake
        fake.assert_ok()


def config(type_name: str, send: dict[str, Any], hook: Hook) -> dict[str, Any]:
    inbounds: dict[str, dict[str, Any]] = {
        "postmark-inbound": BASIC,
        "sendgrid-inbound": BASIC | {"event_webhook_key": EVENT_PUBLIC_KEY},
        # The recorded Mailgun post was signed on 2026-11-22: accepted however long ago that is.
        "mailgun-inbound": {"signing_key": SIGNING_KEY, "max_age": "3650d"},
    }
    inbound = inbounds[type_name]
    channel = {"type": type_name, "inbound_addresses": [OURS], **inbound}
    channel["send"] = {"from": FROM, **FAST, **send}
    backend = {"type": "webhook", "url": f"{hook.url}/hook", "secret": GENERIC_SECRET}
    # The recorded e-mails are dated 2026-11-22: their conversation stays open for the reply.
    identity = {"conversation_window": "3650d"}
    return {"channels": {CHANNEL: channel}, "backends": {"crm": backend}, "identity": identity}


async def post_webhook(gut: GatewayUnderTest, type_name: str, body: bytes, name: str) -> None:
    headers = {"Content-Type": content_type(name, body)}
    if type_name == "sendgrid-inbound" and name.endswith(".json"):
        headers |= sign_sendgrid(body)
    elif type_name != "mailgun-inbound":
        headers |= authorization()
    response = await gut.client.post(f"/webhooks/{CHANNEL}", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def inbound(gut: GatewayUnderTest, type_name: str) -> dict[str, Any]:
    name = INBOUND[type_name]
    await post_webhook(gut, type_name, fixture(name), name)
    [email] = await gut.interactions(CHANNEL)
    return email.model_dump(mode="json")


async def reply(gut: GatewayUnderTest, to: dict[str, Any], **content: Any) -> str:
    content = {"text": "It ships today.", "subject": "Re: Order 1042"} | content
    body = {"to": {"interaction_id": to["id"]}, "content": content}
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": "k1"})
    answer = await response.json()
    assert response.status == 202, answer
    return str(answer["message"]["id"])


def threading(answered: dict[str, Any]) -> dict[str, str]:
    """Return the `In-Reply-To` and `References` a reply to `answered` must carry."""
    own, root = answered["external_id"], answered["thread_external_id"]
    chain = " ".join(f"<{i}>" for i in dict.fromkeys([root, own]))
    return {"In-Reply-To": f"<{own}>", "References": chain}


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


def delivery_webhook(message_id: str) -> bytes:
    """Return Postmark's Delivery webhook for the message `message_id`."""
    return json.dumps(
        {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": "ana@example.com",
            "Tag": "",
            "DeliveredAt": "2026-11-22T10:05:03.1234567Z",
            "Details": "smtp;250 2.0.0 OK 1764756303 gmail",
            "Metadata": {},
        }
    ).encode()


def mailgun_event(message_id: str, event: str = "delivered", **fields: Any) -> bytes:
    """Return Mailgun's event webhook for the message `message_id`, signed now."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    data = {
        "event": event,
        "id": f"ev-{token[:12]}",
        "timestamp": time.time(),
        "log-level": "info",
        "recipient": "renee@example.fr",
        "message": {"headers": {"message-id": message_id, "to": "renee@example.fr"}, "size": 341},
        "delivery-status": {"code": 250, "message": "OK", "description": ""},
        **fields,
    }
    signature = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(timestamp, token),
    }
    return json.dumps({"signature": signature, "event-data": data}).encode()


EVENT_KEY = ec.generate_private_key(ec.SECP256R1())
"""The Event Webhook's signing key pair, as SendGrid generates one per account."""
EVENT_PUBLIC_KEY = base64.b64encode(
    EVENT_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
).decode()


def sendgrid_events(message_id: str, event: str = "delivered") -> bytes:
    """Return a SendGrid Event Webhook post (a JSON array) for the message `message_id`."""
    events = [
        {
            "email": "jose.munoz@example.es",
            "timestamp": int(time.time()),
            "event": "processed",
            "sg_event_id": secrets.token_urlsafe(16),
            "gateway_message_id": message_id,
        },
        {
            "email": "jose.munoz@example.es",
            "timestamp": int(time.time()),
            "event": event,
            "smtp-id": f"<{message_id}>",
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "response": "250 OK",
            "gateway_message_id": message_id,
        },
    ]
    return json.dumps(events).encode()


def sign_sendgrid(body: bytes) -> dict[str, str]:
    """Return the headers SendGrid signs an Event Webhook post with."""
    timestamp = str(int(time.time()))
    signature = EVENT_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


DELIVERY_WEBHOOKS = {
    "postmark": delivery_webhook,
    "mailgun": mailgun_event,
    "sendgrid": sendgrid_events,
}
"""The providers whose delivery events the channel reads, and each one's Delivery webhook."""


def bounce_webhook(message_id: str, kind: str = "HardBounce", inactive: bool = True) -> bytes:
    """Return Postmark's Bounce webhook for the message `message_id`."""
    return json.dumps(
        {
            "RecordType": "Bounce",
            "ID": 4323372036854775807,
            "Type": kind,
            "TypeCode": 1,
            "Name": "Hard bounce",
            "Tag": "",
            "MessageID": message_id,
            "ServerID": 23,
            "MessageStream": "outbound",
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
            "Email": "ana@example.com",
            "From": "support@acme.example",
            "BouncedAt": "2026-11-22T10:05:04Z",
            "DumpAvailable": True,
            "Inactive": inactive,
            "CanActivate": True,
            "Subject": "Re: Order 1042",
        }
    ).encode()


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
    hook: Hook,
    type_name: str,
    transport: str,
) -> None:
    gut = await gateway_factory(config(type_name, await transports.start(transport), hook))
    async with gut.gateway.running():
        email = await inbound(gut, type_name)
        message_id = await reply(gut, email)
        sent = await gut.message_in_state(message_id, "sent")
        customer = email["sender"]["identities"][0]["value"]
        expected = {"From": FROM, "To": customer, "Subject": "Re: Order 1042"}
        assert transports.sent() == [expected | threading(email)]
        assert sent["customer_id"] == email["customer_id"]
        if transport in DELIVERY_WEBHOOKS:
            webhook = DELIVERY_WEBHOOKS[transport](sent["provider_message_id"])
            await post_webhook(gut, type_name, webhook, "delivery.json")
            await gut.message_in_state(message_id, "delivered")

        async def both() -> bool:
            return len([i for i in hook.interactions if i["type"] == "message"]) == 2

        await eventually(both)
        first, answer = [i for i in hook.interactions if i["type"] == "message"]
        assert (first["direction"], answer["direction"]) == ("inbound", "outbound")
        assert answer["id"] == sent["interaction_id"]
        assert answer["conversation_id"] == first["conversation_id"] == email["conversation_id"]
        assert answer["thread_external_id"] == email["thread_external_id"]
        await asyncio.sleep(0.05)
        assert len(transports.sent()) == 1


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory, postmark: FakePostmark, hook: Hook
) -> AsyncIterator[GatewayUnderTest]:
    send = {"transport": "postmark", "server_token": POSTMARK_TOKEN, "base_url": postmark.url}
    gut = await gateway_factory(config("postmark-inbound", send, hook))
    async with gut.gateway.running():
        yield gut


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
    gateway_factory: GatewayFactory, postmark: FakePostmark, hook: Hook
) -> None:
    send = {"transport": "postmark", "server_token": POSTMARK_TOKEN, "base_url": postmark.url}
    gut = await gateway_factory(config("postmark-inbound", send | {"timeout": "200ms"}, hook))
    async with gut.gateway.running():
        email = await inbound(gut, "postmark-inbound")
        postmark.hang()
        dead = await gut.message_in_state(await reply(gut, email), "dead")
        assert dead["error"].startswith("outcome_unknown")
        assert POSTMARK_TOKEN not in dead["error"]
        await asyncio.sleep(0.3)
        assert len(postmark.requests) == 1


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


async def test_a_reply_without_a_subject_is_dead_with_the_reason(
    gut: GatewayUnderTest, postmark: FakePostmark
) -> None:
    email = await inbound(gut, "postmark-inbound")
    dead = await gut.message_in_state(await reply(gut, email, subject=None), "dead")
    assert dead["error"].startswith("an e-mail reply needs content.subject")
    assert postmark.requests == []


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
    gateway_factory: GatewayFactory, hook: Hook, send: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigError, match=r"channels\.mail\.send") as raised:
        await gateway_factory(config("postmark-inbound", send, hook))
    assert error in str(raised.value)


async def test_a_permanent_mailgun_failure_fails_the_reply_and_a_forged_event_is_refused(
    gateway_factory: GatewayFactory, mailgun: FakeMailgun, hook: Hook
) -> None:
    send = {"transport": "mailgun", "api_key": MAILGUN_KEY, "domain": MAILGUN_DOMAIN}
    gut = await gateway_factory(config("mailgun-inbound", send | {"base_url": mailgun.url}, hook))
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
    gateway_factory: GatewayFactory, sendgrid: FakeSendGrid, hook: Hook
) -> None:
    send = {"transport": "sendgrid", "api_key": SENDGRID_KEY, "base_url": sendgrid.url}
    gut = await gateway_factory(config("sendgrid-inbound", send, hook))
    async with gut.gateway.running():
        body = sendgrid_events("x@acme.example")
        signed = sign_sendgrid(body)
        forged = body.replace(b"delivered", b'bounce"   ')
        for headers in ({}, authorization(), signed):
            sent = {"Content-Type": "application/json", **headers}
            answer = await gut.client.post(f"/webhooks/{CHANNEL}", data=forged, headers=sent)
            assert answer.status == 401
        assert await gut.interactions(CHANNEL) == []
