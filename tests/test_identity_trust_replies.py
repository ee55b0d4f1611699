"""Identity trust, the stranger scenario through the admin API: a reply to his claimed chat is
refused and nothing is sent; answers to the customer go to her verified address only; an
operator who accepts the held merge merges them; the same form, verified, is answered as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.schema import Interaction
from gateway.testing import GatewayUnderTest
from tests.payloads import SECRET
from tests.sending_channel import FakeMailApi, mail_config, start_gateway
from tests.test_identity import contact, send

VICTIM = "ann@example.com"
STRANGER = "+15550000002"
DESK = ("email", "desk@shop.example")


@pytest.fixture
async def gut(tmp_path: Path, mail_api: FakeMailApi, aiohttp_client: Any) -> GatewayUnderTest:
    """Ann's e-mail channel (it sends replies), a web-chat form whose visitors type their
    details, and a web chat of the company's app, which logs its visitors in."""
    forms = (
        f"  web-form: {{type: generic, kind: webchat, secret: {SECRET},"
        " identities_verified: false}\n"
        f"  app-chat: {{type: generic, kind: webchat, secret: {SECRET}}}\n"
    )
    return await start_gateway(mail_config(tmp_path, mail_api, forms), aiohttp_client)


async def reply(gut: GatewayUnderTest, to: dict[str, str], key: str) -> tuple[int, Any]:
    """`POST /admin/messages` a text answering `to`; return the status and the JSON answer."""
    body = {"to": to, "content": {"text": "Your order ships today."}}
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": key})
    return response.status, await response.json()


async def ann_then_the_stranger(gut: GatewayUnderTest, channel: str) -> tuple[Interaction, str]:
    """Ann e-mails; the stranger chats on `channel` typing his phone and Ann's address.

    Return the stranger's chat and the id of the customer his phone made: the chat can only
    carry both identities once Ann's address is known, so his phone is first known alone.
    """
    ann = await send(gut, "mail", contact("E1", ("email", VICTIM), ours=DESK, name="Ann"))
    alone = await send(
        gut, "app-chat", contact("chat-0", ("phone", STRANGER), ours=DESK, name="Max")
    )
    assert ann.customer_id is not None
    assert alone.customer_id not in (None, ann.customer_id)
    chat = await send(
        gut,
        channel,
        contact("chat-1", ("phone", STRANGER), ("email", VICTIM), ours=DESK, name="Max",
                at="2026-11-22T10:05:00Z"),
    )  # fmt: skip
    assert chat.customer_id == ann.customer_id
    return chat, str(alone.customer_id)


async def test_a_reply_to_the_strangers_claimed_chat_is_refused(
    gut: GatewayUnderTest, mail_api: FakeMailApi
) -> None:
    chat, stranger_id = await ann_then_the_stranger(gut, "web-form")
    assert chat.identity_claimed

    status, refused = await reply(gut, {"interaction_id": chat.id}, "to-the-chat")
    assert status == 409, refused
    assert refused["error"]["code"] == "unverified_recipient"
    # An answer to Ann's conversation (which holds the claimed chat) goes to her address only.
    assert chat.conversation_id is not None
    status, queued = await reply(gut, {"conversation_id": chat.conversation_id}, "to-ann")
    assert status == 202, queued
    await gut.message_in_state(queued["message"]["id"], "sent")
    assert [m["to"] for m in mail_api.sent] == [VICTIM]
    # Nothing of the stranger's reached Ann's customer: his own stays apart, unmerged.
    assert chat.customer_id is not None
    ann = await gut.gateway.store.get_customer(chat.customer_id)
    stranger = await gut.gateway.store.get_customer(stranger_id)
    assert ann is not None
    assert stranger is not None
    assert [i.value for i in ann.identities] == [VICTIM]
    assert stranger.merged_into is None


async def test_an_operator_accepting_the_held_merge_merges_them(gut: GatewayUnderTest) -> None:
    chat, stranger_id = await ann_then_the_stranger(gut, "web-form")
    listed = await gut.admin.get("/admin/merge-proposals")
    [proposal] = (await listed.json())["proposals"]
    assert (proposal["customer_id"], proposal["other_customer_id"]) == (
        chat.customer_id,
        stranger_id,
    )
    accepted = await gut.admin.post(f"/admin/merge-proposals/{proposal['id']}/accept")
    assert accepted.status == 200, await accepted.text()
    stranger = await gut.gateway.store.get_customer(stranger_id)
    assert stranger is not None
    assert stranger.merged_into == chat.customer_id


async def test_the_same_chat_from_a_logged_in_visitor_merges_and_is_answered(
    gut: GatewayUnderTest, mail_api: FakeMailApi
) -> None:
    chat, stranger_id = await ann_then_the_stranger(gut, "app-chat")
    assert not chat.identity_claimed
    stranger = await gut.gateway.store.get_customer(stranger_id)
    assert stranger is not None
    assert stranger.merged_into == chat.customer_id

    status, queued = await reply(gut, {"interaction_id": chat.id}, "to-the-chat")
    assert status == 202, queued
    await gut.message_in_state(queued["message"]["id"], "sent")
    assert [m["to"] for m in mail_api.sent] == [VICTIM]
