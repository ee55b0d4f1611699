"""End to end: one customer on five channels, through a running gateway, into the fake HubSpot.

An SMS and a call (Twilio), a WhatsApp message (Meta's Cloud API), a web-chat message carrying
the phone and an e-mail address (the `generic` channel) and an e-mail (Postmark), each signed
the provider's way, reach `gateway serve` (a real subprocess); the `hubspot` backend delivers
them to `FakeHubSpot`. The outcome must be one contact holding the phone and the e-mail, five
engagements of the right types associated to it, and one ticket. A second run adds 30% of 503s,
a few 429s and a SIGKILL of the gateway midway (restarted on the same database): the outcome
must be the same, each engagement written once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from conftest import TOKEN
from fake_hubspot import FakeHubSpot

from gateway.testing import GatewayProcess, standard_webhook_headers

pytest.importorskip("gateway_twilio")
pytest.importorskip("gateway_meta")
pytest.importorskip("gateway_email")

TWILIO_TOKEN = "twilio-auth-token-for-tests-0001"
META_SECRET = "meta-app-secret-for-tests-0001"
WEB_SECRET = "whsec_dGhlLWh1YnNwb3QtZTJlLXdlYi1jaGFubmVsLXNlY3JldA=="
MAIL_USER, MAIL_PASSWORD = "postmark", "inbound-password-0001"
PHONE, OURS = "+15551234567", "+15557654321"
EMAIL = "jane.doe@example.com"
ACCOUNT = "AC3e8f4a2b9c1d7e6f5a4b3c2d1e0f9a8b"
DELIVERY_FAULTS = r"^/crm/v3/objects/\w+/|^/crm/v4/associations/.*/batch/"
"""Where faults go: the delivery path. The backend's start-up and its health check (one
`GET /crm/v3/objects/contacts`) meet a healthy HubSpot: `/readyz`, which the restart waits for,
reports them."""


def config(crm: FakeHubSpot) -> dict[str, Any]:
    return {
        "channels": {
            "sms": {"type": "twilio-sms", "auth_token": TWILIO_TOKEN},
            "voice": {"type": "twilio-voice", "auth_token": TWILIO_TOKEN},
            "wa": {"type": "whatsapp-cloud", "app_secret": META_SECRET, "verify_token": "v"},
            "web": {"type": "generic", "kind": "webchat", "secret": WEB_SECRET},
            "mail": {
                "type": "postmark-inbound",
                "basic_auth": {"username": MAIL_USER, "password": MAIL_PASSWORD},
                "inbound_addresses": ["support@shop.example"],
            },
        },
        "backends": {
            "hubspot": {
                "type": "hubspot",
                "token": TOKEN,
                "base_url": crm.url,
                "tickets": True,
                "timeout": "2s",
                "requests_per_10s": 150,
                "retry": {"initial_backoff": "50ms", "max_backoff": "200ms", "max_attempts": 1000},
                "circuit": {"failure_threshold": 1000},
            }
        },
    }


def twilio(gateway: GatewayProcess, channel: str, params: dict[str, str]) -> tuple[int, Any]:
    """POST form params signed like Twilio: HMAC-SHA1 over the URL and the sorted params."""
    url = f"{gateway.url}/webhooks/{channel}"
    signed = url + "".join(key + params[key] for key in sorted(params))
    signature = hmac.digest(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": base64.b64encode(signature).decode(),
    }
    return gateway.post(channel, urlencode(params).encode(), headers)


def sms(gateway: GatewayProcess) -> tuple[int, Any]:
    return twilio(
        gateway,
        "sms",
        {"MessageSid": "SM" + "1" * 32, "AccountSid": ACCOUNT, "From": PHONE, "To": OURS,
         "Body": "My order 1042 has not arrived", "NumMedia": "0", "ApiVersion": "2010-04-01"},
    )  # fmt: skip


def call(status: str, **extra: str) -> Callable[[GatewayProcess], tuple[int, Any]]:
    def post(gateway: GatewayProcess) -> tuple[int, Any]:
        params = {"CallSid": "CA" + "4" * 32, "AccountSid": ACCOUNT, "From": PHONE, "To": OURS,
                  "CallStatus": status, "Direction": "inbound"}  # fmt: skip
        return twilio(gateway, "voice", params | extra)

    return post


def whatsapp(gateway: GatewayProcess) -> tuple[int, Any]:
    """POST a WhatsApp Cloud API message, signed like Meta (`X-Hub-Signature-256`)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": OURS[1:], "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Jane Doe"}, "wa_id": PHONE[1:]}],
        "messages": [
            {"from": PHONE[1:], "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUFCQ0RFRg==",
             "timestamp": str(int(time.time())), "type": "text", "text": {"body": "Hello?"}}
        ],
    }  # fmt: skip
    body = orjson.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}
            ],
        }
    )
    digest = hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
    return gateway.post("wa", body, headers)


def web_chat(gateway: GatewayProcess) -> tuple[int, Any]:
    """POST a web-chat message carrying the phone and an e-mail, Standard Webhooks signed."""
    body = orjson.dumps(
        {
            "external_id": "chat-7",
            "type": "message",
            "direction": "inbound",
            "sender": {
                "display_name": "Jane Doe",
                "identities": [
                    {"kind": "phone", "value": PHONE},
                    {"kind": "email", "value": EMAIL},
                ],
            },
            "content": {"text": "I'm the one who texted; here is my e-mail too."},
        }
    )
    headers = {**standard_webhook_headers(WEB_SECRET, body), "Content-Type": "application/json"}
    return gateway.post("web", body, headers)


