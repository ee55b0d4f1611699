"""The embedded store: one SQLite file in WAL mode, one writer that group-commits.

`commit` queues a request (its items and a future) and waits. One writer task takes the first
queued request plus every other one already waiting (up to `max_batch`) and runs them all in ONE
transaction on the writer thread, which owns the only write connection: one fsync per batch, not
per request. Each request runs in its own SAVEPOINT, so a request that fails (a constraint, a
trigger) is rolled back alone and only its caller gets `StoreUnavailableError`; if the transaction
itself fails (disk full, I/O error, locked by another process), every request of the batch does.
Reads use a second connection on their own thread, so they never queue behind writes. The
delivery queue's writes (claim, record, replay ...) run on the writer thread too, each in its own
transaction between commit batches; their SQL lives in `delivery_queue`.

Every operation on the writer has its own budget for waiting on another process's write lock:
an ingest request gets about 1.5 s from its arrival (then 503, the provider retries), delivery
bookkeeping 0.1 s (the worker backs off and claims again later), so lock waits of bookkeeping
never sit ahead of an ingest commit for long. After every write transaction the writer checks
that the paths still name the files it opened (`sqlite_health`); if not, it refuses every write
until a restart. `ping` asks the writer whether a transaction could commit now.

The WAL stays small: commits never checkpoint (`wal_autocheckpoint` is off on the writer);
every 100 write transactions, or once the WAL file passes `journal_size_limit` (4 MiB), a
background task checkpoints it between transactions and restarts it, so the next commits
overwrite it in place. An erasure is scrubbed from the files by a checkpoint that also truncates
the WAL: it is retried in the background until it succeeds while another reader holds an old
snapshot, and `erasures.scrubbed_at` records when it did.

Only one process may serve a store: `recover` takes an exclusive lock on `<path>.lock`, held
until `close`, so releasing the leases a crash left behind can never steal a live server's.

Timestamps are ISO-8601 UTC text with microseconds and a 'Z' (2024-05-01T12:00:00.000000Z):
fixed width, so text order is time order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Literal, TypeVar

from gateway.errors import StoreUnavailableError
from gateway.identity import IdentityObserver, IdentityPolicy
from gateway.store import customer_graph as customers
from gateway.store import delivery_queue as deliveries
from gateway.store import outbound_state as messages
from gateway.store.base import BatchObserver, CommitItem, ErasureRecord
from gateway.store.commit_items import Outcome, commit
from gateway.store.migrate import migrate
from gateway.store.sql import Connection, Cursor, transaction, utc_text
from gateway.store.sql_store import BOOKKEEPING_BUSY_S, COMMIT_BUSY_S, SqlStore
from gateway.store.sqlite_health import (
    WriterFiles,
    busy_wait,
    checkpoint,
    is_disk_full,
    is_lock_wait,
    is_storage_error,
    probe,
)

__all__ = ["SqliteDialect", "SqliteStore", "Synchronous", "sqlite_path_from_url"]

Synchronous = Literal["full", "normal", "off"]

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

_URL_PREFIX = "sqlite:///"
_READ_BUSY_S = 5.0
_PROBE_BUSY_S = 0.2
_PROBE_TIMEOUT_S = 1.0
"""How long `ping` waits for the writer thread, busy with another operation's lock wait."""
_PROBE_CACHE_S = 0.5
_CHECKPOINT_EVERY = 100
"""Write transactions between WAL checkpoints (a few MiB of WAL for one-row commits)."""
_JOURNAL_SIZE_LIMIT = 4 << 20
"""The WAL size a restart leaves, and beyond which a checkpoint is due whatever the count."""
_SCRUB_RETRY_S = (0.25, 5.0)
"""First and longest wait between checkpoints retried for an erasure."""
_UNSCRUBBED = "SELECT EXISTS (SELECT 1 FROM erasures WHERE scrubbed_at IS NULL)"
_SYNCHRONOUS: tuple[Synchronous, ...] = ("full", "normal", "off")


