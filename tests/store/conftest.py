"""Fixtures of the store tests: a fresh SQLite store per test, in a temporary directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.sqlite import SqliteStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "gateway.db"


@pytest.fixture
def batches() -> list[int]:
    """The size of every group-commit transaction of `store`."""
    return []


@pytest.fixture
async def store(db_path: Path, batches: list[int]) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(db_path), observe_batch=batches.append)
    await store.open()
    yield store
    await store.close()