def email(gateway: GatewayProcess) -> tuple[int, Any]:
    """POST a Postmark inbound message with the Basic credentials Postmark sends."""
    document = {
        "From": EMAIL,
        "FromName": "Jane Doe",
        "FromFull": {"Email": EMAIL, "Name": "Jane Doe", "MailboxHash": ""},
        "To": "support@shop.example",
        "ToFull": [{"Email": "support@shop.example", "Name": "", "MailboxHash": ""}],
        "Subject": "Order 1042",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "Date": "Thu, 3 Dec 2026 10:00:00 +0000",
        "TextBody": "Third time asking: where is order 1042?",
        "HtmlBody": "<p>Third time asking: where is order 1042?</p>",
        "Headers": [
            {"Name": "Message-ID", "Value": "<CAF8ZkQ9=e2e@mail.example.com>"},
            {"Name": "Received-SPF", "Value": "pass (example.com: designates 192.0.2.1)"},
        ],
    }
    credentials = base64.b64encode(f"{MAIL_USER}:{MAIL_PASSWORD}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}
    return gateway.post("mail", orjson.dumps(document), headers)


WEBHOOKS = [
    sms,
    call("ringing"),
    whatsapp,
    call("completed", CallDuration="63", RecordingUrl="https://api.twilio.com/rec/RE1"),
    web_chat,
    email,
]
"""Six webhooks, five engagements: the call's two events are one call record."""


@pytest.fixture
async def crm() -> AsyncIterator[FakeHubSpot]:
    fake = FakeHubSpot(token=TOKEN, limit_per_10s=190)
    async with fake:
        yield fake


@pytest.fixture
def gateway(tmp_path: Path, crm: FakeHubSpot) -> Iterator[GatewayProcess]:
    process = GatewayProcess.configure(tmp_path, config(crm))
    yield process
    process.close()


async def post(
    gateway: GatewayProcess, webhook: Callable[[GatewayProcess], tuple[int, Any]]
) -> None:
    status, body = await asyncio.to_thread(webhook, gateway)
    assert status == 200, body


async def delivered(gateway: GatewayProcess, crm: FakeHubSpot) -> None:
    """Wait (up to 25 s) until the gateway reports all six deliveries done."""
    timeout = 25.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, answer = await asyncio.to_thread(gateway.get, gateway.admin_port, "/admin/backends")
        counts = {k: n for k, n in answer["backends"][0]["deliveries"].items() if n}
        if counts == {"delivered": len(WEBHOOKS)}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not delivered in {timeout}s: {answer}\n{crm.problems}\n{gateway.log()}")


def assert_one_history(crm: FakeHubSpot) -> None:
    """One contact with the phone and the e-mail; five engagements on it and on one ticket."""
    crm.assert_ok()
    [contact] = crm.of_type("contacts")
    assert contact.properties["phone"] == PHONE
    assert contact.properties["email"] == EMAIL
    assert (contact.properties["firstname"], contact.properties["lastname"]) == ("Jane", "Doe")
    kinds = sorted(
        (t, o.properties.get("hs_communication_channel_type", "")) for t, o in crm.engagements()
    )
    assert kinds == [
        ("calls", ""),
        ("communications", "SMS"),
        ("communications", "WHATS_APP"),
        ("emails", ""),
        ("notes", ""),
    ]
    [ticket] = crm.of_type("tickets")
    assert crm.associated("tickets", ticket.id, "contacts") == {contact.id}
    for object_type, engagement in crm.engagements():
        assert crm.associated(object_type, engagement.id, "contacts") == {contact.id}
        assert crm.associated(object_type, engagement.id, "tickets") == {ticket.id}
    [(_, phone_call)] = [(t, o) for t, o in crm.engagements() if t == "calls"]
    assert phone_call.properties["hs_call_status"] == "COMPLETED"
    assert phone_call.properties["hs_call_duration"] == "63000"


async def test_one_customer_on_five_channels_is_one_contact_with_five_engagements(
    gateway: GatewayProcess, crm: FakeHubSpot
) -> None:
    await asyncio.to_thread(gateway.start)
    for webhook in WEBHOOKS:
        await post(gateway, webhook)
    await delivered(gateway, crm)
    assert_one_history(crm)


async def test_faults_and_a_sigkill_still_write_each_record_once(
    gateway: GatewayProcess, crm: FakeHubSpot
) -> None:
    await asyncio.to_thread(gateway.start)
    crm.rate_limit(3, retry_after=1, path=DELIVERY_FAULTS)
    crm.fail_fraction(0.3, path=DELIVERY_FAULTS, seed=12)
    for webhook in WEBHOOKS[:3]:
        await post(gateway, webhook)
    deadline = time.monotonic() + 15
    while not crm.engagements():  # kill it while it delivers
        assert time.monotonic() < deadline, gateway.log()
        await asyncio.sleep(0.02)
    assert await asyncio.to_thread(gateway.stop, signal.SIGKILL) == -signal.SIGKILL

    await asyncio.to_thread(gateway.start)
    for webhook in WEBHOOKS[3:]:
        await post(gateway, webhook)
    await delivered(gateway, crm)
    assert crm.faults_served >= 5, "the faults should have been served"
    writes = crm.requests_to("POST", r"/batch/upsert$")
    assert len(writes) > len(WEBHOOKS), "some writes should have gone twice"
    assert_one_history(crm)
