"""A stored interaction dated in year 1 fails no later commit (conversation-window arithmetic)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.identity import IdentityPolicy, IdentityRules
from gateway.schema import Identity
from gateway.store.base import CommitItem
from gateway.store.sqlite import SqliteStore
from tests.store.factories import make_interaction, raw_connection

PHONE = "+15551230000"


def contact(external_id: str, phone: str = PHONE) -> CommitItem:
    sender = [Identity(kind="phone", value=phone)]
    return CommitItem(make_interaction(external_id, sender=sender), ("crm",))


@pytest.mark.parametrize(
    "stored_at",
    [
        "0001-01-01T00:00:00.000000Z",  # Go's zero time
        "0001-01-01T12:34:56.000000Z",
        "0001-01-01T23:59:59.999999Z",  # still less than one window after the minimum
    ],
)
@pytest.mark.parametrize("window", [timedelta(hours=24), timedelta(days=3650)])
async def test_later_webhooks_of_a_customer_with_a_year_one_row_commit(
    db_path: Path, stored_at: str, window: timedelta
) -> None:
    policy = IdentityPolicy(IdentityRules(), window)
    store = SqliteStore(str(db_path), identity=policy)
    await store.open()
    [first] = await store.commit([contact("m-0")])
    await store.close()
    # Stored before parsing refused such dates: put it there behind the store's back.
    with raw_connection(db_path) as conn:
        conn.execute("UPDATE interactions SET occurred_at = ?", (stored_at,))

    for restart in range(2):  # after a restart (nothing cached), and after another one
        batches: list[int] = []
        store = SqliteStore(str(db_path), identity=policy, observe_batch=batches.append)
        await store.open()
        try:
            # The customer's next webhook and another customer's, in one group commit.
            same, other = await asyncio.gather(
                store.commit([contact(f"m-{restart}-a")]),
                store.commit([contact(f"m-{restart}-b", "+15559990000")]),
            )
            assert batches == [2]
            assert [same[0].duplicate, other[0].duplicate] == [False, False]
            assert same[0].interaction is not None
            assert first.interaction is not None
            assert same[0].interaction.customer_id == first.interaction.customer_id
        finally:
            await store.close()
