"""Ids of the streams a backend follows by cursor are never reused (migration 0005)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.schema import Identity
from gateway.store.base import CommitItem
from gateway.store.migrate import load_migrations, migrate
from gateway.store.sql_store import SqlStore
from tests.store.factories import make_interaction

STREAM_TABLES = ("customer_merges", "merge_proposals", "erasures")
"""Every table whose ids a backend (merges, erasures) or an admin cursor (proposals) follows."""


def contact(external_id: str, kind: str, value: str) -> CommitItem:
    return CommitItem(make_interaction(external_id, sender=[Identity(kind=kind, value=value)]), ())


async def merged_pair(store: SqlStore, n: int) -> tuple[str, int]:
    """Create two customers and merge them by operator link; return the survivor, merge id."""
    [phone] = await store.commit([contact(f"p{n}", "phone", f"+1555000{n:04d}")])
    await store.commit([contact(f"e{n}", "email", f"c{n}@example.com")])
    assert phone.interaction is not None
    assert phone.interaction.customer_id is not None
    linked = await store.link_identity(
        phone.interaction.customer_id,
        Identity(kind="email", value=f"c{n}@example.com"),
        now=datetime.now(UTC),
    )
    assert linked is not None
    assert linked.merge_id is not None
    return linked.customer_id, linked.merge_id


async def test_a_merge_after_erasing_the_newest_gets_a_new_id(store: SqlStore) -> None:
    _, first = await merged_pair(store, 1)
    newest_customer, newest = await merged_pair(store, 2)
    assert await store.merges_after("crm", 10) == []  # the backend's cursor is at the end
    await store.advance("crm", "merges", newest)
    assert await store.erase_customer(newest_customer, now=datetime.now(UTC)) is not None

    _, again = await merged_pair(store, 3)
    assert again > max(first, newest)
    assert [m.id for m in await store.merges_after("crm", 10)] == [again]


@pytest.mark.parametrize("table", STREAM_TABLES)
def test_stream_ids_are_never_reused(tmp_path: Path, table: str) -> None:
    with closing(sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)) as conn:
        migrate(conn)
        insert = _INSERTS[table]
        newest = [conn.execute(insert).lastrowid for _ in range(3)][-1]
        assert newest is not None
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (newest,))
        assert conn.execute(insert).lastrowid == newest + 1


def test_migration_starts_ids_above_every_cursor(tmp_path: Path) -> None:
    """A backend's cursor passed ids 4 and 5, erased since: the next ids are 6."""
    with closing(sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)) as conn:
        migrate(conn, load_migrations()[:4])
        for table in ("customer_merges", "erasures"):
            for _ in range(5):
                conn.execute(_INSERTS[table])
            conn.execute(f"DELETE FROM {table} WHERE id > 3")
        conn.execute(
            "INSERT INTO stream_cursors (backend, stream, last_id)"
            " VALUES ('crm', 'merges', 5), ('crm', 'erasures', 5)"
        )
        conn.execute("INSERT INTO erasure_receipts VALUES (3, 'crm', 'erased', NULL, 'now')")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)  # rebuilds erasures, which erasure_receipts refers to
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute(_INSERTS["customer_merges"]).lastrowid == 6
        assert conn.execute(_INSERTS["erasures"]).lastrowid == 6
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM erasures WHERE id <= 3").fetchone() == (3,)


_INSERTS = {
    "customer_merges": "INSERT INTO customer_merges (action, survivor_id, merged_id, cause,"
    " created_at) VALUES ('merge', 'cus_a', 'cus_b', 'test', 'now')",
    "merge_proposals": "INSERT INTO merge_proposals (customer_id, kind, value, reason,"
    " state, created_at) VALUES ('cus_a', 'phone', '+1', 'test', 'rejected', 'now')",
    "erasures": "INSERT INTO erasures (customer_id, customer_ids, crosswalk, interactions,"
    " requested_at) VALUES ('cus_a', 'cus_a', '{}', 0, 'now')",
}
