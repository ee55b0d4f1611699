"""End to end: replies sent through `twilio-sms` (DESIGN §12), against a strict fake Twilio.

An inbound SMS, `POST /admin/messages` answering it, exactly one Messages API create, Twilio's
signed status callback marking the message delivered, and the `webhook` backend receiving the
outbound interaction in the customer's conversation after the inbound one. Also: the same
Idempotency-Key five times at once, Twilio down (503), refusals, and a send cut off in flight.
"""

from __future__ import annotations

import asyncio
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from fake_twilio import FakeTwilio
from gateway_twilio.sender import classify_error
from outbound_cases import PUBLIC_URL, SMS, post_twilio, reply, send, status_callback
from recordings import CUSTOMER, FORM, OUR_NUMBER, TOKEN, fixture, pairs, sdk_signature

from gateway.cli import main
from gateway.errors import ConfigError
from gateway.plugin import Rejected, Retry
from gateway.testing import (
    GatewayFactory,
    GatewayProcess,
    GatewayUnderTest,
    WebhookReceiver,
    eventually,
)


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(SMS.config(twilio, webhook_receiver))
    async with gut.gateway.running():
        yield gut


def sms_status(sid: str, status: str) -> bytes:
    """Return the form of Twilio's status callback for the SMS `sid`."""
    return status_callback(sid, status, to=CUSTOMER, from_=OUR_NUMBER)


async def test_a_reply_is_sent_once_delivered_and_reaches_the_crm(
    gut: GatewayUnderTest, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    sms = await SMS.inbound(gut)
    status, answer = await send(
        gut, {"to": {"interaction_id": sms["id"]}, "content": {"text": "On it"}}
    )
    assert status == 202, answer
    queued = answer["message"]
    assert (queued["channel"], queued["customer_id"]) == ("sms", sms["customer_id"])
    assert queued["conversation_id"] == sms["conversation_id"]
    sent = await gut.message_in_state(queued["id"], "sent")
    [create] = twilio.created
    assert create == {
        "To": CUSTOMER,
        "From": OUR_NUMBER,
        "Body": "On it",
        "StatusCallback": f"{PUBLIC_URL}/webhooks/sms",
    }
    assert sent["provider_message_id"] == "SM" + "0" * 31 + "1"
    await post_twilio(gut, "sms", sms_status(sent["provider_message_id"], "delivered"))
    await gut.message_in_state(queued["id"], "delivered")
    await post_twilio(gut, "sms", sms_status(sent["provider_message_id"], "sent"))  # late, lower
    assert (await gut.message(queued["id"]))["state"] == "delivered"

    async def both_delivered() -> bool:
        return len([i for i in webhook_receiver.interactions if i["type"] == "message"]) == 2

    await eventually(both_delivered)
    first, reply = [i for i in webhook_receiver.interactions if i["type"] == "message"]
    assert (first["direction"], reply["direction"]) == ("inbound", "outbound")
    assert reply["id"] == sent["interaction_id"]
    assert reply["conversation_id"] == first["conversation_id"]
    assert reply["context"]["repeat_contact"] is False
    assert reply["external_id"] == "key-1"
    assert len(twilio.created) == 1
    backends = (await (await gut.admin.get("/admin/backends")).json())["backends"]
    sender = next(b for b in backends if b["name"] == "channel:sms")
    assert (sender["type"], sender["state"], sender["deliveries"]) == (
        "twilio-sms",
        "ready",
        {"pending": 0, "in_flight": 0, "delivered": 1, "dead": 0},
    )
    assert (await gut.client.get("/readyz")).status == 200


async def test_one_key_posted_five_times_at_once_sends_once(
    gut: GatewayUnderTest, twilio: FakeTwilio
) -> None:
    sms = await SMS.inbound(gut)
    body = {"to": {"customer_id": sms["customer_id"]}, "content": {"text": "Once"}}
    answers = await asyncio.gather(*(send(gut, body, "same") for _ in range(5)))
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 202]
    assert len({answer["message"]["id"] for _, answer in answers}) == 1
    await gut.message_in_state(answers[0][1]["message"]["id"], "sent")
    await asyncio.sleep(0.1)
    assert len(twilio.created) == 1
    status, answer = await send(gut, {**body, "content": {"text": "Other"}}, "same")
    assert (status, answer["error"]["code"]) == (422, "idempotency_conflict")


async def test_requests_that_cannot_be_sent_are_refused(gut: GatewayUnderTest) -> None:
    sms = await SMS.inbound(gut)
    status, answer = await send(gut, {"to": {"customer_id": sms["customer_id"]}}, None)
    assert (status, answer["error"]["code"]) == (400, "idempotency_key_required")
    status, answer = await send(gut, {"to": {"customer_id": sms["customer_id"]}})
    assert (status, answer["error"]["code"]) == (422, "invalid_body")
    body = {"to": {"customer_id": "cus_01JD0000000000000000000000"}, "content": {"text": "x"}}
    assert (await send(gut, body, "k2"))[0] == 404
    listed = await gut.admin.get("/admin/messages", params={"state": "queued"})
    assert (await listed.json())["messages"] == []


