"""Interactions, commit items and raw connections for the store tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from gateway.schema import ChannelRef, Content, Identity, Interaction, Party
from gateway.store.base import CommitItem


def make_interaction(
    external_id: str = "m1",
    channel_id: str = "web",
    *,
    received_at: datetime | None = None,
    sender: Sequence[Identity] = (),
    text: str | None = None,
) -> Interaction:
    """Return an inbound web-chat message from a sender with `sender`'s identities."""
    now = datetime.now(UTC)
    return Interaction(
        type="message",
        direction="inbound",
        channel=ChannelRef(id=channel_id, kind="webchat", provider="generic"),
        external_id=external_id,
        occurred_at=received_at or now,
        received_at=received_at or now,
        sender=Party(identities=list(sender)),
        content=Content(text=f"hi from {external_id}" if text is None else text),
    )


def item(interaction: Interaction, *backends: str) -> CommitItem:
    return CommitItem(interaction, backends)


@contextmanager
def raw_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """Open the store's file behind its back, as another process would."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn
