"""The resolver's caches never outlive the rows they mirror."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailableError
from gateway.schema import ChannelKind, ChannelRef, Direction, Identity, Interaction, Party
from gateway.store.base import CommitItem
from gateway.store.sql_store import SqlStore
from gateway.store.sqlite import SqliteStore
from tests.store.factories import make_interaction, raw_connection

PHONE = Identity(kind="phone", value="+15551234567")
EMAIL = Identity(kind="email", value="jane@example.com")


def contact(external_id: str, *identities: Identity) -> Interaction:
    return make_interaction(external_id, "sms", sender=identities)


async def commit(store: SqlStore, interaction: Interaction) -> Interaction:
    [result] = await store.commit([CommitItem(interaction, ())])
    assert result.interaction is not None
    return result.interaction


async def test_a_link_made_by_another_process_is_seen_at_once(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    first = await commit(store, contact("m1", PHONE))
    mail = await commit(store, contact("m2", EMAIL))
    assert first.customer_id is not None
    assert mail.customer_id not in (None, first.customer_id)
    await commit(store, contact("m3", EMAIL))  # the e-mail's owner is cached now

    # The CLI, another process, merges the e-mail's customer away behind the server's back.
    other = SqliteStore(str(db_path))
    await other.open()
    try:
        linked = await other.link_identity(first.customer_id, EMAIL, now=datetime.now(UTC))
    finally:
        await other.close()
    assert linked is not None
    assert linked.action == "merged"

    again = await commit(store, contact("m4", EMAIL))
    assert again.customer_id == first.customer_id  # the survivor, not the cached old owner
    assert again.conversation_id == mail.conversation_id  # the tree's latest conversation


async def test_a_deletion_by_another_process_forgets_the_conversation(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    first = await commit(store, contact("m1", PHONE))
    assert first.customer_id is not None
    with raw_connection(db_path) as conn:
        conn.execute("DELETE FROM interactions")  # as a prune or an erasure would

    second = await commit(store, contact("m2", PHONE))

    assert second.conversation_id not in (None, first.conversation_id)
    assert second.context is not None
    assert second.context.conversation_size == 1


async def test_a_failed_commit_leaves_nothing_in_the_caches(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    first = await commit(store, contact("ok", PHONE))
    with raw_connection(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON interactions WHEN NEW.external_id = 'bad'"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    with pytest.raises(StoreUnavailableError):  # resolved (conversation grew), then rolled back
        await store.commit([CommitItem(contact("bad", PHONE, EMAIL), ())])

    second = await commit(store, contact("good", PHONE))
    mail = await commit(store, contact("mail", EMAIL))

    assert second.conversation_id == first.conversation_id
    assert second.context is not None
    assert second.context.conversation_size == 2  # the rolled-back contact does not count
    assert mail.customer_id not in (None, first.customer_id)  # its link was rolled back too


def at(
    external_id: str, minute: int, direction: Direction = "inbound", kind: ChannelKind = "sms"
) -> Interaction:
    """A contact of PHONE's at 10:`minute`, inbound from them or outbound to them."""
    moment = datetime(2026, 11, 22, 10, minute, tzinfo=UTC)
    customer, ours = Party(identities=[PHONE]), Party()
    return Interaction(
        type="message",
        direction=direction,
        channel=ChannelRef(id=kind, kind=kind, provider="generic"),
        external_id=external_id,
        occurred_at=moment,
        received_at=moment,
        sender=customer if direction == "inbound" else ours,
        recipient=ours if direction == "inbound" else customer,
    )


async def test_a_restart_rebuilds_the_conversation_from_the_stored_contacts(
    db_path: Path,
) -> None:
    contacts = [
        at("m1", 0),
        at("m2", 5, kind="whatsapp"),
        at("m3", 3, direction="outbound"),  # arrives late: processed third, happened second
        at("m4", 9, kind="voice"),
    ]
    cold = SqliteStore(str(db_path))
    await cold.open()
    try:
        first = [await commit(cold, interaction) for interaction in contacts[:3]]
    finally:
        await cold.close()
    warm = SqliteStore(str(db_path))
    await warm.open()
    try:
        continued = await commit(warm, contacts[3])
    finally:
        await warm.close()

    # The same as one process would have said: the late outbound answered the WhatsApp message.
    assert continued.conversation_id == first[0].conversation_id
    assert continued.context is not None
    assert continued.context.model_dump() == {
        "conversation_channels": ["sms", "voice", "whatsapp"],
        "conversation_size": 4,
        "repeat_contact": False,
        "previous_channel": "sms",
        "identity_claimed": False,
    }
