"""Interactions, commit items and raw connections for the store tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from gateway.schema import ChannelRef, Content, Identity, Interaction, Party
from gateway.store.base import CommitItem
from gateway.store.postgres_connection import PgConnection
from gateway.store.sql import Connection


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


@contextmanager
def pg_raw_connection(url: str) -> Iterator[PgConnection]:
    """Open a PostgreSQL store's database behind its back, speaking the shared SQL."""
    with psycopg.connect(url, autocommit=True) as conn:
        yield PgConnection(conn)


def refuse_inserts(conn: Connection, external_id: str | None = None) -> None:
    """Make the database refuse inserts of interactions (of this `external_id` only, if given)
    with an error of its own, as a constraint would: a trigger `refuse`."""
    if isinstance(conn, sqlite3.Connection):
        when = "" if external_id is None else f" WHEN NEW.external_id = '{external_id}'"
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON interactions{when}"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        return
    when = "" if external_id is None else f" WHEN (NEW.external_id = '{external_id}')"
    conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$"
    )
    conn.execute(
        f"CREATE TRIGGER refuse BEFORE INSERT ON interactions FOR EACH ROW{when}"
        " EXECUTE FUNCTION refuse()"
    )


def allow_inserts(conn: Connection) -> None:
    """Drop the trigger `refuse_inserts` made."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("DROP TRIGGER refuse")
    else:
        conn.execute("DROP TRIGGER refuse ON interactions")
