from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailableError
from gateway.store.base import DeliveryUpdate
from gateway.store.delivery_queue import INSERT_DELIVERY
from gateway.store.migrate import Migration, load_migrations, migrate
from gateway.store.sqlite import SqliteStore
from tests.store.factories import make_interaction

LATEST = len(load_migrations())
STAMP = "2024-05-01T12:00:00.000000Z"
QUEUE_TABLES = ("deliveries", "delivery_attempts")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        yield conn


def user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}


def test_packaged_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, LATEST + 1))
    assert migrations[0].name == "0001_initial.sql"


def test_fresh_database_reaches_the_latest_version(conn: sqlite3.Connection) -> None:
    assert migrate(conn) == list(range(1, LATEST + 1))
    assert user_version(conn) == LATEST
    assert {"interactions", "deliveries"} <= tables(conn)
    assert not conn.in_transaction


def test_migrating_again_applies_nothing(conn: sqlite3.Connection) -> None:
    migrate(conn)
    assert migrate(conn) == []
    assert user_version(conn) == LATEST


def test_only_pending_migrations_are_applied(conn: sqlite3.Connection) -> None:
    migrate(conn)
    extra = Migration(LATEST + 1, f"{LATEST + 1:04d}_extra.sql", "CREATE TABLE extra (x);\n")

    assert migrate(conn, [*load_migrations(), extra]) == [LATEST + 1]
    assert "extra" in tables(conn)
    assert user_version(conn) == LATEST + 1


def test_multi_line_statements_and_comments(conn: sqlite3.Connection) -> None:
    sql = """-- a trigger's body holds ';' before its end
CREATE TABLE audit (
    note TEXT  -- why; not what
);
CREATE TRIGGER audit_insert AFTER INSERT ON audit
BEGIN
    SELECT 1;
    SELECT 2;
END;
-- trailing comment
"""
    assert migrate(conn, [Migration(1, "0001_audit.sql", sql)]) == [1]
    assert {"audit"} == tables(conn)
    trigger = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'").fetchone()
    assert trigger == ("audit_insert",)


def test_failed_migration_rolls_back_entirely(conn: sqlite3.Connection) -> None:
    good = Migration(1, "0001_good.sql", "CREATE TABLE good (x);\n")
    bad = Migration(2, "0002_bad.sql", "CREATE TABLE half (x);\nCREATE TABLE good (x);\n")

    with pytest.raises(StoreUnavailableError, match=r"0002_bad\.sql"):
        migrate(conn, [good, bad])

    assert user_version(conn) == 1
    assert tables(conn) == {"good"}
    assert not conn.in_transaction


def test_newer_database_is_refused(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")

    with pytest.raises(StoreUnavailableError, match="upgrade the gateway"):
        migrate(conn)

    assert tables(conn) == set()
    assert user_version(conn) == LATEST + 1


async def test_store_refuses_a_newer_database(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    store = SqliteStore(str(db_path))

    with pytest.raises(StoreUnavailableError, match="upgrade the gateway") as caught:
        await store.open()

    assert f"schema version {LATEST + 5}" in str(caught.value)
    assert str(db_path) in str(caught.value)
    await store.close()


async def test_queue_migration_keeps_existing_deliveries(
    conn: sqlite3.Connection, db_path: Path
) -> None:
    migrate(conn, load_migrations()[:1])
    conn.execute(
        "INSERT INTO interactions VALUES ('i1', 'web', 'm1', 'message', 'inbound', ?, ?, NULL,"
        " NULL, ?)",
        (STAMP, STAMP, make_interaction().model_dump_json()),
    )
    conn.execute(
        "INSERT INTO deliveries (interaction_id, backend, next_attempt_at, created_at, updated_at)"
        " VALUES ('i1', 'crm', ?, ?, ?)",
        (STAMP, STAMP, STAMP),
    )

    assert migrate(conn) == list(range(2, LATEST + 1))

    row = conn.execute("SELECT order_key, waiting, delivered_at FROM deliveries").fetchone()
    assert row == (None, 0, None)
    store = SqliteStore(str(db_path))
    await store.open()
    try:
        claimed = await store.claim("crm", 10, now=datetime.now(UTC), lease=timedelta(minutes=1))
        assert len(claimed) == 1
    finally:
        await store.close()


async def test_delivery_queue_rebuild_keeps_rows_constraints_and_triggers(
    conn: sqlite3.Connection, db_path: Path
) -> None:
    migrate(conn, load_migrations()[:9])
    for n in range(3):
        conn.execute(
            "INSERT INTO interactions (id, channel_id, external_id, type, direction, occurred_at,"
            " received_at, body) VALUES (?1, 'web', ?1, 'message', 'inbound', ?2, ?2, ?3)",
            (f"i{n}", STAMP, make_interaction(f"m{n}").model_dump_json()),
        )
    conn.execute(INSERT_DELIVERY, ("i0", "log", None, STAMP))
    conn.execute(INSERT_DELIVERY, ("i1", "crm", "cus_1", STAMP))  # the head of its queue
    conn.execute(INSERT_DELIVERY, ("i2", "crm", "cus_1", STAMP))  # waits behind it
    conn.execute("UPDATE deliveries SET state = 'dead', last_error = 'gone' WHERE id = 1")
    conn.execute(
        "INSERT INTO delivery_attempts (delivery_id, number, started_at, finished_at, outcome,"
        " error) VALUES (1, 1, ?1, ?1, 'dead', 'gone')",
        (STAMP,),
    )
    before = [conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in QUEUE_TABLES]

    assert migrate(conn) == list(range(10, LATEST + 1))

    assert [conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in QUEUE_TABLES] == (
        before
    )
    indexes = {n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    assert {"deliveries_unfinished", "deliveries_due", "deliveries_queue"} <= indexes
    assert "deliveries_state" not in indexes
    assert "interactions_received_at" not in indexes
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE deliveries SET state = 'lost' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE delivery_attempts SET outcome = 'lost' WHERE id = 1")
    store = SqliteStore(str(db_path))
    await store.open()
    try:
        [dead] = await store.list_deliveries(state="dead")
        assert (dead.id, dead.last_error, dead.attempts) == (1, "gone", 1)
        head = await store.claim("crm", 10, now=datetime.now(UTC), lease=timedelta(minutes=1))
        assert [c.id for c in head] == [2]
        await store.record([DeliveryUpdate(2, "delivered", ())])
        after = await store.claim("crm", 10, now=datetime.now(UTC), lease=timedelta(minutes=1))
        assert [c.id for c in after] == [3]  # the trigger handed the queue on
    finally:
        await store.close()
