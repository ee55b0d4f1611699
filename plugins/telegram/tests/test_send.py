"""Replies sent through `telegram` (DESIGN §12), against a strict fake Bot API.

End to end: an inbound Update, `POST /admin/messages` answering it, exactly one `sendMessage`
to the customer's chat, and the message `sent` with `{chat_id}:{message_id}` (Telegram sends no
receipts, so it stays `sent`). Also: flood control and 5xx retried and sent once, refused chats
dead with Telegram's description, a refused token pausing the lane, a send cut off in flight
parked, and the bot token in no reason or log line. The forum-topic and reply parameters are
built from the outbound interaction (checked directly: the core does not thread replies yet).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from fake_telegram import BOT_TOKEN, FakeTelegram, telegram_error
from gateway_telegram.sender import (
    REPLY_TO,
    TelegramSender,
    TelegramSendSettings,
    classify_error,
    send_message,
)
from telegram_cases import HEADER, SECRET_TOKEN, fixture

from gateway.errors import AuthenticationError, ConfigError
from gateway.plugin import BackendContext, Delivered, Delivery, Rejected, Retry
from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest, eventually

CHANNEL = "support-bot"
CUSTOMER_CHAT = 987654321
"""The chat (and user) id of `fixtures/message_text.json`."""
FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 5}


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake
        fake.assert_ok()


def config(telegram: FakeTelegram, **send: Any) -> dict[str, Any]:
    block = {"bot_token": BOT_TOKEN, "base_url": telegram.url, "timeout": "2s"}
    block |= {"retry": FAST_RETRY} | send
    channel = {"type": "telegram", "secret_token": SECRET_TOKEN, "send": block}
    return {"channels": {CHANNEL: channel}, "backends": {}}


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory, telegram: FakeTelegram
) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(config(telegram))
    async with gut.gateway.running():
        yield gut


async def inbound(gut: GatewayUnderTest) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", HEADER: SECRET_TOKEN}
    response = await gut.client.post(
        f"/webhooks/{CHANNEL}", data=fixture("message_text"), headers=headers
    )
    assert response.status == 200, await response.text()
    [message] = await gut.interactions(CHANNEL)
    return message.model_dump(mode="json")


async def reply(gut: GatewayUnderTest, to: dict[str, Any], text: str = "On it") -> str:
    body = {"to": {"interaction_id": to["id"]}, "content": {"text": text}}
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": "k1"})
    answer = await response.json()
    assert response.status == 202, answer
    message_id: str = answer["message"]["id"]
    return message_id


async def test_a_reply_is_sent_once_to_the_customers_chat(
    gut: GatewayUnderTest, telegram: FakeTelegram
) -> None:
    update = await inbound(gut)
    message_id = await reply(gut, update)
    sent = await gut.message_in_state(message_id, "sent")
    quoted = {"message_id": 4521, "allow_sending_without_reply": True}  # the customer's message
    assert telegram.sent == [
        {"chat_id": CUSTOMER_CHAT, "text": "On it", "reply_parameters": quoted}
    ]
    assert sent["provider_message_id"] == f"{CUSTOMER_CHAT}:100"
    assert sent["customer_id"] == update["customer_id"]
    await asyncio.sleep(0.1)
    assert len(telegram.requests) == 1
    assert (await gut.message(message_id))["state"] == "sent"  # no receipts: it stays sent


async def test_flood_control_is_retried_after_its_hint_and_sent_once(
    gut: GatewayUnderTest, telegram: FakeTelegram
) -> None:
    update = await inbound(gut)
    flood = telegram_error(429, "Too Many Requests: retry after 1", retry_after=1)
    telegram.fail_next(status=429, body=flood)
    message_id = await reply(gut, update)
    started = asyncio.get_running_loop().time()
    await gut.message_in_state(message_id, "sent")
    assert asyncio.get_running_loop().time() - started >= 0.9
    assert (telegram.faults_served, len(telegram.sent)) == (1, 1)


async def test_telegram_down_is_retried_and_sent_once(
    gut: GatewayUnderTest, telegram: FakeTelegram
) -> None:
    update = await inbound(gut)
    telegram.fail_next(2, status=502, body=telegram_error(502, "Bad Gateway"))
    await gut.message_in_state(await reply(gut, update), "sent")
    assert (telegram.faults_served, len(telegram.sent)) == (2, 1)


@pytest.mark.parametrize(
    ("status", "description"),
    [(400, "Bad Request: chat not found"), (403, "Forbidden: bot was blocked by the user")],
)
async def test_a_refused_chat_is_dead_with_telegrams_description(
    gut: GatewayUnderTest, telegram: FakeTelegram, status: int, description: str
) -> None:
    update = await inbound(gut)
    telegram.fail_next(status=status, body=telegram_error(status, description))
    dead = await gut.message_in_state(await reply(gut, update), "dead")
    assert dead["error"] == f"Telegram {status}: {description}"
    assert telegram.sent == []


async def test_a_refused_token_pauses_the_sender_and_stays_out_of_logs(
    gut: GatewayUnderTest, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    update = await inbound(gut)
    telegram.fail_next(status=401, body=telegram_error(401, "Unauthorized"))
    message_id = await reply(gut, update)

    async def paused() -> bool:
        backends = (await (await gut.admin.get("/admin/backends")).json())["backends"]
        lane = next(b for b in backends if b["name"] == f"channel:{CHANNEL}")
        return bool(lane["state"] != "ready")

    await eventually(paused)
    assert (await gut.message(message_id))["state"] == "queued"
    assert telegram.sent == []
    assert BOT_TOKEN not in caplog.text
    assert BOT_TOKEN.split(":")[1] not in str(await (await gut.admin.get("/admin/backends")).text())


async def test_a_send_cut_off_in_flight_is_parked_not_resent(
    gateway_factory: GatewayFactory, telegram: FakeTelegram
) -> None:
    gut = await gateway_factory(config(telegram, timeout="200ms"))
    async with gut.gateway.running():
        update = await inbound(gut)
        telegram.hang(1)
        dead = await gut.message_in_state(await reply(gut, update), "dead")
        assert dead["error"].startswith("outcome_unknown")
        assert BOT_TOKEN not in dead["error"]
        await asyncio.sleep(0.3)
        assert len(telegram.requests) == 1


async def test_send_needs_a_usable_bot_token(
    gateway_factory: GatewayFactory, telegram: FakeTelegram
) -> None:
    broken = config(telegram, bot_token="not-a-token")
    with pytest.raises(ConfigError, match=r"channels\.support-bot\.send\.bot_token") as raised:
        await gateway_factory(broken)
    assert "not-a-token" not in str(raised.value)


def outbound(**fields: Any) -> Delivery:
    """Return the delivery of a reply to the customer of `fixtures/message_text.json`."""
    now = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    interaction = Interaction.model_validate(
        {
            "type": "message",
            "direction": "outbound",
            "channel": {"id": CHANNEL, "kind": "telegram", "provider": "telegram"},
            "external_id": "k1",
            "occurred_at": now,
            "received_at": now,
            "recipient": {"identities": [{"kind": "telegram_user", "value": str(CUSTOMER_CHAT)}]},
            "content": {"text": "Yes, within 30 days"},
        }
        | fields
    )
    return Delivery(id=1, interaction=interaction, attempt=1)


async def test_a_reply_in_a_forum_topic_answers_the_customers_message(
    telegram: FakeTelegram,
) -> None:
    """The chat and topic come from the channel's `chat:topic` thread, the reply from metadata."""
    delivery = outbound(thread_external_id="-1001987654321:7", metadata={REPLY_TO: "912"})
    settings = TelegramSendSettings(bot_token=BOT_TOKEN, base_url=telegram.url)
    async with aiohttp.ClientSession() as http:
        sender = TelegramSender(BackendContext(name=f"channel:{CHANNEL}", http=http), settings)
        [outcome] = await sender.deliver([delivery])
    assert outcome == Delivered(provider_message_id="-1001987654321:100")
    assert telegram.sent == [
        {
            "chat_id": -1001987654321,
            "text": "Yes, within 30 days",
            "message_thread_id": 7,
            "reply_parameters": {"message_id": 912, "allow_sending_without_reply": True},
        }
    ]


