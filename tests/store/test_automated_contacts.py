"""An inbound interaction a machine sent (metadata `automated`: an auto-reply, a bounce) joins
the conversation but is never a repeat contact, and leaves its unanswered state as it was:
in one process and after a restart rebuilt the conversation from the stored rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gateway.schema import AUTOMATED, ChannelKind, ChannelRef, Identity, Interaction, Party
from gateway.store.base import CommitItem
from gateway.store.sql_store import SqlStore

PHONE = Identity(kind="phone", value="+15551234567")


def inbound(
    external_id: str, minute: int, kind: ChannelKind, *, automated: bool = False
) -> Interaction:
    moment = datetime(2026, 11, 22, 10, minute, tzinfo=UTC)
    return Interaction(
        type="message",
        direction="inbound",
        channel=ChannelRef(id=kind, kind=kind, provider="generic"),
        external_id=external_id,
        occurred_at=moment,
        received_at=moment,
        sender=Party(identities=[PHONE]),
        metadata={AUTOMATED: "auto-submitted: auto-replied"} if automated else {},
    )


@pytest.mark.parametrize("restart", [False, True], ids=["warm", "restarted"])
async def test_an_automated_contact_is_never_a_repeat_contact(
    store: SqlStore, reopen: Callable[[], SqlStore], restart: bool
) -> None:
    contacts = [
        inbound("sms-1", 0, "sms"),
        inbound("ooo-1", 1, "email", automated=True),
        inbound("mail-1", 2, "email"),
    ]
    contexts = []
    try:
        for interaction in contacts:
            if restart:  # a cold resolver rebuilds the conversation from the stored rows
                await store.close()
                store = reopen()
                await store.open()
            [result] = await store.commit([CommitItem(interaction, ())])
            assert result.interaction is not None
            contexts.append(result.interaction.context)
    finally:
        await store.close()
    _, auto, mail = contexts
    assert auto is not None
    assert auto.repeat_contact is False  # it chases nothing
    assert mail is not None
    assert (
        mail.repeat_contact is True
    )  # the SMS is still unanswered: the auto-reply answered nothing
    assert mail.previous_channel == "email"


async def test_an_automated_contact_opening_a_conversation_leaves_it_unanswered(
    store: SqlStore,
) -> None:
    try:
        for interaction in (
            inbound("ooo-1", 0, "email", automated=True),
            inbound("sms-1", 1, "sms"),
        ):
            [result] = await store.commit([CommitItem(interaction, ())])
    finally:
        await store.close()
    assert result.interaction is not None
    assert result.interaction.context is not None
    assert result.interaction.context.repeat_contact is False
