"""The SQLite store hands back each committed contact's service event (DESIGN §13), the same in
one process and after a restart rebuilt the conversation's wait from the stored rows; a
duplicate carries none."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from gateway.schema import AUTOMATED, ChannelKind, ChannelRef, Identity, Interaction, Party
from gateway.service_events import Chase, FirstResponse, ServiceEvent
from gateway.service_report import fold_contacts
from gateway.store.base import CommitItem
from gateway.store.sql_store import SqlStore
from gateway.testing import make_interaction

PHONE = Identity(kind="phone", value="+15551234567")
NINE = datetime(2026, 11, 22, 9, tzinfo=UTC)


def contact(
    external_id: str,
    minutes: int,
    kind: ChannelKind,
    direction: Literal["inbound", "outbound"] = "inbound",
) -> Interaction:
    """A contact of PHONE's, `minutes` after 09:00, inbound from them or outbound to them."""
    party = "sender" if direction == "inbound" else "recipient"
    return make_interaction(
        direction=direction,
        channel=ChannelRef(id=kind, kind=kind, provider="generic"),
        external_id=external_id,
        occurred_at=NINE + timedelta(minutes=minutes),
        **{party: Party(identities=[PHONE])},
    )


@pytest.mark.parametrize("restart", [False, True], ids=["warm", "restarted"])
async def test_the_wait_and_its_start_survive_a_restart(
    store: SqlStore, reopen: Callable[[], SqlStore], restart: bool
) -> None:
    script = [
        contact("mail-1", 0, "email"),
        contact("mail-2", 60, "email"),
        contact("call-1", 360, "voice"),
        contact("reply-1", 365, "sms", "outbound"),
        contact("reply-2", 370, "sms", "outbound"),
    ]
    events: list[ServiceEvent | None] = []
    try:
        for interaction in script:
            if restart:
                await store.close()
                store = reopen()
                await store.open()
            (result,) = await store.commit([CommitItem(interaction, ())])
            events.append(result.service)
        (again,) = await store.commit([CommitItem(script[2], ())])
        stored = await store.get_interaction(again.interaction_id)
    finally:
        await store.close()
    assert again.duplicate
    assert again.service is None
    assert events == [
        None,
        None,
        Chase("email", "voice", NINE + timedelta(minutes=360)),
        FirstResponse("email", 6 * 3600 + 5 * 60, NINE + timedelta(minutes=365)),
        None,
    ]
    assert isinstance(stored, Interaction)
    assert stored.context is not None
    assert stored.context.repeat_contact


@pytest.mark.parametrize("seed", range(5))
async def test_the_unanswered_count_is_the_fold_of_the_contacts(store: SqlStore, seed: int) -> None:
    """`unanswered_since` (per conversation, in SQL) says what folding every contact says."""
    rng = random.Random(seed)
    try:
        for n in range(120):
            customer = Identity(kind="phone", value=f"+1555000{rng.randrange(12):04d}")
            direction = rng.choice(["inbound", "inbound", "outbound"])
            party = "sender" if direction == "inbound" else "recipient"
            metadata = {AUTOMATED: "auto-reply"} if rng.random() < 0.15 else {}
            kind: ChannelKind = rng.choice(["sms", "email", "voice"])
            interaction = make_interaction(
                direction=direction,
                channel=ChannelRef(id=kind, kind=kind, provider="generic"),
                external_id=f"c{n}",
                occurred_at=NINE + timedelta(hours=rng.randrange(60)),
                metadata=metadata,
                **{party: Party(identities=[customer])},
            )
            await store.commit([CommitItem(interaction, ())])
        window = timedelta(hours=24)
        for hours in (0, 20, 40, 59):
            now = NINE + timedelta(hours=hours)
            contacts = await store.service_contacts(now - window)
            folded = fold_contacts(contacts, since=now, until=now, window=window).unanswered
            assert await store.unanswered_since(now - window) == folded
    finally:
        await store.close()
