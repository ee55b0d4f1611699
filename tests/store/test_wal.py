"""The WAL stays bounded, and an erasure leaves no copy of the erased rows in the files."""

from __future__ import annotations

import asyncio
import os
import random
import string
import time
from datetime import UTC, datetime
from pathlib import Path

from gateway.schema import Identity, Interaction
from gateway.store.base import CommitItem
from gateway.store.sql_store import SqlStore
from gateway.store.sqlite import SqliteStore
from tests.store.factories import make_interaction, raw_connection
from tests.waiting import eventually

WAL_BOUND = 6 << 20
"""`journal_size_limit` (4 MiB) plus room for the commits made while a checkpoint runs."""
ERASED = b"ERASE-ME-"
KEPT = b"KEEP-ME-"


def contact(n: int, phone: str, marker: bytes, text_bytes: int = 1500) -> CommitItem:
    rng = random.Random(n)  # incompressible-looking, distinctive text
    text = marker.decode() + "".join(rng.choices(string.ascii_letters, k=text_bytes))
    sender = [Identity(kind="phone", value=phone)]
    interaction = make_interaction(f"m-{marker.decode()}{n}", sender=sender, text=text)
    return CommitItem(interaction, ("crm",))


def in_files(db_path: Path, marker: bytes) -> bool:
    """Return whether the database file or its WAL holds `marker`, byte for byte."""
    return any(
        path.exists() and marker in path.read_bytes() for path in (db_path, Path(f"{db_path}-wal"))
    )


async def test_the_wal_stays_bounded_under_steady_commits(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    wal = Path(f"{db_path}-wal")
    largest = 0
    for n in range(1000):  # ~40 MB of WAL frames without checkpoints
        await store.commit([contact(n, f"+1555{n % 40:07d}", KEPT)])
        largest = max(largest, os.stat(wal).st_size)
    assert largest < WAL_BOUND, largest


async def test_the_writer_zeroes_deleted_content_and_syncs_fully(sqlite_store: SqliteStore) -> None:
    store = sqlite_store

    def pragmas(conn: object) -> tuple[int, int]:
        assert store._write_conn is not None
        secure = store._write_conn.execute("PRAGMA secure_delete").fetchone()[0]
        synchronous = store._write_conn.execute("PRAGMA synchronous").fetchone()[0]
        return secure, synchronous

    assert await store._on_writer(pragmas) == (1, 2)  # ON, FULL


async def seed(store: SqlStore) -> str:
    """Store ~450 KB of distinctive text of one customer, and some of another; return the first."""
    erased = [contact(n, "+15550000001", ERASED) for n in range(300)]
    kept = [contact(n, "+15550000002", KEPT) for n in range(20)]
    for start in range(0, len(erased), 50):
        await store.commit(erased[start : start + 50])
    results = await store.commit(kept)
    assert results[0].interaction is not None
    first = await store.get_interaction(erased[0].interaction.id)
    assert isinstance(first, Interaction)
    assert first.customer_id is not None
    return first.customer_id


async def test_an_erasure_scrubs_the_files(sqlite_store: SqliteStore, db_path: Path) -> None:
    store = sqlite_store
    customer_id = await seed(store)
    assert in_files(db_path, ERASED)

    erasure = await store.erase_customer(customer_id, now=datetime.now(UTC))

    assert erasure is not None
    assert erasure.interactions == 300
    assert erasure.scrubbed_at is not None
    assert not in_files(db_path, ERASED)
    assert in_files(db_path, KEPT)


async def test_an_erasure_with_another_reader_open_answers_and_scrubs_later(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    customer_id = await seed(store)
    with raw_connection(db_path) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM interactions").fetchone()  # holds its snapshot

        started = time.monotonic()
        erasure = await store.erase_customer(customer_id, now=datetime.now(UTC))
        later = await store.commit([contact(999, "+15550000003", KEPT)])
        assert time.monotonic() - started < 3.0  # no 5 s stall behind the busy checkpoint

        assert erasure is not None
        assert erasure.scrubbed_at is None
        [recorded] = await store.erasures_of(customer_id)
        assert recorded.scrubbed_at is None
        assert not later[0].duplicate
        await asyncio.sleep(0.6)  # background retries meanwhile fail: the reader still reads
        [recorded] = await store.erasures_of(customer_id)
        assert recorded.scrubbed_at is None
        assert in_files(db_path, ERASED)  # the old frames are still in the WAL
        reader.execute("COMMIT")

    async def scrubbed() -> bool:
        [recorded] = await store.erasures_of(customer_id)
        return recorded.scrubbed_at is not None

    await eventually(scrubbed)
    assert not in_files(db_path, ERASED)
    assert in_files(db_path, KEPT)
