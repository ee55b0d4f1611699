"""Outbound messages in the SQLite store (DESIGN §12): one send job, the CRM deliveries only
after the provider accepted it, state forward only, unknown outcomes parked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.schema import ChannelRef, Content, Identity, Interaction, Party, StatusInfo
from gateway.store.base import AttemptRecord, CommitItem, DeliveryUpdate, OutboundSend
from gateway.store.sql_store import SqlStore

LEASE = timedelta(seconds=30)
PHONE = Identity(kind="phone", value="+14155550123")
SMS = ChannelRef(id="sms", kind="sms", provider="twilio")


def outbound(key: str) -> Interaction:
    now = datetime.now(UTC)
    return Interaction(
        type="message",
        direction="outbound",
        channel=SMS,
        external_id=key,
        occurred_at=now,
        received_at=now,
        recipient=Party(identities=[PHONE]),
        content=Content(text="On it"),
    )


def receipt(provider_id: str, state: str, n: int) -> Interaction:
    now = datetime.now(UTC)
    return Interaction(
        type="status",
        direction="outbound",
        channel=SMS,
        external_id=f"{provider_id}:{state}:{n}",
        occurred_at=now,
        received_at=now,
        recipient=Party(identities=[PHONE]),
        status=StatusInfo(of_external_id=provider_id, state=state),
    )


async def queue(store: SqlStore, key: str = "k1", *, resend: bool = False) -> str:
    send = OutboundSend(f"msg_{key}", key, "hash", "channel:sms", resend_unknown=resend)
    [result] = await store.commit([CommitItem(outbound(key), ("crm",), send=send)])
    assert not result.duplicate
    return send.message_id


def accepted(delivery_id: int, provider_id: str) -> DeliveryUpdate:
    moment = datetime.now(UTC)
    attempt = AttemptRecord(moment, moment, "delivered")
    return DeliveryUpdate(delivery_id, "delivered", (attempt,), provider_message_id=provider_id)


async def test_a_message_waits_for_its_send_before_the_crm(store: SqlStore) -> None:
    message_id = await queue(store)
    message = await store.get_message(message_id)
    assert message is not None
    assert message.state == "queued"
    assert [d.backend for d in await store.deliveries_of(message.interaction_id)] == ["channel:sms"]
    [claimed] = await store.claim("channel:sms", 1, now=datetime.now(UTC), lease=LEASE)
    await store.record([accepted(claimed.id, "SM1")])
    sent = await store.get_message(message_id)
    assert sent is not None
    assert (sent.state, sent.provider_message_id) == ("sent", "SM1")
    backends = [d.backend for d in await store.deliveries_of(message.interaction_id)]
    assert backends == ["channel:sms", "crm"]


async def test_the_same_key_is_one_message(store: SqlStore) -> None:
    await queue(store)
    send = OutboundSend("msg_other", "k1", "hash", "channel:sms")
    [again] = await store.commit([CommitItem(outbound("k1"), ("crm",), send=send)])
    assert again.duplicate
    assert await store.get_message("msg_other") is None
    assert len(await store.list_messages()) == 1


async def test_receipts_move_the_state_forward_only(store: SqlStore) -> None:
    message_id = await queue(store)
    [claimed] = await store.claim("channel:sms", 1, now=datetime.now(UTC), lease=LEASE)
    # A receipt that arrives before the send is recorded applies once it is.
    await store.commit([CommitItem(receipt("SM1", "delivered", 1), ())])
    await store.record([accepted(claimed.id, "SM1")])
    await store.commit([CommitItem(receipt("SM1", "sent", 2), ())])
    message = await store.get_message(message_id)
    assert message is not None
    assert message.state == "delivered"
    await store.commit([CommitItem(receipt("SM1", "read", 3), ())])
    read = await store.list_messages(state="read")
    assert [m.id for m in read] == [message_id]


async def test_an_expired_lease_on_a_send_parks_it(store: SqlStore) -> None:
    """One customer's sends go in order: the parked one hands the queue to the next, whose
    channel resends unknown outcomes."""
    parked, resent = await queue(store, "k1"), await queue(store, "k2", resend=True)
    ids = {}
    for message_id in (parked, resent):
        message = await store.get_message(message_id)
        assert message is not None
        ids[message.interaction_id] = message_id
    start = datetime.now(UTC)

    async def claimed_at(moment: datetime) -> list[str]:
        claimed = await store.claim("channel:sms", 2, now=moment, lease=LEASE)
        return [ids[c.interaction.id] for c in claimed]

    assert await claimed_at(start) == [parked]
    assert await claimed_at(start + LEASE * 2) == [resent]
    assert await claimed_at(start + LEASE * 4) == [resent]
    message = await store.get_message(parked)
    assert message is not None
    assert message.state == "dead"
    assert message.error is not None
    assert message.error.startswith("outcome_unknown")
    [dead] = await store.list_deliveries(state="dead")
    assert dead.last_error == message.error


async def test_replaying_every_dead_letter_leaves_parked_sends_alone(store: SqlStore) -> None:
    await queue(store)
    start = datetime.now(UTC)
    await store.claim("channel:sms", 1, now=start, lease=LEASE)
    assert await store.claim("channel:sms", 1, now=start + LEASE * 2, lease=LEASE) == []
    assert await store.replay(now=start) == 0
    assert await store.replay(now=start, backend="channel:sms") == 1


async def test_the_providers_echo_of_a_send_is_the_message_already_stored(
    store: SqlStore,
) -> None:
    message_id = await queue(store)
    [claimed] = await store.claim("channel:sms", 1, now=datetime.now(UTC), lease=LEASE)
    await store.record([accepted(claimed.id, "mid.1")])
    message = await store.get_message(message_id)
    assert message is not None
    # Instagram echoes a message it accepted under the id the Send API answered with.
    [echo] = await store.commit([CommitItem(outbound("mid.1"), ("crm",))])
    assert (echo.duplicate, echo.interaction_id) == (True, message.interaction_id)
    # An answer sent from the provider's own inbox is the business's, and stored.
    [elsewhere] = await store.commit([CommitItem(outbound("mid.2"), ("crm",))])
    assert not elsewhere.duplicate
