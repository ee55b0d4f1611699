"""Fixtures of the store tests: a fresh store per test, SQLite's in a temporary directory and
PostgreSQL's in a schema of its own; `store` is each of them in turn, `sqlite_store` SQLite's
alone (for what only SQLite has: its files, its WAL, its lock)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

import pytest

from gateway.store.postgres import PostgresStore
from gateway.store.sql import Connection
from gateway.store.sql_store import SqlStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import store_for
from tests.store.factories import pg_raw_connection, raw_connection


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "gateway.db"


@pytest.fixture
def batches() -> list[int]:
    """The size of every group-commit transaction of `store`."""
    return []


@pytest.fixture(params=["sqlite", "postgres"])
async def store(
    request: pytest.FixtureRequest, db_path: Path, batches: list[int]
) -> AsyncIterator[SqlStore]:
    """A fresh, open store of each kind: the same tests hold for both."""
    store: SqlStore
    if request.param == "sqlite":
        store = SqliteStore(str(db_path), observe_batch=batches.append)
    else:
        store = PostgresStore(request.getfixturevalue("postgres_url"), observe_batch=batches.append)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def sqlite_store(db_path: Path, batches: list[int]) -> AsyncIterator[SqliteStore]:
    """A fresh, open SQLite store, for tests of SQLite's own machinery."""
    store = SqliteStore(str(db_path), observe_batch=batches.append)
    await store.open()
    yield store
    await store.close()


RawConnection = Callable[[], AbstractContextManager[Connection]]


@pytest.fixture
def raw(store: SqlStore, db_path: Path, request: pytest.FixtureRequest) -> RawConnection:
    """Open `store`'s database behind its back, as another process would (shared SQL)."""
    if isinstance(store, SqliteStore):
        return partial(raw_connection, db_path)
    return partial(pg_raw_connection, request.getfixturevalue("postgres_url"))


@pytest.fixture
def reopen(
    store: SqlStore, db_path: Path, request: pytest.FixtureRequest
) -> Callable[[], SqlStore]:
    """Return a function making another (unopened) store on `store`'s database: a restart."""
    if isinstance(store, SqliteStore):
        return partial(store_for, f"sqlite:///{db_path}")
    return partial(store_for, request.getfixturevalue("postgres_url"))
