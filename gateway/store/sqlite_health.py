"""Whether the SQLite writer can commit now: its files, its lock waits, its WAL.

The writer thread calls these between and after its transactions (`SqliteStore` runs them there):

- `WriterFiles` keeps the (device, inode) of the database file and its `-wal` as opened, and
  compares them with the paths after every write transaction: a file deleted or replaced under
  the running gateway would take every later commit with it at the next restart, so the first
  mismatch is logged CRITICAL and the store refuses every write until it is restarted.
- `busy_wait` sets how long the next statements wait for another process's write lock: the one
  writer serves ingest and delivery bookkeeping, so each operation has its own budget.
- `checkpoint` copies the WAL into the database, restarts (or truncates) it, and says whether
  it did.
- `probe` answers "could a transaction commit now?" for `/readyz`.
"""

from __future__ import annotations

import logging
import os
import sqlite3

from gateway.errors import StoreUnavailableError

__all__ = [
    "WriterFiles",
    "busy_wait",
    "checkpoint",
    "is_disk_full",
    "is_lock_wait",
    "is_storage_error",
    "probe",
]

_log = logging.getLogger("gateway.store.sqlite")

# Errors of the database as a whole (its lock, its disk, its files), not of one request's rows.
_STORAGE_ERRORS = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
_LOCKED = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_PROBE_ROOM = 64 << 10
"""Bytes the probe's write carries: more than a typical commit of one interaction writes."""
_FREE_ROOM = 1 << 20
"""Free bytes a disk that was full must have again before the store is ready: a probe's write
alone can fit in a WAL reused in place and say ready while the next batch fails."""
_PROBE_WRITE = "INSERT OR REPLACE INTO store_probe (id, probed_at, room) VALUES (1, ?, zeroblob(?))"


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(exc, sqlite3.Error) and code is not None else None


def is_storage_error(exc: BaseException) -> bool:
    """Return whether `exc` failed the whole transaction (lock, disk, files), not one row."""
    return _primary_code(exc) in _STORAGE_ERRORS


def is_lock_wait(exc: BaseException) -> bool:
    """Return whether `exc` is another connection's lock outlasting the busy wait."""
    return _primary_code(exc) in _LOCKED


def is_disk_full(exc: BaseException) -> bool:
    """Return whether `exc` is SQLite's "database or disk is full"."""
    return _primary_code(exc) == sqlite3.SQLITE_FULL


_BUSY_STEP_MS = 50
"""Lock waits are rounded to this, so the few pragma texts stay in `sqlite3`'s statement cache."""


def busy_wait(conn: sqlite3.Connection, seconds: float) -> None:
    """Make the statements that follow wait at most `seconds` (to 50 ms) for another writer's
    lock."""
    steps = max(1, round(seconds * 1000 / _BUSY_STEP_MS))
    conn.execute(f"PRAGMA busy_timeout = {steps * _BUSY_STEP_MS:d}")


def checkpoint(conn: sqlite3.Connection, *, truncate: bool) -> bool:
    """Checkpoint the whole WAL into the database so the next commit writes it from its start;
    False if a reader kept it. With `truncate` the WAL file is emptied too (no old frame is left
    in it, as an erasure needs); without, it is overwritten in place, which is cheaper for the
    commits that follow than growing a truncated file again.

    Waits for readers only as long as the connection's busy timeout.
    """
    mode = "TRUNCATE" if truncate else "RESTART"
    busy, log_frames, checkpointed = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return bool(busy == 0 and log_frames == checkpointed)


def probe(conn: sqlite3.Connection, *, write: bool, now: str, was_full: str | None = None) -> None:
    """Take the write lock and give it back; with `write`, commit a write as large as a
    typical commit (a disk with room for a small write only is not ready). `was_full` names the
    database file after a write found its disk full: that disk needs 1 MiB free again.

    `BEGIN IMMEDIATE` finds another process's lock; only a real write finds a full disk, a
    read-only mount or an I/O error, so that one runs after a write failed, until one succeeds.
    Raises `StoreUnavailableError` saying what is wrong.
    """
    if was_full is not None:
        _has_room(was_full)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if write:
                conn.execute(_PROBE_WRITE, (now, _PROBE_ROOM))
                conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"cannot commit now: {exc}") from exc


def _has_room(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        disk = os.statvfs(folder)
    except OSError as exc:
        raise StoreUnavailableError(f"cannot commit now: cannot read free space: {exc}") from exc
    free = disk.f_bavail * disk.f_frsize
    if free < _FREE_ROOM:
        raise StoreUnavailableError(
            f"cannot commit now: database or disk is full ({free} bytes free in {folder})"
        )


class WriterFiles:
    """The identity of the database file and its WAL as the writer opened them."""

    def __init__(self, path: str) -> None:
        self._paths = (path, path + "-wal")
        self._opened: list[tuple[int, int]] = []
        self.fault: str | None = None
        """Why the store refuses writes until a restart, once its files were lost."""
        self.wal_bytes = 0
        """The WAL's size at the last check."""

    def remember(self) -> None:
        """Record the files as they are now (the writer has just opened them)."""
        stats = [os.stat(path) for path in self._paths]
        self._opened = [(stat.st_dev, stat.st_ino) for stat in stats]
        self.wal_bytes = stats[1].st_size

    def check(self) -> None:
        """Raise `StoreUnavailableError` unless both paths still name the opened files."""
        if self.fault is None:
            try:
                stats = [os.stat(path) for path in self._paths]
            except FileNotFoundError:
                stats = []
            if [(stat.st_dev, stat.st_ino) for stat in stats] == self._opened:
                self.wal_bytes = stats[1].st_size
                return
            self.fault = (
                f"the database file {self._paths[0]} (or its -wal) was deleted or replaced under"
                " the running gateway; nothing is stored until the gateway is restarted"
                " (restore the files first if they were lost)"
            )
            _log.critical("SQLite store: %s", self.fault)
        raise StoreUnavailableError(self.fault)
