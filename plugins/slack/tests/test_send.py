"""Replies through the `slack` channel's sender (DESIGN §12), against a strict fake Slack.

End to end: a signed DM, `POST /admin/messages` answering it, exactly one `chat.postMessage`
into the app's IM with the customer, the provider message id `CHANNEL:TS`, and our own echo
(the message event Slack sends back, `own_app`) naming the same `channel` and `ts`. Also: Slack
down (503) and rate limited (429 + Retry-After), in-band refusals, a revoked token, a send cut
off in flight; a reply to a channel message threads under it; error classes against the sender
directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from fake_slack import BOT_TOKEN, FakeSlack
from gateway_slack.sender import REFUSED, SlackSender, SlackSendSettings, classify_error
from slack_cases import FIXTURES, SIGNING_SECRET, TEAM, fixture, slack_headers

from gateway.errors import AuthenticationError, ConfigError
from gateway.plugin import BackendContext, Delivered, Delivery, Rejected, Retry
from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest, eventually

IM = "D024BE91L"
CUSTOMER_USER = "U2147483697"
SUPPORT = "C0LAN2Q65"
THREAD = "1795341400.000100"
FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 5}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack([SUPPORT], {CUSTOMER_USER: IM}) as fake:
        fake.seed(SUPPORT, THREAD)
        yield fake
        fake.assert_ok()


def config(slack: FakeSlack, **send: Any) -> dict[str, Any]:
    block = {"bot_token": BOT_TOKEN, "base_url": slack.url, "timeout": "2s", "retry": FAST_RETRY}
    channel = {"type": "slack", "signing_secret": SIGNING_SECRET, "send": block | send}
    return {"channels": {"slack": channel}, "backends": {}}


@pytest.fixture
async def gut(gateway_factory: GatewayFactory, slack: FakeSlack) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(config(slack))
    async with gut.gateway.running():
        yield gut


async def post_event(gut: GatewayUnderTest, body: bytes) -> None:
    headers = {"Content-Type": "application/json", **slack_headers(body, int(time.time()))}
    response = await gut.client.post("/webhooks/slack", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def inbound(gut: GatewayUnderTest) -> dict[str, Any]:
    await post_event(gut, fixture("dm"))
    [dm] = await gut.interactions("slack")
    return dm.model_dump(mode="json")


def echo(channel: str, ts: str, text: str) -> bytes:
    """Return the message event Slack sends for the app's own message `ts` in `channel`."""
    envelope = orjson.loads(fixture("dm"))
    envelope["event_id"] = "Ev0ECHO0001"
    envelope["event"] = {
        "type": "message",
        "bot_id": "B0BOT7HC3",
        "app_id": envelope["api_app_id"],
        "user": "U0BOT7HC3",
        "text": text,
        "ts": ts,
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "im",
    }
    return orjson.dumps(envelope)


async def send(gut: GatewayUnderTest, dm: dict[str, Any], key: str = "key-1") -> str:
    body = {"to": {"interaction_id": dm["id"]}, "content": {"text": "On it"}}
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": key})
    answer = await response.json()
    assert response.status == 202, answer
    message_id: str = answer["message"]["id"]
    return message_id


async def test_a_reply_goes_to_the_customers_im_and_its_echo_is_recognised(
    gut: GatewayUnderTest, slack: FakeSlack
) -> None:
    dm = await inbound(gut)
    sent = await gut.message_in_state(await send(gut, dm), "sent")
    assert slack.posted == [{"channel": CUSTOMER_USER, "text": "On it"}]
    ts = slack.messages[IM][-1]
    assert sent["provider_message_id"] == f"{IM}:{ts}"
    await post_event(gut, echo(IM, ts, "On it"))
    own = [i for i in await gut.interactions("slack") if i.metadata.get("own_app") == "true"]
    [mirrored] = own
    assert mirrored.direction == "outbound"
    assert (
        f"{mirrored.metadata['channel']}:{mirrored.metadata['ts']}" == sent["provider_message_id"]
    )


async def test_slack_down_is_retried_and_sent_once(gut: GatewayUnderTest, slack: FakeSlack) -> None:
    dm = await inbound(gut)
    slack.fail_next(2, status=503)
    await gut.message_in_state(await send(gut, dm), "sent")
    assert len(slack.posted) == 1
    assert slack.faults_served == 2


async def test_ratelimited_waits_for_retry_after_and_sends_once(
    gut: GatewayUnderTest, slack: FakeSlack
) -> None:
    dm = await inbound(gut)
    slack.rate_limit(1, retry_after=1)
    started = time.monotonic()
    await gut.message_in_state(await send(gut, dm), "sent")
    assert time.monotonic() - started >= 0.9
    assert len(slack.posted) == 1


