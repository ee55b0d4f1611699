"""Through a running gateway: Updates with the secret token stored once, anything else refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse
from telegram_cases import (
    HEADER,
    RECORDINGS,
    ROTATED_TOKEN,
    SECRET_TOKEN,
    fixture,
)

from gateway.testing import GatewayFactory, GatewayUnderTest, golden

STORED = [name for name in RECORDINGS.names() if name != "chat_member"]
COMPARED = (
    "type",
    "direction",
    "external_id",
    "thread_external_id",
    "sender",
    "content",
    "metadata",
)
"""What the channel maps; the gateway adds the channel id, customer, conversation and times."""


def config(**settings: Any) -> dict[str, Any]:
    block = {"type": "telegram", "secret_token": SECRET_TOKEN, **settings}
    return {"channels": {"support-bot": block}, "backends": {}}


async def post(
    gut: GatewayUnderTest, body: bytes, *, token: str | None = SECRET_TOKEN
) -> ClientResponse:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers[HEADER] = token
    return await gut.client.post("/webhooks/support-bot", data=body, headers=headers)


async def test_a_message_is_stored_with_its_fields(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, fixture("message_text"))
    assert response.status == 200, await response.text()
    assert await response.read() == b""  # a JSON body would be taken for a Bot API call
    [interaction] = await gut.interactions()
    assert (interaction.channel.id, interaction.channel.kind) == ("support-bot", "telegram")
    assert (interaction.type, interaction.direction) == ("message", "inbound")
    assert interaction.external_id == "734502911"
    assert interaction.thread_external_id == "987654321"
    assert interaction.occurred_at == datetime(2025, 10, 1, 9, 52, 25, tzinfo=UTC)
    assert interaction.sender.display_name == "Ana Ruiz"
    assert [(i.kind, i.value) for i in interaction.sender.identities] == [
        ("telegram_user", "987654321")
    ]
    assert interaction.content is not None
    assert interaction.content.text == "Hola, necesito ayuda con mi pedido 1042 📦"
    assert interaction.customer_id is not None
    assert interaction.conversation_id is not None


@pytest.mark.parametrize("name", STORED)
async def test_every_recorded_update_is_stored_as_its_golden_interaction(
    gateway_factory: GatewayFactory, name: str
) -> None:
    gut = await gateway_factory(config())
    assert (await post(gut, fixture(name))).status == 200
    [interaction] = await gut.interactions()
    [expected] = RECORDINGS.expected(name)
    stored = golden(interaction)
    assert {key: stored[key] for key in COMPARED} == {key: expected[key] for key in COMPARED}


@pytest.mark.parametrize("token", [None, "", "guess", SECRET_TOKEN[:-1], SECRET_TOKEN + "0"])
async def test_a_wrong_or_missing_token_is_401_and_nothing_stored(
    gateway_factory: GatewayFactory, token: str | None
) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, fixture("message_text"), token=token)
    assert response.status == 401
    error = (await response.json())["error"]
    assert error["code"] == "bad_signature"
    assert SECRET_TOKEN not in error["message"]
    assert await gut.interactions() == []


async def test_both_tokens_work_while_one_is_rotated(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config(secret_token=[SECRET_TOKEN, ROTATED_TOKEN]))
    assert (await post(gut, fixture("message_text"), token=SECRET_TOKEN)).status == 200
    assert (await post(gut, fixture("voice"), token=ROTATED_TOKEN)).status == 200
    assert len(await gut.interactions()) == 2


@pytest.mark.parametrize("name", STORED)
async def test_a_retried_update_is_stored_once(gateway_factory: GatewayFactory, name: str) -> None:
    gut = await gateway_factory(config())
    body = fixture(name)
    answers = [(await post(gut, body)).status for _ in range(3)]
    assert answers == [200, 200, 200]
    assert len(await gut.interactions()) == 1


async def test_an_edit_is_its_own_update_marked_as_an_edit(gateway_factory: GatewayFactory) -> None:
    """The original and its edit are two stored updates; only the edit says `edited`."""
    gut = await gateway_factory(config())
    assert (await post(gut, fixture("message_text"))).status == 200
    assert (await post(gut, fixture("edited_message"))).status == 200
    original, edit = await gut.interactions()
    assert "edited" not in original.metadata
    assert edit.metadata["edited"] == "true"
    assert edit.metadata["message_id"] == original.metadata["message_id"] == "4521"
    assert edit.customer_id == original.customer_id
    assert edit.conversation_id == original.conversation_id
    assert edit.occurred_at == datetime(2025, 10, 1, 9, 53, 21, tzinfo=UTC)  # its edit_date


async def test_an_unmapped_update_kind_is_acknowledged_and_not_stored(
    gateway_factory: GatewayFactory,
) -> None:
    """Anything but 2xx would make Telegram send it again and again."""
    gut = await gateway_factory(config())
    response = await post(gut, fixture("chat_member"))
    assert response.status == 200
    assert await gut.interactions() == []


async def test_an_own_contact_joins_the_phone_customer(gateway_factory: GatewayFactory) -> None:
    """After sharing their own contact, the Telegram user is the customer of that phone."""
    gut = await gateway_factory(config())
    assert (await post(gut, fixture("message_text"))).status == 200
    assert (await post(gut, fixture("contact_own"))).status == 200
    text, contact = await gut.interactions()
    assert ("phone", "+34612345678") in [(i.kind, i.value) for i in contact.sender.identities]
    assert contact.customer_id == text.customer_id


@pytest.mark.parametrize(
    "body", [b"{}", b'{"update_id": "1"}', b"[]", b'{"update_id": 1, "message": 5}']
)
async def test_an_unusable_update_is_422(gateway_factory: GatewayFactory, body: bytes) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, body)
    assert response.status == 422
    assert await gut.interactions() == []
