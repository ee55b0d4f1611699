"""Issue 5's promise with the real provider plugins: one phone on four channels is one customer.

SMS and WhatsApp through Twilio, WhatsApp through Meta's Cloud API and a phone call through
Twilio Voice, each signed the provider's way, become one customer in one conversation; an e-mail
address the operator links joins it as a repeat contact. Needs the `plugins/` distributions
(`make test` installs them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from gateway.schema import Identity, Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import SECRET

pytest.importorskip("gateway_twilio")
pytest.importorskip("gateway_meta")

TWILIO_TOKEN = "twilio-auth-token-for-tests-0001"
META_SECRET = "meta-app-secret-for-tests-0001"
PHONE = "+15551234567"
OURS = "+15557654321"
CONFIG = {
    "channels": {
        "sms": {"type": "twilio-sms", "auth_token": TWILIO_TOKEN},
        "twilio-wa": {"type": "twilio-whatsapp", "auth_token": TWILIO_TOKEN},
        "cloud-wa": {
            "type": "whatsapp-cloud",
            "app_secret": META_SECRET,
            "verify_token": "verify-me",
        },
        "voice": {"type": "twilio-voice", "auth_token": TWILIO_TOKEN},
        "email": {"type": "generic", "kind": "email", "secret": SECRET},
    },
    "backends": {},
}


async def post_twilio(gut: GatewayUnderTest, channel_id: str, params: dict[str, str]) -> None:
    """POST form params signed like Twilio: HMAC-SHA1 over the URL and the sorted params."""
    path = f"/webhooks/{channel_id}"
    url = str(gut.client.make_url(path))
    signed = url + "".join(key + params[key] for key in sorted(params))
    signature = base64.b64encode(
        hmac.digest(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1)
    ).decode()
    response = await gut.client.post(
        path,
        data=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status == 200, await response.text()


async def post_meta(gut: GatewayUnderTest, channel_id: str, payload: dict[str, Any]) -> None:
    """POST JSON signed like Meta: `sha256=` + HMAC-SHA256 of the raw body."""
    body = orjson.dumps(payload)
    digest = hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await gut.client.post(
        f"/webhooks/{channel_id}",
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"},
    )
    assert response.status == 200, await response.text()


def cloud_message(wamid: str) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": OURS[1:], "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Jane Doe"}, "wa_id": PHONE[1:]}],
        "messages": [
            {
                "from": PHONE[1:],
                "id": wamid,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": "Still nothing?"},
            }
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


async def timeline(gut: GatewayUnderTest) -> list[Interaction]:
    customer = await gut.gateway.store.find_customer(Identity(kind="phone", value=PHONE))
    assert customer is not None
    entries = await gut.gateway.store.timeline(customer.id)
    readable = [e.interaction for e in entries if isinstance(e.interaction, Interaction)]
    assert len(readable) == len(entries)
    return readable


async def test_sms_whatsapp_twice_and_a_call_are_one_customer_in_one_conversation(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(CONFIG)
    account = "AC3e8f4a2b9c1d7e6f5a4b3c2d1e0f9a8b"
    await post_twilio(
        gut,
        "sms",
        {
            "MessageSid": "SM00000000000000000000000000000001",
            "AccountSid": account,
            "From": PHONE,
            "To": OURS,
            "Body": "My order has not arrived",
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        },
    )
    await post_twilio(
        gut,
        "twilio-wa",
        {
            "MessageSid": "SM00000000000000000000000000000002",
            "AccountSid": account,
            "From": f"whatsapp:{PHONE}",
            "To": f"whatsapp:{OURS}",
            "WaId": PHONE[1:],
            "ProfileName": "Jane Doe",
            "Body": "Hello? Anyone?",
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        },
    )
    await post_meta(
        gut, "cloud-wa", cloud_message("wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUFCQ0RFRg==")
    )
    await post_twilio(
        gut,
        "voice",
        {
            "CallSid": "CA00000000000000000000000000000004",
            "AccountSid": account,
            "From": PHONE,
            "To": OURS,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        },
    )

    # By arrival: Meta's timestamp has whole seconds, so it may sort before Twilio's by time.
    contacts = sorted(await timeline(gut), key=lambda i: i.received_at)

    assert [(i.channel.kind, i.channel.provider) for i in contacts] == [
        ("sms", "twilio"),
        ("whatsapp", "twilio"),
        ("whatsapp", "meta"),
        ("voice", "twilio"),
    ]
    assert len({i.customer_id for i in contacts}) == 1
    assert len({i.conversation_id for i in contacts}) == 1
    assert contacts[-1].context is not None
    assert contacts[-1].context.model_dump() == {
        "conversation_channels": ["sms", "voice", "whatsapp"],
        "conversation_size": 4,
        "repeat_contact": True,
        "previous_channel": "whatsapp",
        "identity_claimed": False,
    }
    # Our own number, on the other side of every contact, is nobody's identity.
    assert await gut.gateway.store.find_customer(Identity(kind="phone", value=OURS)) is None

    # The agent links Jane's e-mail address; her e-mail joins the conversation as a repeat.
    linked = await gut.admin.post(
        f"/admin/customers/{contacts[0].customer_id}/identities",
        json={"identity": "email:Jane@Example.com"},
    )
    assert linked.status == 200, await linked.text()
    assert (await linked.json())["action"] == "linked"
    mail = await gut.post_signed(
        "email",
        {
            "external_id": "<CAF=jane@example.com>",
            "sender": {"identities": [{"kind": "email", "value": "jane@example.com"}]},
            "recipient": {"identities": [{"kind": "email", "value": "help@shop.example"}]},
            "content": {"subject": "Order #123", "text": "Third time asking."},
        },
        SECRET,
    )
    assert mail.status == 200, await mail.text()
    stored = await gut.gateway.store.get_interaction((await mail.json())["ids"][0])
    assert isinstance(stored, Interaction)
    assert (stored.customer_id, stored.conversation_id) == (
        contacts[0].customer_id,
        contacts[0].conversation_id,
    )
    assert stored.context is not None
    assert stored.context.model_dump() == {
        "conversation_channels": ["email", "sms", "voice", "whatsapp"],
        "conversation_size": 5,
        "repeat_contact": True,
        "previous_channel": "voice",
        "identity_claimed": False,
    }