class SqliteDialect:
    """One writer serialises everything: no locks; the caches go stale only when another
    connection (the CLI) committed, which `PRAGMA data_version` tells."""

    concurrent_writers = False

    def __init__(self) -> None:
        self._data_version: int | None = None

    def fresh_snapshot(self, cur: Cursor) -> bool:
        """Whether another connection committed since the last commit transaction."""
        version = cur.execute("PRAGMA data_version").fetchone()[0]
        changed = bool(version != self._data_version)
        self._data_version = version
        return changed

    def lock_batch(
        self, cur: Cursor, identities: Sequence[tuple[str, str]], order_keys: Sequence[str]
    ) -> None:
        """Nothing to lock: the writer is the only one."""

    def lock_roots(self, cur: Cursor, roots: object) -> None:
        """Nothing to lock: the writer is the only one."""

    def lock_keys(self, cur: Cursor, keys: Sequence[str]) -> None:
        """Nothing to lock: the writer is the only one."""

    def lock_stream(self, cur: Cursor) -> None:
        """Nothing to lock: the writer is the only one."""

    def lock_graph(self, cur: Cursor) -> None:
        """Nothing to lock: the writer is the only one."""


def sqlite_path_from_url(url: str) -> str:
    """Return the file path of `sqlite:///relative.db` or `sqlite:////absolute/path.db`."""
    path = url[len(_URL_PREFIX) :] if url.startswith(_URL_PREFIX) else ""
    if not path or "?" in path:
        raise ValueError(
            "expected a SQLite URL like sqlite:///relative/path.db or sqlite:////absolute/path.db"
            f" (no query string), got {url!r}"
        )
    return path


