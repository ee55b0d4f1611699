"""How both Twilio senders (`twilio-sms`, `twilio-whatsapp`) live through Twilio's faults: down
(503) then sent once, a 429 waiting for its `Retry-After`, a recipient refused for good, and a
send cut off in flight parked with `outcome_unknown`, never resent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fake_twilio import FakeTwilio
from outbound_cases import SMS, WHATSAPP, Clock, Sending, reply, send

from gateway.testing import GatewayFactory, GatewayUnderTest, WebhookReceiver, eventually


@pytest.fixture(params=[SMS, WHATSAPP], ids=lambda case: case.type_name)
def case(request: pytest.FixtureRequest) -> Sending:
    sending: Sending = request.param
    return sending


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory,
    twilio: FakeTwilio,
    webhook_receiver: WebhookReceiver,
    case: Sending,
    clock: Clock,
) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(case.config(twilio, webhook_receiver), clock=clock)
    async with gut.gateway.running():
        yield gut


async def test_twilio_down_is_retried_and_sent_once(
    gut: GatewayUnderTest, twilio: FakeTwilio, case: Sending
) -> None:
    message = await case.inbound(gut)
    twilio.fail_next(2, status=503)
    _, answer = await send(gut, reply(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert (len(twilio.created), twilio.faults_served) == (1, 2)


async def test_a_429_waits_for_retry_after(
    gut: GatewayUnderTest, twilio: FakeTwilio, case: Sending, clock: Clock
) -> None:
    """Twilio's 429 says "in 30 s": the send waits that long on the gateway's clock, then goes."""
    message = await case.inbound(gut)
    twilio.rate_limit(1, retry_after=30)
    _, answer = await send(gut, reply(message))
    queued = answer["message"]

    async def refused_once() -> bool:
        [delivery] = await gut.gateway.store.deliveries_of(queued["interaction_id"])
        return twilio.faults_served == 1 and delivery.next_attempt_at is not None

    await eventually(refused_once)
    [delivery] = await gut.gateway.store.deliveries_of(queued["interaction_id"])
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at - clock() > timedelta(seconds=29)
    assert (await gut.message(queued["id"]))["state"] == "queued"
    assert twilio.created == []
    clock.offset += timedelta(seconds=31)
    await gut.message_in_state(queued["id"], "sent")
    assert len(twilio.created) == 1


async def test_an_unreachable_recipient_is_dead_with_the_reason(
    gut: GatewayUnderTest, twilio: FakeTwilio, case: Sending
) -> None:
    message = await case.inbound(gut)
    code, reason = (21614, "not a mobile number") if case is SMS else (63024, "WhatsApp user")
    twilio.fail_next(body={"code": code, "message": "refused", "status": 400}, status=400)
    _, answer = await send(gut, reply(message))
    dead = await gut.message_in_state(answer["message"]["id"], "dead")
    assert reason in dead["error"]
    assert f"error {code}" in dead["error"]
    assert twilio.created == []


async def test_a_send_cut_off_in_flight_is_parked_not_resent(
    gateway_factory: GatewayFactory,
    twilio: FakeTwilio,
    webhook_receiver: WebhookReceiver,
    case: Sending,
) -> None:
    """Twilio takes the request and never answers: the outcome is unknown, so it stays dead."""
    gut = await gateway_factory(case.config(twilio, webhook_receiver, timeout="200ms"))
    async with gut.gateway.running():
        message = await case.inbound(gut)
        twilio.hang(1)
        _, answer = await send(gut, reply(message))
        dead = await gut.message_in_state(answer["message"]["id"], "dead")
        assert dead["error"].startswith("outcome_unknown")
        await asyncio.sleep(0.3)
        assert len(twilio.requests) == 1