async def test_an_aiohttp_error_quoting_the_url_loses_the_token() -> None:
    async def fail(_session: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        raise aiohttp.ClientError(f"cannot reach {params.url}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(fail)
    settings = TelegramSendSettings(bot_token=BOT_TOKEN)
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        sender = TelegramSender(BackendContext(name=f"channel:{CHANNEL}", http=http), settings)
        [outcome] = await sender.deliver([outbound()])
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith("outcome_unknown")
    assert "https://api.telegram.org/bot[redacted]/sendMessage" in outcome.reason
    assert BOT_TOKEN.split(":")[1] not in outcome.reason


def test_what_cannot_be_sent_is_rejected_before_any_request() -> None:
    assert send_message(outbound(content={"text": "x" * 4097})) == Rejected(
        "Telegram takes at most 4096 characters of text, not 4097"
    )
    nobody = outbound(recipient={"identities": [{"kind": "phone", "value": "+34600000000"}]})
    assert isinstance(send_message(nobody), Rejected)
    assert send_message(outbound()) == {"chat_id": CUSTOMER_CHAT, "text": "Yes, within 30 days"}


def test_telegram_errors_are_classified() -> None:
    flood = telegram_error(429, "Too Many Requests: retry after 7", retry_after=7)
    expected = Retry("Telegram 429: Too Many Requests: retry after 7", 7.0)
    assert classify_error(429, flood) == expected
    assert isinstance(classify_error(500, None), Retry)
    upgraded = telegram_error(400, "Bad Request: group chat was upgraded to a supergroup chat")
    upgraded["parameters"] = {"migrate_to_chat_id": -1001234}
    assert "supergroup -1001234" in classify_error(400, upgraded).reason
    for status in (401, 404):
        with pytest.raises(AuthenticationError, match="bot token"):
            classify_error(status, telegram_error(status, "Unauthorized"))


async def test_an_answer_without_a_message_id_is_an_unknown_outcome(
    telegram: FakeTelegram,
) -> None:
    """A 200 Telegram answered may mean the message went out: park it, never resend it."""
    telegram.fail_next(status=200, body={"ok": True, "result": {}})
    settings = TelegramSendSettings(bot_token=BOT_TOKEN, base_url=telegram.url)
    async with aiohttp.ClientSession() as http:
        sender = TelegramSender(BackendContext(name=f"channel:{CHANNEL}", http=http), settings)
        [outcome] = await sender.deliver([outbound()])
    assert outcome == Rejected(
        "outcome_unknown: Telegram answered 200 without result.message_id;"
        " it may have sent the message"
    )
