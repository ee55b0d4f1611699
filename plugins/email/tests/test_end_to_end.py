"""Through a running gateway: each e-mail type's webhook stored with the right fields, forgeries
refused 401 (Mailgun's final refusals 406), provider retries stored once; threads, repeat
contacts across channels and auto-replies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from email_cases import (
    BASIC,
    GENERIC_SECRET,
    OURS,
    SIGNING_KEY,
    authorization,
    content_type,
    fixture,
    mailgun_form,
    postmark_body,
    sms_message,
)
from email_cases import RECEIVED as NOW

from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest, standard_webhook_headers

SAMPLES = {
    "sendgrid-inbound": "sendgrid_parsed.multipart",
    "mailgun-inbound": "mailgun_attachment.multipart",
    "postmark-inbound": "postmark_reply.json",
}
EXPECTED = {
    "sendgrid-inbound": ("CAN7pBd5y=Jq6oBd8sXQ@mail.gmail.com", "jose.munoz@example.es"),
    "mailgun-inbound": ("5f0a.renee@example.fr", "renee@example.fr"),
    "postmark-inbound": ("CAF8ZkQ9=3d@mail.gmail.com", "ana@example.com"),
}
CREDENTIALS = {"sendgrid-inbound": BASIC, "postmark-inbound": BASIC}


def config() -> dict[str, Any]:
    channels: dict[str, Any] = {
        type_name.partition("-")[0]: {
            "type": type_name,
            "inbound_addresses": [OURS],
            **CREDENTIALS.get(type_name, {"signing_key": SIGNING_KEY}),
        }
        for type_name in SAMPLES
    }
    channels["sms"] = {"type": "generic", "secret": GENERIC_SECRET, "kind": "sms"}
    return {"channels": channels, "backends": {}}


@pytest.fixture
async def gut(gateway_factory: GatewayFactory) -> GatewayUnderTest:
    return await gateway_factory(config(), clock=lambda: NOW)


async def post(
    gut: GatewayUnderTest, type_name: str, body: bytes, name: str, **headers: str
) -> ClientResponse:
    sent = {"Content-Type": content_type(name, body), **headers}
    if type_name != "mailgun-inbound":
        sent = {**authorization(), **sent}
    return await gut.client.post(
        f"/webhooks/{type_name.partition('-')[0]}", data=body, headers=sent
    )


async def stored(gut: GatewayUnderTest, channel_id: str) -> list[Interaction]:
    return await gut.interactions(channel_id)


@pytest.mark.parametrize("type_name", SAMPLES)
async def test_a_webhook_is_stored_once_with_its_fields(
    gut: GatewayUnderTest, type_name: str
) -> None:
    name = SAMPLES[type_name]
    body = fixture(name)
    first = await post(gut, type_name, body, name)
    assert first.status == 200, await first.text()
    again = await post(gut, type_name, body, name)  # the provider's retry
    assert again.status == 200
    [interaction] = await stored(gut, type_name.partition("-")[0])
    message_id, sender = EXPECTED[type_name]
    assert interaction.external_id == message_id
    assert [i.value for i in interaction.sender.identities] == [sender]
    assert interaction.channel.kind == "email"
    assert interaction.content is not None
    assert interaction.content.subject
    assert interaction.content.attachments
    assert interaction.content.attachments[0].size
    assert interaction.customer_id is not None


@pytest.mark.parametrize("type_name", ["sendgrid-inbound", "postmark-inbound"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        authorization(password="guess"),
        authorization(username="other"),
        {"Authorization": "Bearer x"},
    ],
)
async def test_wrong_credentials_are_refused_401(
    gut: GatewayUnderTest, type_name: str, headers: dict[str, str]
) -> None:
    name = SAMPLES[type_name]
    sent = {"Content-Type": content_type(name, fixture(name)), **headers}
    url = f"/webhooks/{type_name.partition('-')[0]}"
    response = await gut.client.post(url, data=fixture(name), headers=sent)
    assert response.status == 401
    assert await stored(gut, type_name.partition("-")[0]) == []


MAILGUN_FIELDS = {
    "from": "Bob <bob@example.com>",
    "recipient": OURS,
    "subject": "Order 1042",
    "body-plain": "Where is it?",
    "Message-Id": "<mg-1@example.com>",
}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (mailgun_form(MAILGUN_FIELDS, token="t" * 50, key="key-wrong"), 401),
        (mailgun_form(MAILGUN_FIELDS, token="t" * 50, timestamp="1795300000"), 406),  # 11.5 h old
        (mailgun_form(MAILGUN_FIELDS, token="t" * 50, timestamp="1795342600"), 406),  # ahead
    ],
    ids=["bad-signature", "stale", "future"],
)
async def test_mailgun_forgeries_are_refused(
    gut: GatewayUnderTest, body: bytes, status: int
) -> None:
    response = await post(gut, "mailgun-inbound", body, "x.form")
    assert response.status == status, await response.text()
    assert await stored(gut, "mailgun") == []


async def test_a_mailgun_token_replayed_with_another_message_is_refused_406(
    gut: GatewayUnderTest,
) -> None:
    token = "r" * 50
    assert (
        await post(gut, "mailgun-inbound", mailgun_form(MAILGUN_FIELDS, token=token), "x.form")
    ).status == 200
    resent = await post(gut, "mailgun-inbound", mailgun_form(MAILGUN_FIELDS, token=token), "x.form")
    assert resent.status == 200  # Mailgun resending with its original signature: deduped
    forged = {**MAILGUN_FIELDS, "Message-Id": "<forged@example.com>", "body-plain": "Send me $"}
    replayed = await post(gut, "mailgun-inbound", mailgun_form(forged, token=token), "x.form")
    assert replayed.status == 406
    assert [i.external_id for i in await stored(gut, "mailgun")] == ["mg-1@example.com"]


async def test_a_reply_with_a_new_subject_stays_in_its_thread(gut: GatewayUnderTest) -> None:
    root, second, third = "root-1@example.com", "second-2@example.com", "third-3@example.com"
    bodies = [
        postmark_body(root, "My order 1042"),
        postmark_body(second, "Re: My order 1042", references=f"<{root}>"),
        postmark_body(third, "Now the invoice is wrong too", references=f"<{root}> <{second}>"),
    ]
    for body in bodies:
        assert (await post(gut, "postmark-inbound", body, "x.json")).status == 200
    found = await stored(gut, "postmark")
    assert [i.external_id for i in found] == [root, second, third]
    assert {i.thread_external_id for i in found} == {root}


async def _sms_customer(gut: GatewayUnderTest) -> str:
    body = orjson.dumps(sms_message())
    headers = standard_webhook_headers(GENERIC_SECRET, body, timestamp=int(NOW.timestamp()))
    headers["Content-Type"] = "application/json"
    response = await gut.client.post("/webhooks/sms", data=body, headers=headers)
    assert response.status == 200, await response.text()
    [text] = await stored(gut, "sms")
    assert text.customer_id is not None
    linked = await gut.admin.post(
        f"/admin/customers/{text.customer_id}/identities",
        json={"identity": "email:ana@example.com"},
    )
    assert linked.status == 200, await linked.text()
    return text.customer_id


async def test_an_email_from_a_linked_address_is_a_repeat_contact(gut: GatewayUnderTest) -> None:
    customer = await _sms_customer(gut)
    [text] = await stored(gut, "sms")
    response = await post(
        gut, "postmark-inbound", postmark_body("e-1@example.com", "Hello?"), "x.json"
    )
    assert response.status == 200
    [email] = await stored(gut, "postmark")
    assert email.customer_id == customer
    assert email.conversation_id == text.conversation_id
    assert email.context is not None
    assert email.context.repeat_contact is True
    assert email.context.previous_channel == "sms"


async def test_an_auto_reply_is_flagged_and_never_a_repeat_contact(gut: GatewayUnderTest) -> None:
    customer = await _sms_customer(gut)
    auto = postmark_body(
        "ooo-1@example.com", "Out of office", headers={"Auto-Submitted": "auto-replied"}
    )
    assert (await post(gut, "postmark-inbound", auto, "x.json")).status == 200
    real = postmark_body("e-2@example.com", "Any news?")
    assert (await post(gut, "postmark-inbound", real, "x.json")).status == 200
    reply, message = await stored(gut, "postmark")
    assert reply.metadata["automated"] == "auto-submitted: auto-replied"
    assert reply.customer_id == customer
    assert reply.context is not None
    assert reply.context.repeat_contact is False
    # The auto-reply answered nothing: the customer's e-mail still chases the unanswered SMS.
    assert message.context is not None
    assert message.context.repeat_contact is True
    assert message.context.previous_channel == "email"
