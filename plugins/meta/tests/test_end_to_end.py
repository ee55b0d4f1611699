"""Through a running gateway: Meta's handshake, signed webhooks stored once, forgeries refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse
from meta_cases import (
    APP_SECRET,
    VERIFY_TOKEN,
    fixture,
    hub_signature,
    whatsapp_body,
    whatsapp_value,
)

from gateway.testing import GatewayFactory, GatewayUnderTest

TYPES = ["whatsapp-cloud", "messenger", "instagram"]
SAMPLE = {
    "whatsapp-cloud": "wa_image",
    "messenger": "messenger_attachment",
    "instagram": "instagram_text",
}


def config(type_name: str) -> dict[str, Any]:
    block = {"type": type_name, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}
    return {"channels": {"meta": block}, "backends": {}}


async def post(gut: GatewayUnderTest, body: bytes, *, secret: str = APP_SECRET) -> ClientResponse:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": hub_signature(secret, body),
    }
    return await gut.client.post("/webhooks/meta", data=body, headers=headers)


@pytest.mark.parametrize("type_name", TYPES)
async def test_the_dashboard_verification_gets_its_challenge(
    gateway_factory: GatewayFactory, type_name: str
) -> None:
    gut = await gateway_factory(config(type_name))
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    response = await gut.client.get("/webhooks/meta", params=query)
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "1158201444"
    wrong = await gut.client.get("/webhooks/meta", params={**query, "hub.verify_token": "guess"})
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "bad_verify_token"


@pytest.mark.parametrize("type_name", TYPES)
async def test_a_signed_webhook_is_stored(gateway_factory: GatewayFactory, type_name: str) -> None:
    gut = await gateway_factory(config(type_name))
    response = await post(gut, fixture(SAMPLE[type_name]))
    assert response.status == 200, await response.text()
    assert await response.json() == {"received": 1}
    [interaction] = await gut.interactions()
    assert interaction.channel.id == "meta"
    assert interaction.customer_id is not None
    assert interaction.conversation_id is not None
    assert interaction.occurred_at.tzinfo == UTC
    assert interaction.content is not None
    if type_name == "whatsapp-cloud":
        assert interaction.channel.kind == "whatsapp"
        assert interaction.external_id.startswith("wamid.")
        assert [(i.kind, i.value) for i in interaction.sender.identities] == [
            ("phone", "+16505551234")
        ]
        assert interaction.occurred_at == datetime(2025, 6, 8, 21, 0, 50, tzinfo=UTC)
        [attachment] = interaction.content.attachments
        assert (attachment.url, attachment.content_type) == (None, "image/jpeg")
        assert interaction.metadata["media_id"] == "1003383421387256"
    elif type_name == "messenger":
        assert interaction.channel.kind == "messenger"
        assert interaction.external_id.startswith("m_")
        assert [(i.kind, i.value) for i in interaction.sender.identities] == [
            ("messenger_psid", "1254459154682919")
        ]
        assert interaction.occurred_at == datetime(2018, 2, 12, 23, 48, 15, 877000, tzinfo=UTC)
        assert len(interaction.content.attachments) == 2
    else:
        assert interaction.channel.kind == "instagram"
        assert [(i.kind, i.value) for i in interaction.sender.identities] == [
            ("instagram_id", "1914819265308137")
        ]
        assert interaction.content.text == "Is the blue one still available?"


@pytest.mark.parametrize("type_name", TYPES)
async def test_a_bad_signature_is_refused_and_nothing_stored(
    gateway_factory: GatewayFactory, type_name: str
) -> None:
    gut = await gateway_factory(config(type_name))
    response = await post(gut, fixture(SAMPLE[type_name]), secret="not-the-app-secret")
    assert response.status == 401
    error = (await response.json())["error"]
    assert error["code"] == "bad_signature"
    assert APP_SECRET not in error["message"]
    assert await gut.interactions() == []


@pytest.mark.parametrize("type_name", TYPES)
async def test_a_provider_retry_is_stored_once(
    gateway_factory: GatewayFactory, type_name: str
) -> None:
    gut = await gateway_factory(config(type_name))
    body = fixture(SAMPLE[type_name])
    first, retry = await post(gut, body), await post(gut, body)
    assert (first.status, retry.status) == (200, 200)
    assert len(await gut.interactions()) == 1


@pytest.mark.parametrize(
    ("type_name", "name", "count"),
    [("whatsapp-cloud", "wa_batched", 6), ("messenger", "messenger_delivery", 2)],
)
async def test_a_batch_is_stored_as_one_interaction_per_event(
    gateway_factory: GatewayFactory, type_name: str, name: str, count: int
) -> None:
    gut = await gateway_factory(config(type_name))
    response = await post(gut, fixture(name))
    assert response.status == 200
    assert await response.json() == {"received": count}
    assert len({interaction.external_id for interaction in await gut.interactions()}) == count


async def test_non_ascii_text_survives_the_trip(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config("whatsapp-cloud"))
    assert (await post(gut, fixture("wa_non_ascii"))).status == 200
    [interaction] = await gut.interactions()
    assert interaction.sender.display_name == "José Pérez"
    assert interaction.content is not None
    assert interaction.content.text == "¿Dónde está mi pedido? äöå 📦 https://shop.example/o/123"


async def test_an_invalid_event_is_a_422_naming_it(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config("messenger"))
    body = b'{"object": "page", "entry": [{"id": "1", "messaging": [{"message": {}}]}]}'
    response = await post(gut, body)
    assert response.status == 422
    assert "entry.0.messaging.0" in (await response.json())["error"]["message"]
    assert await gut.interactions() == []


async def test_a_bsuid_seen_with_a_phone_finds_the_same_customer_later(
    gateway_factory: GatewayFactory,
) -> None:
    """Once a message carried both, a BSUID-only message (a user with a username) is theirs."""
    gut = await gateway_factory(config("whatsapp-cloud"))
    bsuid = "US.13491208655302741918"
    both = {
        "from": "16505551234",
        "from_user_id": bsuid,
        "id": "wamid.BOTH",
        "timestamp": "1749416000",
        "type": "text",
        "text": {"body": "It's Sheena"},
    }
    contacts = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": bsuid}]
    first = whatsapp_body(whatsapp_value(contacts=contacts, messages=[both]))
    assert (await post(gut, first)).status == 200
    assert (await post(gut, fixture("wa_text"))).status == 200  # the phone alone
    assert (await post(gut, fixture("wa_bsuid_only"))).status == 200  # the BSUID alone
    customers = {interaction.customer_id for interaction in await gut.interactions()}
    assert len(customers) == 1
    assert None not in customers
