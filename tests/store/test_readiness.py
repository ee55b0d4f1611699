"""`ping` means "a transaction could commit now"; lock waits have a budget per operation; a
database file deleted or replaced under the store is detected and refuses every later write."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailableError
from gateway.store.sqlite import SqliteStore
from tests.store.factories import item, make_interaction, raw_connection


async def test_ping_is_not_ready_while_another_process_holds_the_write_lock(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    await store.ping()
    await asyncio.sleep(0.6)  # past the cached answer
    with raw_connection(db_path) as other:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="locked"):
            await store.ping()
        assert time.monotonic() - started < 2.0
        other.execute("ROLLBACK")
    await asyncio.sleep(0.6)
    await store.ping()  # recovered


async def test_ping_answers_in_bounded_time_behind_a_commit_waiting_for_a_lock(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    with raw_connection(db_path) as other:
        other.execute("BEGIN IMMEDIATE")
        commit = asyncio.ensure_future(store.commit([item(make_interaction("m1"))]))
        await asyncio.sleep(0.05)  # the commit waits for the lock on the writer thread
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            await store.ping()
        assert time.monotonic() - started < 1.4  # not behind the commit's 1.5 s wait
        with pytest.raises(StoreUnavailableError):
            await commit
        other.execute("ROLLBACK")


async def test_bookkeeping_lock_waits_never_delay_an_ingest_commit(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    """Under an external lock, claims queued ahead of a commit give up fast: it answers ~1.5 s."""
    store = sqlite_store
    now = datetime.now(UTC)
    await store.commit([item(make_interaction("m0"), "crm")])
    with raw_connection(db_path) as other:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        claims = [store.claim("crm", 10, now=now, lease=timedelta(seconds=30)) for _ in range(10)]
        outcomes = await asyncio.gather(
            *claims, store.commit([item(make_interaction("m1"), "crm")]), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        other.execute("ROLLBACK")
    assert all(isinstance(outcome, StoreUnavailableError) for outcome in outcomes)
    assert elapsed < 6.0  # 10 claims x 0.1 s + 1.5 s; 5 s per claim before (50 s)


def delete(db: Path, tmp_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        os.unlink(f"{db}{suffix}")


def delete_wal(db: Path, tmp_path: Path) -> None:
    os.unlink(f"{db}-wal")


def replace_db(db: Path, tmp_path: Path) -> None:
    shutil.copyfile(db, tmp_path / "copy.db")
    os.replace(tmp_path / "copy.db", db)


def move_away(db: Path, tmp_path: Path) -> None:
    for suffix in ("", "-wal"):
        os.rename(f"{db}{suffix}", tmp_path / f"moved{suffix}")


@pytest.mark.parametrize("lose", [delete, delete_wal, replace_db, move_away])
async def test_files_lost_under_the_store_refuse_every_write(
    sqlite_store: SqliteStore,
    db_path: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    lose: Callable[[Path, Path], None],
) -> None:
    store = sqlite_store
    await store.commit([item(make_interaction("m0"), "crm")])
    lose(db_path, tmp_path)

    for n in range(3):
        with pytest.raises(StoreUnavailableError, match="deleted or replaced"):
            await store.commit([item(make_interaction(f"m{n + 1}"), "crm")])
    with pytest.raises(StoreUnavailableError, match="deleted or replaced"):
        await store.claim("crm", 10, now=datetime.now(UTC), lease=timedelta(seconds=30))
    with pytest.raises(StoreUnavailableError, match="deleted or replaced"):
        await store.ping()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1
    assert "restart" in critical[0].getMessage()
