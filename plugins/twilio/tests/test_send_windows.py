"""Messaging windows, templates and tags in channel choice (DESIGN §12).

A `twilio-whatsapp` channel (a 24-hour `messaging_window`, Content templates) next to a plain
`twilio-sms` channel, and, since Twilio takes no message tags, a test channel type that adds a
7-day tag to `twilio-whatsapp`; nothing is sent (the delivery engine is not started).
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from fake_twilio import ACCOUNT_SID, CONTENT_SID
from gateway_twilio.channels import TwilioWhatsAppChannel
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


class TaggedWhatsApp(TwilioWhatsAppChannel):
    """`twilio-whatsapp` with a message tag that allows free-form text for 7 days."""

    type_name = "tagged-whatsapp"
    message_tags: ClassVar[Mapping[str, timedelta | None]] = {"HUMAN_AGENT": timedelta(days=7)}


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    registry.add(TaggedWhatsApp)


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
    module = types.ModuleType("tagged")
    module.gateway_register_channels = gateway_register_channels  # type: ignore[attr-defined]
    plugins = load_plugins(extra=[(PluginSource("tagged", "tagged", "0"), module)])
    send = {"account_sid": ACCOUNT_SID, "from": OUR_NUMBER}
    channel = {"auth_token": TOKEN, "public_url": "https://gw.example", "send": send}
    settings = {
        "channels": {
            "wa": channel | {"type": "twilio-whatsapp"},
            "tagged": channel | {"type": "tagged-whatsapp"},
            "sms": channel | {"type": "twilio-sms"},
        },
        "storage": {"url": f"sqlite:///{tmp_path}/windows.db"},
    }
    parsed = parse_config(yaml.safe_dump(settings), "windows.yaml", plugins, {})
    gateway = Gateway(parsed, plugins, clock=clock, metrics=Metrics(CollectorRegistry()))
    await gateway.store.open()
    yield gateway
    await gateway.store.close()


WA = ChannelRef(id="wa", kind="whatsapp", provider="twilio")
TAGGED = ChannelRef(id="tagged", kind="whatsapp", provider="twilio")
SMS = ChannelRef(id="sms", kind="sms", provider="twilio")
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
        await queue_message(
            gateway, "late", request(customer_id, channel="wa", content={"text": "Sorry!"})
        )
    assert (refused.value.status, refused.value.code) == (409, "outside_messaging_window")
    templated = request(customer_id, channel="wa", template={"name": CONTENT_SID})
    queued = await queue_message(gateway, "template", templated)
    assert (queued.created, queued.message.channel_id) == (True, "wa")
    clock.now = T0 + timedelta(hours=23)
    inside = await queue_message(
        gateway, "early", request(customer_id, channel="wa", content={"text": "Hi"})
    )
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


async def test_a_tag_opens_its_own_window_on_channels_that_take_it(
    gateway: Gateway, clock: Clock
) -> None:
    customer_id = (await received(gateway, TAGGED, PHONE)).customer_id
    assert customer_id is not None
    clock.now = T0 + timedelta(days=6)
    tagged = request(customer_id, channel="tagged", content={"text": "Sorry!"}, tag="HUMAN_AGENT")
    queued = await queue_message(gateway, "tagged", tagged)
    assert queued.message.channel_id == "tagged"
    stored = await gateway.store.get_interaction(queued.message.interaction_id)
    assert isinstance(stored, Interaction)
    assert stored.metadata["tag"] == "HUMAN_AGENT"
    clock.now = T0 + timedelta(days=8)
    with pytest.raises(RefusedError) as refused:
        await queue_message(gateway, "too-late", tagged)
    assert (refused.value.status, refused.value.code) == (409, "outside_messaging_window")
    for channel, tag in (("tagged", "POST_PURCHASE_UPDATE"), ("wa", "HUMAN_AGENT")):
        unknown = request(customer_id, channel=channel, content={"text": "Hi"}, tag=tag)
        with pytest.raises(RefusedError) as refused:
            await queue_message(gateway, f"{channel}-{tag}", unknown)
        assert (refused.value.status, refused.value.code) == (409, "no_channel")


async def test_a_template_for_a_channel_without_templates_is_refused_before_queueing(
    gateway: Gateway,
) -> None:
    customer_id = (await received(gateway, SMS, PHONE)).customer_id
    assert customer_id is not None
    templated = request(customer_id, channel="sms", template={"name": CONTENT_SID})
    with pytest.raises(RefusedError) as refused:
        await queue_message(gateway, "sms-template", templated)
    assert (refused.value.status, refused.value.code) == (409, "no_channel")
    assert "needs templates" in str(refused.value)
    assert await gateway.store.message_by_key("sms-template") is None