async def test_a_stop_while_in_flight_is_parked_at_restart(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    """A send still in flight when the gateway stops keeps its lease (no release); the next
    start parks it as outcome_unknown (the same path as after a crash) and never sends it."""
    stopping = SMS.config(twilio, webhook_receiver) | {"server": {"shutdown_timeout": "100ms"}}
    gut = await gateway_factory(stopping)
    async with gut.gateway.running():
        sms = await SMS.inbound(gut)
        twilio.hang(1)
        _, answer = await send(gut, reply(sms))
        await eventually(lambda: requested(twilio))
    async with FakeTwilio(TOKEN) as second:
        again = await gateway_factory(SMS.config(second, webhook_receiver))
        async with again.gateway.running():
            parked = await again.message_in_state(answer["message"]["id"], "dead")
            assert parked["error"].startswith("outcome_unknown")
            await asyncio.sleep(0.2)
            assert second.requests == []
            deliveries = await again.admin.get("/admin/deliveries", params={"state": "dead"})
            [dead] = (await deliveries.json())["deliveries"]
            assert dead["backend"] == "channel:sms"


async def requested(twilio: FakeTwilio) -> bool:
    return len(twilio.requests) == 1


def test_twilio_errors_are_classified() -> None:
    assert isinstance(classify_error(429, {"code": 20429}, 3.0), Retry)
    assert classify_error(429, {"code": 20429}, 3.0) == Retry("Twilio 429 error 20429", 3.0)
    assert isinstance(classify_error(503, None, None), Retry)
    for code in (21211, 21614, 21610):
        assert isinstance(classify_error(400, {"code": code}, None), Rejected)
    assert "unsubscribed" in str(classify_error(400, {"code": 21610}, None))


async def test_send_needs_somewhere_for_status_callbacks(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    broken = SMS.config(twilio, webhook_receiver)
    del broken["channels"]["sms"]["public_url"]
    with pytest.raises(ConfigError, match="public_url"):
        await gateway_factory(broken)


async def test_only_sending_channel_types_take_send(
    gateway_factory: GatewayFactory, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    broken = SMS.config(twilio, webhook_receiver)
    broken["channels"]["sms"]["type"] = "twilio-voice"
    with pytest.raises(ConfigError, match=r":\d+:\d+: channels\.sms\.send: unknown key"):
        await gateway_factory(broken)
    misspelt = SMS.config(twilio, webhook_receiver, form="+14155550100")
    with pytest.raises(ConfigError, match=r"channels\.sms\.send\.form: unknown key"):
        await gateway_factory(misspelt)


async def test_gateway_send_queues_a_reply_the_running_gateway_sends(
    gateway_factory: GatewayFactory,
    twilio: FakeTwilio,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = SMS.config(twilio, webhook_receiver) | {
        "storage": {"url": f"sqlite:///{tmp_path}/cli.db"}
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(settings))
    gut = await gateway_factory(settings)
    async with gut.gateway.running():
        sms = await SMS.inbound(gut)
        argv = ["send", "--customer", sms["customer_id"], "--text", "From the CLI"]
        assert await asyncio.to_thread(main, [*argv, "--config", str(path)]) == 0
        printed = orjson.loads(capsys.readouterr().out)["message"]
        assert printed["state"] == "queued"
        await gut.message_in_state(printed["id"], "sent")
        assert [c["Body"] for c in twilio.created] == ["From the CLI"]


def admin_post(process: GatewayProcess, path: str, body: Any, key: str) -> tuple[int, Any]:
    """POST JSON to the admin port of a gateway subprocess."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{process.admin_port}{path}",
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    return process._send(request)


async def test_a_sigkill_while_a_send_is_in_flight_parks_it(
    tmp_path: Path, twilio: FakeTwilio, webhook_receiver: WebhookReceiver
) -> None:
    """The gateway dies with Twilio holding the request: after a restart the message is dead
    with outcome_unknown and Twilio never gets it again."""
    process = GatewayProcess.configure(
        tmp_path, SMS.config(twilio, webhook_receiver, timeout="30s")
    )
    try:
        await asyncio.to_thread(process.start)
        body = fixture("sms_inbound")
        signature = sdk_signature(f"{PUBLIC_URL}/webhooks/sms", pairs(body))
        headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}
        assert (await asyncio.to_thread(process.post, "sms", body, headers))[0] == 200
        status, page = await asyncio.to_thread(
            process.get, process.admin_port, "/admin/interactions"
        )
        [sms] = page["interactions"]
        twilio.hang(1)
        status, answer = await asyncio.to_thread(
            admin_post, process, "/admin/messages", reply(sms), "crash-1"
        )
        assert status == 202, answer
        await eventually(lambda: requested(twilio))
        await asyncio.to_thread(process.stop, signal.SIGKILL)
        await asyncio.to_thread(process.start)
        path = f"/admin/messages/{answer['message']['id']}"
        status, shown = await asyncio.to_thread(process.get, process.admin_port, path)
        assert shown["message"]["state"] == "dead", shown
        assert shown["message"]["error"].startswith("outcome_unknown")
        replay_all = ["dlq", "replay", "--all", "--config", str(process.config_path)]
        assert await asyncio.to_thread(main, replay_all) == 0  # sends are left out
        await asyncio.sleep(0.5)
        assert len(twilio.requests) == 1
    finally:
        process.close()
