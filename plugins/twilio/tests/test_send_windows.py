"""Messaging windows in channel choice (DESIGN §12), on an SMS channel given WhatsApp's 24 h.

No channel with a window can send yet, so a test channel type subclasses `twilio-sms` with
`messaging_window`; nothing is sent (the delivery engine is not started).
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fake_twilio import ACCOUNT_SID
from gateway_twilio.channels import TwilioSmsChannel
from prometheus_client import CollectorRegistry
from recordings import CUSTOMER, OUR_NUMBER, TOKEN

from gateway.config_loader import parse_config
from gateway.metrics import Metrics
from gateway.outbound import MessageRequest, RefusedError, queue_message
from gateway.plugin import ChannelRegistry, hookimpl
from gateway.plugins import load_plugins
from gateway.registry import PluginSource
from gateway.runtime import Gateway
from gateway.schema import ChannelRef, Content, Identity, Interaction, Party

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class WindowedSms(TwilioSmsChannel):
    """`twilio-sms` with a 24-hour messaging window."""

    type_name = "windowed-sms"
    messaging_window = timedelta(hours=24)


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    registry.add(WindowedSms)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gateway(tmp_path: Path, clock: Clock) -> AsyncIterator[Gateway]:
    module = types.ModuleType("windowed")
    module.gateway_register_channels = gateway_register_channels  # type: ignore[attr-defined]
    plugins = load_plugins(extra=[(PluginSource("windowed", "windowed", "0"), module)])
    send = {"account_sid": ACCOUNT_SID, "from": OUR_NUMBER}
    channel = {"type": "windowed-sms", "auth_token": TOKEN, "public_url": "https://gw.example"}
    settings = {
        "channels": {"wa": channel | {"send": send}},
        "storage": {"url": f"sqlite:///{tmp_path}/windows.db"},
    }
    parsed = parse_config(yaml.safe_dump(settings), "windows.yaml", plugins, {})
    gateway = Gateway(parsed, plugins, clock=clock, metrics=Metrics(CollectorRegistry()))
    await gateway.store.open()
    yield gateway
    await gateway.store.close()


WA = ChannelRef(id="wa", kind="whatsapp", provider="twilio")
PHONE = Identity(kind="phone", value=CUSTOMER)


async def received(gateway: Gateway, channel: ChannelRef, sender: Identity) -> Interaction:
    """Store an inbound message at T0 from `sender`; return it as stored."""
    message = Interaction(
        type="message",
        direction="inbound",
        channel=channel,
        external_id=f"{channel.id}-{sender.value}",
        occurred_at=T0,
        received_at=T0,
        sender=Party(identities=[sender]),
        content=Content(text="Where is my order?"),
    )
    [result] = await gateway.store.commit(gateway.pipeline.prepare([message]))
    assert result.interaction is not None
    assert result.interaction.customer_id is not None
    return result.interaction


async def customer_wrote(gateway: Gateway) -> str:
    customer_id = (await received(gateway, WA, PHONE)).customer_id
    assert customer_id is not None
    return customer_id


def request(customer_id: str, **fields: object) -> MessageRequest:
    return MessageRequest.model_validate({"to": {"customer_id": customer_id}, **fields})


async def test_free_text_only_inside_the_window_templates_always(
    gateway: Gateway, clock: Clock
) -> None:
    customer_id = await customer_wrote(gateway)
    clock.now = T0 + timedelta(hours=25)
    with pytest.raises(RefusedError) as refused:
        await queue_message(gateway, "late", request(customer_id, content={"text": "Sorry!"}))
    assert (refused.value.status, refused.value.code) == (409, "outside_messaging_window")
    templated = request(customer_id, template={"name": "order_update", "language": "en"})
    queued = await queue_message(gateway, "template", templated)
    assert (queued.created, queued.message.channel_id) == (True, "wa")
    clock.now = T0 + timedelta(hours=23)
    inside = await queue_message(gateway, "early", request(customer_id, content={"text": "Hi"}))
    assert inside.created


async def test_a_customer_without_a_reachable_identity_has_no_channel(
    gateway: Gateway,
) -> None:
    mail = ChannelRef(id="mail", kind="email", provider="postmark")
    email = await received(gateway, mail, Identity(kind="email", value="ana@example.com"))
    assert email.customer_id is not None
    body = request(email.customer_id, content={"text": "Hi"})
    with pytest.raises(RefusedError) as refused:
        await queue_message(gateway, "k", body)
    assert (refused.value.status, refused.value.code) == (409, "no_channel")


async def test_a_reply_to_a_claimed_customer_is_refused(gateway: Gateway) -> None:
    typed = await received(gateway, WA, PHONE.model_copy(update={"verified": False}))
    assert typed.identity_claimed
    body = MessageRequest.model_validate(
        {"to": {"interaction_id": typed.id}, "content": {"text": "Hi Ana"}}
    )
    with pytest.raises(RefusedError) as refused:
        await queue_message(gateway, "k", body)
    assert (refused.value.status, refused.value.code) == (409, "unverified_recipient")
