"""The embedded store: one SQLite file in WAL mode, one writer that group-commits.

`commit` queues a request (its items and a future) and waits. One writer task takes the first
queued request plus every other one already waiting (up to `max_batch`) and runs them all in ONE
transaction on the writer thread, which owns the only write connection: one fsync per batch, not
per request. Each request runs in its own SAVEPOINT, so a request that fails (a constraint, a
trigger) is rolled back alone and only its caller gets `StoreUnavailableError`; if the transaction
itself fails (disk full, I/O error, locked by another process), every request of the batch does.
Reads use a second connection on their own thread, so they never queue behind writes.

Timestamps are ISO-8601 UTC text with microseconds and a 'Z' (2024-05-01T12:00:00.000000Z):
fixed width, so text order is time order.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar

from gateway.errors import StoreUnavailableError
from gateway.schema import Interaction
from gateway.store.base import (
    BatchObserver,
    CommitItem,
    CommitResult,
    DeliveryState,
    StoredDelivery,
)
from gateway.store.migrate import migrate

__all__ = ["SqliteStore", "Synchronous", "sqlite_path_from_url"]

Synchronous = Literal["full", "normal", "off"]

_T = TypeVar("_T")
_Request = tuple[Sequence[CommitItem], asyncio.Future[list[CommitResult]]]
_Outcome = list[CommitResult] | Exception

_log = logging.getLogger(__name__)

_URL_PREFIX = "sqlite:///"
_BUSY_TIMEOUT_S = 5.0
_SYNCHRONOUS: tuple[Synchronous, ...] = ("full", "normal", "off")
_STATES: tuple[DeliveryState, ...] = ("pending", "in_flight", "delivered", "dead")
_COMMIT_FAILED = "the store could not commit; nothing of this request was stored"

_INSERT_INTERACTION = (
    "INSERT INTO interactions (id, channel_id, external_id, type, direction, occurred_at,"
    " received_at, customer_id, conversation_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (channel_id, external_id) DO NOTHING"
)
_SELECT_FIRST_ID = "SELECT id FROM interactions WHERE channel_id = ? AND external_id = ?"
# DO NOTHING: a backend listed twice in one item still gets one job.
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (interaction_id, backend, next_attempt_at, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (interaction_id, backend) DO NOTHING"
)


def sqlite_path_from_url(url: str) -> str:
    """Return the file path of `sqlite:///relative.db` or `sqlite:////absolute/path.db`."""
    path = url[len(_URL_PREFIX) :] if url.startswith(_URL_PREFIX) else ""
    if not path or "?" in path:
        raise ValueError(
            "expected a SQLite URL like sqlite:///relative/path.db or sqlite:////absolute/path.db"
            f" (no query string), got {url!r}"
        )
    return path


class SqliteStore:
    """The `Store` on one SQLite file in WAL mode."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "full",
        max_batch: int = 512,
        observe_batch: BatchObserver | None = None,
    ) -> None:
        if path == ":memory:" or path.startswith("file:"):
            raise ValueError(f"SqliteStore needs a plain file path, got {path!r}")
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._observe_batch = observe_batch
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self) -> None:
        """Create or migrate the schema and start accepting commits."""
        if self._closed:
            raise StoreUnavailableError("the store was closed; create a new one")
        if self._writer_task is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(self._writer, self._open_writer)
            await loop.run_in_executor(self._reader, self._open_reader)
        except (sqlite3.Error, OSError, StoreUnavailableError) as exc:
            await self.close()  # closes whichever connection did open
            raise StoreUnavailableError(f"cannot open {self._path}: {exc}") from exc
        self._writer_task = asyncio.create_task(self._write_loop(conn), name="sqlite-group-commit")

    async def close(self) -> None:
        """Finish the commits already accepted, then release every resource."""
        if self._closed:
            return
        self._closed = True
        if self._writer_task is not None:
            self._queue.put_nowait(None)
            await self._writer_task
        for executor, conn in ((self._writer, self._write_conn), (self._reader, self._read_conn)):
            if conn is not None:
                await asyncio.wrap_future(executor.submit(conn.close))
            executor.shutdown()
        self._write_conn = self._read_conn = None

    async def commit(self, items: Sequence[CommitItem]) -> list[CommitResult]:
        """Store `items` atomically with their delivery rows; raise `StoreUnavailableError`."""
        if self._writer_task is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        if not items:
            return []
        future: asyncio.Future[list[CommitResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((items, future))
        return await future

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless the store can be read right now."""
        await self._read(lambda conn: conn.execute("SELECT 1 FROM interactions LIMIT 1").fetchall())

    async def get_interaction(self, interaction_id: str) -> Interaction | None:
        """Return a stored interaction, or None."""
        return await self._read(partial(_get_interaction, interaction_id=interaction_id))

    async def deliveries_of(self, interaction_id: str) -> list[StoredDelivery]:
        """Return the delivery jobs of one interaction, oldest first."""
        return await self._read(partial(_deliveries_of, interaction_id=interaction_id))

    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        """Return how many deliveries each backend has in each state."""
        return await self._read(_delivery_counts)

    def _open_writer(self) -> sqlite3.Connection:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._write_conn = conn = _connect(self._path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        return conn

    def _open_reader(self) -> None:
        self._read_conn = conn = _connect(self._path)
        conn.execute("PRAGMA query_only = ON")

    async def _read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailableError("the store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, query, conn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError("the store could not be read") from exc

    async def _write_loop(self, conn: sqlite3.Connection) -> None:
        queue = self._queue
        while (request := await queue.get()) is not None:
            batch = [request]
            while len(batch) < self._max_batch and not queue.empty():
                queued = queue.get_nowait()
                if queued is None:
                    queue.put_nowait(None)  # close() was called: stop after this batch
                    break
                batch.append(queued)
            await self._commit_batch(conn, batch)

    async def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        requests = [items for items, _ in batch]
        outcomes: list[_Outcome]
        try:
            outcomes = await loop.run_in_executor(self._writer, _write, conn, requests)
        except Exception as exc:
            _log.error("SQLite store: a batch of %d commits failed", len(batch), exc_info=exc)
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(outcome, Exception):
                error = StoreUnavailableError(_COMMIT_FAILED)
                error.__cause__ = outcome
                future.set_exception(error)
            else:
                future.set_result(outcome)
        if self._observe_batch is not None:
            try:
                self._observe_batch(len(batch))
            except Exception:
                _log.exception("SQLite store: the batch observer failed")


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)


def _write(conn: sqlite3.Connection, requests: list[Sequence[CommitItem]]) -> list[_Outcome]:
    now = _utc_text(datetime.now(UTC))
    cursor = conn.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    try:
        outcomes = [_write_request(cursor, items, now) for items in requests]
        cursor.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                cursor.execute("ROLLBACK")
        raise
    return outcomes


def _write_request(cursor: sqlite3.Cursor, items: Sequence[CommitItem], now: str) -> _Outcome:
    cursor.execute("SAVEPOINT request")
    try:
        results = [_write_item(cursor, item, now) for item in items]
    except Exception as exc:
        _log.warning("SQLite store: one commit of a batch was rolled back: %s", exc)
        # Raises, failing the whole batch, if SQLite already rolled the transaction back.
        cursor.execute("ROLLBACK TO request")
        cursor.execute("RELEASE request")
        return exc
    cursor.execute("RELEASE request")
    return results


def _write_item(cursor: sqlite3.Cursor, item: CommitItem, now: str) -> CommitResult:
    i = item.interaction
    key = (i.channel.id, i.external_id)
    occurred, received = _utc_text(i.occurred_at), _utc_text(i.received_at)
    row = (i.id, *key, i.type, i.direction, occurred, received, i.customer_id, i.conversation_id)
    cursor.execute(_INSERT_INTERACTION, (*row, i.model_dump_json()))
    if cursor.rowcount == 0:
        return CommitResult(cursor.execute(_SELECT_FIRST_ID, key).fetchone()[0], duplicate=True)
    if item.backends:
        cursor.executemany(_INSERT_DELIVERY, [(i.id, b, now, now, now) for b in item.backends])
    return CommitResult(i.id, duplicate=False)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _get_interaction(conn: sqlite3.Connection, interaction_id: str) -> Interaction | None:
    row = conn.execute("SELECT body FROM interactions WHERE id = ?", (interaction_id,)).fetchone()
    return None if row is None else Interaction.model_validate_json(row[0])


def _deliveries_of(conn: sqlite3.Connection, interaction_id: str) -> list[StoredDelivery]:
    rows = conn.execute(
        "SELECT id, backend, state, attempts, last_error, next_attempt_at FROM deliveries"
        " WHERE interaction_id = ? ORDER BY created_at, id",
        (interaction_id,),
    )
    return [
        StoredDelivery(row_id, interaction_id, backend, state, attempts, error, _parse(next_at))
        for row_id, backend, state, attempts, error, next_at in rows
    ]


def _delivery_counts(conn: sqlite3.Connection) -> dict[str, dict[DeliveryState, int]]:
    counts: dict[str, dict[DeliveryState, int]] = {}
    rows = conn.execute("SELECT backend, state, count(*) FROM deliveries GROUP BY backend, state")
    for backend, state, count in rows:
        counts.setdefault(backend, dict.fromkeys(_STATES, 0))[state] = count
    return counts