class SqliteStore(SqlStore):
    """The `Store` on one SQLite file in WAL mode."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "full",
        max_batch: int = 512,
        observe_batch: BatchObserver | None = None,
        identity: IdentityPolicy | None = None,
        observe_identity: IdentityObserver | None = None,
    ) -> None:
        if path == ":memory:" or path.startswith("file:"):
            raise ValueError(f"SqliteStore needs a plain file path, got {path!r}")
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        super().__init__(
            SqliteDialect(),
            max_batch=max_batch,
            observe_batch=observe_batch,
            identity=identity,
            observe_identity=observe_identity,
        )
        self._path = path
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._maintain = asyncio.Event()
        self._lock: IO[bytes] | None = None
        # The writer's health, written on the writer thread.
        self._files = WriterFiles(path)
        self._write_failed = False  # then `ping` writes for real, until a write succeeds
        self._disk_full = False  # then `ping` also wants free space, until a probe succeeds
        self._checkpoint_due = False
        self._writes_since_checkpoint = 0
        self._unscrubbed = False  # an erasure waits for a successful checkpoint
        self._probe: asyncio.Future[None] | None = None
        self._probed_at = 0.0

    async def _connect(self) -> None:
        """Open the writer (migrating the schema) and the reader; start the checkpointer."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._open_writer)
            await loop.run_in_executor(self._reader, self._open_reader)
        except (sqlite3.Error, OSError, StoreUnavailableError) as exc:
            await self.close()  # closes whichever connection did open
            raise StoreUnavailableError(f"cannot open {self._path}: {exc}") from exc
        self._maintainer = asyncio.create_task(self._maintain_loop(), name="sqlite-checkpoints")

    async def close(self) -> None:
        """Finish the commits already accepted, then release every resource."""
        if self._closed:
            return
        self._closed = True
        if self._maintainer is not None:
            self._maintainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintainer
        await self._stop_writer()
        for executor, conn in ((self._writer, self._write_conn), (self._reader, self._read_conn)):
            if conn is not None:
                await asyncio.wrap_future(executor.submit(conn.close))
            executor.shutdown()
        self._write_conn = self._read_conn = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless a transaction could commit right now.

        One probe on the writer serves every caller for half a second; a probe stuck behind
        another operation's lock wait answers not ready after a second.
        """
        if self._write_conn is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        if self._files.fault is not None:
            raise StoreUnavailableError(self._files.fault)
        now = asyncio.get_running_loop().time()
        if self._probe is None or (self._probe.done() and now - self._probed_at > _PROBE_CACHE_S):
            self._probed_at = now
            self._probe = asyncio.ensure_future(self._on_writer(self._run_probe))
            self._probe.add_done_callback(_seen)  # a caller may have stopped waiting for it
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), _PROBE_TIMEOUT_S)
        except TimeoutError:
            raise StoreUnavailableError(
                f"the writer did not answer within {_PROBE_TIMEOUT_S:g}s: it is waiting for a"
                " lock or a slow disk"
            ) from None

    def _open_writer(self) -> None:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._write_conn = conn = _connect(self._path, COMMIT_BUSY_S)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")  # erased data is overwritten, not just unlinked
        conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT:d}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the maintainer checkpoints, off commits
        migrate(conn)
        self._resolver.load(conn)
        self._unscrubbed = bool(conn.execute(_UNSCRUBBED).fetchone()[0])
        self._files.remember()

    def _open_reader(self) -> None:
        self._read_conn = conn = _connect(self._path, _READ_BUSY_S)
        conn.execute("PRAGMA query_only = ON")

    async def _read(self, query: Callable[[Connection], _T]) -> _T:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailableError("the store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, query, conn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError("the store could not be read") from exc

    async def _write(self, work: Callable[[Connection], _T], *, busy: float = COMMIT_BUSY_S) -> _T:
        """Run `work` in its own transaction on the writer thread, between commit batches,
        waiting at most `busy` seconds for another process's lock."""
        if self._writer_task is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        try:
            return await self._on_writer(
                partial(self._guarded, run=partial(transaction, work=work), busy=busy)
            )
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"the store could not be written: {exc}") from exc

    async def _on_writer(self, run: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `run` on the writer thread; wake the checkpointer if the WAL outgrew its mark."""
        conn = self._write_conn
        if conn is None:
            raise StoreUnavailableError("the store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, run, conn)
        except sqlite3.Error as exc:
            if is_storage_error(exc):
                self._probed_at = -_PROBE_CACHE_S  # the next `ping` probes again
            raise
        finally:
            if self._checkpoint_due:
                self._maintain.set()

    def _guarded(
        self, conn: sqlite3.Connection, run: Callable[[Connection], _T], busy: float
    ) -> _T:
        """On the writer thread: run the write transaction(s) of `run` unless the files were
        lost, then check that they still are the files the writer opened."""
        if self._files.fault is not None:
            raise StoreUnavailableError(self._files.fault)
        busy_wait(conn, busy)
        try:
            result = run(conn)
        except sqlite3.Error as exc:
            if is_storage_error(exc) and not is_lock_wait(exc):
                self._write_failed = True
                self._disk_full = self._disk_full or is_disk_full(exc)
            raise
        self._files.check()
        self._write_failed = False
        self._writes_since_checkpoint += 1
        self._checkpoint_due = self._checkpoint_due or (
            self._writes_since_checkpoint >= _CHECKPOINT_EVERY
            or self._files.wal_bytes > _JOURNAL_SIZE_LIMIT
        )
        return result

    def _run_probe(self, conn: sqlite3.Connection) -> None:
        """On the writer thread: raise `StoreUnavailableError` unless a commit could succeed."""
        self._files.check()
        busy_wait(conn, _PROBE_BUSY_S)
        was_full = self._path if self._disk_full else None
        probe(conn, write=self._write_failed, now=utc_text(datetime.now(UTC)), was_full=was_full)
        self._write_failed = self._disk_full = False

    async def _checkpoint_now(self) -> bool:
        """Checkpoint the WAL (and truncate it while an erasure waits); False if it could not."""
        try:
            return await self._on_writer(self._checkpoint)
        except StoreUnavailableError:
            return False

    def _checkpoint(self, conn: sqlite3.Connection) -> bool:
        """On the writer thread: checkpoint, and stamp the erasures it scrubbed."""
        if self._files.fault is not None:
            return False
        busy_wait(conn, BOOKKEEPING_BUSY_S)
        try:
            # Also those another process (the CLI) erased, found by a partial index.
            scrub = self._unscrubbed or bool(conn.execute(_UNSCRUBBED).fetchone()[0])
            if not checkpoint(conn, truncate=scrub):
                _log.info("SQLite store: a reader holds the WAL; checkpointing again later")
                return False
            self._checkpoint_due = False
            self._writes_since_checkpoint = 0
            if scrub:
                stamp = "UPDATE erasures SET scrubbed_at = ? WHERE scrubbed_at IS NULL"
                transaction(conn, lambda c: c.execute(stamp, (utc_text(datetime.now(UTC)),)))
                self._unscrubbed = False
        except sqlite3.Error as exc:
            _log.warning("SQLite store: cannot checkpoint the WAL: %s", exc)
            return False
        return True

    async def _maintain_loop(self) -> None:
        """Checkpoint when the WAL outgrew its mark or an erasure waits to be scrubbed; after a
        failure, back off (writes meanwhile do not make it try again sooner)."""
        first, longest = _SCRUB_RETRY_S
        retry = first
        self._maintain.set()  # an erasure may have been left unscrubbed by the last run
        while True:
            await self._maintain.wait()
            self._maintain.clear()
            if not (self._checkpoint_due or self._unscrubbed):
                continue
            if await self._checkpoint_now():
                retry = first
                continue
            await asyncio.sleep(retry)
            retry = min(retry * 2, longest)
            self._maintain.set()

    async def recover(self) -> int:
        """Lock the store for this process and return crashed leases to pending; count them."""
        return await self._write(self._recover)

    async def _run_batch(self, requests: list[Sequence[CommitItem]], busy: float) -> list[Outcome]:
        run = partial(
            commit,
            requests=requests,
            resolver=self._resolver,
            recent=self._recent,
            dialect=self._dialect,
            is_storage_error=is_storage_error,
        )
        return await self._on_writer(partial(self._guarded, run=run, busy=busy))

    def _is_storage_error(self, exc: BaseException) -> bool:
        return is_storage_error(exc)

    async def _scrub(self, erasure: ErasureRecord) -> ErasureRecord:
        """Zeroed pages (`secure_delete`) leave the files once the WAL is checkpointed and
        truncated: at once if no other reader holds an old snapshot, else in the background
        until it succeeds; `scrubbed_at` says when."""
        self._unscrubbed = True
        if await self._checkpoint_now():  # the stamp may be another checkpoint's, just before
            scrubbed = await self._read(partial(customers.scrubbed_at, erasure_id=erasure.id))
            return dataclasses.replace(erasure, scrubbed_at=scrubbed)
        self._maintain.set()  # retried in the background, off the commit path
        return erasure

    def _recover(self, conn: Connection) -> int:
        if self._lock is None:
            self._lock = _lock_exclusively(self._path + ".lock")
        now = datetime.now(UTC)
        parked = messages.park_unknown(conn, None, now)
        if parked:
            _log.warning("%d sends in flight at the last stop: parked (outcome_unknown)", parked)
        return deliveries.release_all(conn, now)


def _seen(probe: asyncio.Future[None]) -> None:
    """Mark the probe's outcome retrieved: each caller that still waits gets it anyway."""
    if not probe.cancelled():
        probe.exception()


def _connect(path: str, busy: float) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=busy, isolation_level=None)


def _lock_exclusively(path: str) -> IO[bytes]:
    try:
        lock = open(path, "ab")  # noqa: SIM115 - held until close()
    except OSError as exc:
        raise StoreUnavailableError(f"cannot create the lock file {path}: {exc}") from exc
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        raise StoreUnavailableError(
            f"another gateway is serving {path.removesuffix('.lock')}; stop it first"
        ) from exc
    return lock
