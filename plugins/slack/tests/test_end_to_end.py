"""Through a running gateway: url_verification, signed events stored once, forgeries refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse
from slack_cases import SIGNING_SECRET, TEAM, fixture, slack_headers

from gateway.testing import GatewayFactory, GatewayUnderTest

OLD_SECRET = "0b1c2d3e4f5a69788796a5b4c3d2e1f0"
CHALLENGE = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
CUSTOMER = f"{TEAM}:U2147483697"


def config(**settings: Any) -> dict[str, Any]:
    block = {"type": "slack", "signing_secret": SIGNING_SECRET, **settings}
    return {"channels": {"slack": block}, "backends": {}}


async def post(
    gut: GatewayUnderTest,
    body: bytes,
    *,
    secret: str = SIGNING_SECRET,
    age_s: int = 0,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    sent = {
        "Content-Type": "application/json",
        **slack_headers(body, int(time.time()) - age_s, secret=secret),
        **(headers or {}),
    }
    return await gut.client.post("/webhooks/slack", data=body, headers=sent)


async def test_url_verification_gets_its_challenge(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, fixture("url_verification"))
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {"challenge": CHALLENGE}
    assert await gut.interactions() == []


@pytest.mark.parametrize(
    ("secret", "age_s"), [("not-the-secret", 0), (SIGNING_SECRET, 301)], ids=["wrong", "stale"]
)
async def test_url_verification_is_answered_only_when_signed(
    gateway_factory: GatewayFactory, secret: str, age_s: int
) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, fixture("url_verification"), secret=secret, age_s=age_s)
    assert response.status == 401
    body = await response.text()
    assert CHALLENGE not in body
    assert json.loads(body)["error"]["code"] == "bad_signature"


async def test_a_signed_dm_is_stored(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    started = time.perf_counter()
    response = await post(gut, fixture("dm"))
    assert time.perf_counter() - started < 3  # Slack's deadline: the answer follows the commit
    assert response.status == 200, await response.text()
    assert await response.json() == {"received": 1}
    [interaction] = await gut.interactions()
    assert (interaction.type, interaction.direction) == ("message", "inbound")
    assert (interaction.channel.id, interaction.channel.kind, interaction.channel.provider) == (
        "slack",
        "slack",
        "slack",
    )
    assert interaction.external_id == "Ev08MFMKH6"
    assert [(i.kind, i.value) for i in interaction.sender.identities] == [("slack_user", CUSTOMER)]
    assert interaction.occurred_at == datetime(2026, 11, 22, 9, 59, 50, 200, tzinfo=UTC)
    assert interaction.content is not None
    assert interaction.content.text == "Where is my refund? Order #1042"
    assert interaction.metadata["channel_type"] == "im"
    assert interaction.customer_id is not None
    assert interaction.conversation_id is not None


async def test_a_thread_reply_and_a_file(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    for name in ("thread_reply", "file_share"):
        assert (await post(gut, fixture(name))).status == 200
    reply, shared = await gut.interactions()
    assert reply.thread_external_id == "C0LAN2Q65:1795341400.000100"
    assert shared.content is not None
    [attachment] = shared.content.attachments
    assert attachment.url == (
        "https://files.slack.com/files-pri/T024BE7LD-F0S43PZDF/damaged-box.png"
    )
    assert (attachment.content_type, attachment.filename, attachment.size) == (
        "image/png",
        "damaged-box.png",
        48213,
    )


@pytest.mark.parametrize(
    ("secret", "age_s"),
    [("not-the-secret", 0), (SIGNING_SECRET, 301), (SIGNING_SECRET, -301)],
    ids=["wrong-secret", "stale", "future"],
)
async def test_a_bad_or_stale_signature_is_refused_and_nothing_stored(
    gateway_factory: GatewayFactory, secret: str, age_s: int
) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, fixture("dm"), secret=secret, age_s=age_s)
    assert response.status == 401
    error = (await response.json())["error"]
    assert error["code"] == "bad_signature"
    assert SIGNING_SECRET not in error["message"]
    assert await gut.interactions() == []


async def test_both_secrets_verify_while_rotating(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config(signing_secret=[OLD_SECRET, SIGNING_SECRET]))
    assert (await post(gut, fixture("dm"), secret=OLD_SECRET)).status == 200
    assert (await post(gut, fixture("thread_reply"), secret=SIGNING_SECRET)).status == 200
    assert len(await gut.interactions()) == 2


async def test_slack_retries_are_stored_once(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    body = fixture("dm")
    first = await post(gut, body)
    retries = [
        await post(
            gut,
            body,
            headers={"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": "http_timeout"},
        )
        for number in (1, 2, 3)
    ]
    assert [r.status for r in (first, *retries)] == [200] * 4
    assert len(await gut.interactions()) == 1


async def test_edits_deletes_bots_and_our_own_messages_are_not_new_customer_messages(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    names = ("dm", "message_changed", "message_deleted", "bot_message", "own_app")
    for name in names:
        assert (await post(gut, fixture(name))).status == 200, name
    dm, edit, delete, bot, own = await gut.interactions()
    # The edit and the deletion are the customer's, on the customer, naming the original ts.
    assert (edit.customer_id, delete.customer_id) == (dm.customer_id, dm.customer_id)
    assert edit.metadata["edit_of"] == delete.metadata["delete_of"] == dm.metadata["ts"]
    assert "edit_of" not in dm.metadata
    assert edit.content is not None
    assert edit.content.text == "Where is my refund? Order #1043"
    assert delete.content is None
    # Another app's bot is no customer; our app's answer is outbound, to the thread's author.
    assert (bot.direction, bot.customer_id, bot.metadata["bot"]) == ("inbound", None, "true")
    assert bot.sender.identities == []
    assert (own.direction, own.metadata["own_app"]) == ("outbound", "true")
    assert [(i.kind, i.value) for i in own.recipient.identities] == [
        ("slack_user", f"{TEAM}:W012A3CDE")
    ]


async def test_other_events_are_acknowledged_and_not_stored(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    response = await post(gut, fixture("reaction_added"))
    assert response.status == 200
    assert await response.json() == {"received": 0}
    assert await gut.interactions() == []


async def test_an_invalid_event_is_a_422_naming_it(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    document = json.loads(fixture("dm"))
    document["event"]["ts"] = "yesterday"
    response = await post(gut, json.dumps(document).encode())
    assert response.status == 422
    assert "event.ts" in (await response.json())["error"]["message"]
    assert await gut.interactions() == []