@pytest.mark.parametrize("error", ["not_in_channel", "is_archived", "msg_too_long"])
async def test_an_in_band_refusal_is_dead_with_the_error(
    gut: GatewayUnderTest, slack: FakeSlack, error: str
) -> None:
    dm = await inbound(gut)
    slack.fail_next(status=200, body={"ok": False, "error": error})
    dead = await gut.message_in_state(await send(gut, dm), "dead")
    assert error in dead["error"]
    assert REFUSED[error] in dead["error"]
    assert slack.posted == []


async def test_a_revoked_token_pauses_the_sender_without_losing_the_message(
    gut: GatewayUnderTest, slack: FakeSlack
) -> None:
    dm = await inbound(gut)
    slack.revoked = True
    message_id = await send(gut, dm)

    async def paused() -> bool:
        backends = (await (await gut.admin.get("/admin/backends")).json())["backends"]
        return any(b["name"] == "channel:slack" and b["state"] == "auth_failed" for b in backends)

    await eventually(paused)
    response = await gut.admin.get(f"/admin/messages/{message_id}")
    message = (await response.json())["message"]
    assert message["state"] not in ("sent", "dead")
    assert BOT_TOKEN not in orjson.dumps(message).decode()
    assert slack.posted == []


async def test_a_send_cut_off_in_flight_is_parked_not_resent(
    gateway_factory: GatewayFactory, slack: FakeSlack
) -> None:
    gut = await gateway_factory(config(slack, timeout="200ms"))
    async with gut.gateway.running():
        dm = await inbound(gut)
        slack.hang(1)
        dead = await gut.message_in_state(await send(gut, dm), "dead")
        assert dead["error"].startswith("outcome_unknown")
        await asyncio.sleep(0.3)
        assert len(slack.requests_to("POST", "chat.postMessage")) == 1


@pytest.mark.parametrize("case", ["channel_message", "thread_reply"])
async def test_a_reply_in_a_channel_goes_into_the_messages_thread(
    gut: GatewayUnderTest, slack: FakeSlack, case: str
) -> None:
    """A top-level channel message gets its reply as a thread under it; a thread reply's
    reply goes into the same thread (never to the channel itself, never to a DM)."""
    await post_event(gut, fixture(case))
    [asked] = await gut.interactions("slack")
    sent = await gut.message_in_state(await send(gut, asked.model_dump(mode="json")), "sent")
    assert slack.posted == [{"channel": SUPPORT, "thread_ts": THREAD, "text": "On it"}]
    assert sent["provider_message_id"] == f"{SUPPORT}:{slack.messages[SUPPORT][-1]}"


async def test_the_sender_posts_into_the_thread_the_interaction_names(slack: FakeSlack) -> None:
    [dm] = orjson.loads((FIXTURES / "dm.golden.json").read_bytes())
    reply = Interaction.model_validate(dm)
    reply = reply.model_copy(update={"thread_external_id": f"{SUPPORT}:{THREAD}"})
    settings = SlackSendSettings.model_validate({"bot_token": BOT_TOKEN, "base_url": slack.url})
    async with aiohttp.ClientSession() as http:
        sender = SlackSender(BackendContext(name="channel:slack", http=http), settings)
        await sender.health_check()
        [outcome] = await sender.deliver([Delivery(id=1, interaction=reply, attempt=1)])
    assert reply.content is not None
    assert slack.posted == [{"channel": SUPPORT, "thread_ts": THREAD, "text": reply.content.text}]
    assert outcome == Delivered(provider_message_id=f"{SUPPORT}:{slack.messages[SUPPORT][-1]}")


def test_slack_errors_are_classified() -> None:
    assert classify_error(429, None, 3.0) == Retry("Slack 429", after_s=3.0)
    assert isinstance(classify_error(200, {"ok": False, "error": "ratelimited"}, None), Retry)
    assert isinstance(classify_error(502, None, None), Retry)
    for error in REFUSED:
        refused = classify_error(200, {"ok": False, "error": error}, None)
        assert isinstance(refused, Rejected)
        assert error in refused.reason
    for error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
        with pytest.raises(AuthenticationError, match=error):
            classify_error(200, {"ok": False, "error": error}, None)
    with pytest.raises(AuthenticationError):
        classify_error(200, {"ok": False, "error": "missing_scope", "needed": "chat:write"}, None)
    with pytest.raises(AuthenticationError):
        classify_error(401, None, None)
    assert classify_error(200, {"ok": False, "error": "invalid_blocks"}, None) == Rejected(
        "Slack 200 invalid_blocks"
    )


async def test_the_bot_token_must_be_a_bot_token_and_is_never_echoed(
    gateway_factory: GatewayFactory, slack: FakeSlack
) -> None:
    user_token = "xoxp-1234-5678-user-token-secret"
    with pytest.raises(ConfigError, match=r"channels\.slack\.send\.bot_token: .*xoxb-") as caught:
        await gateway_factory(config(slack, bot_token=user_token))
    assert user_token not in str(caught.value)
