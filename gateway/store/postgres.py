"""The shared store: one PostgreSQL database for many gateway instances (DESIGN §7, §15).

Every instance runs the same `SqlStore` as SQLite (the logic is written once: `sql_store`), on
two connections of its own, each owned by one thread: the writer, which group-commits ingest
requests and runs the delivery queue's transactions, and the reader. What differs is what many
writers need, the `PostgresDialect`:

- **Identity resolution is race-free across instances.** An ingest batch first takes, in one
  global order (sorted), transaction-level advisory locks on every customer its identities name
  and on its delivery order keys; a customer found later (merged or created by another instance
  since) is locked before anything is written under it and re-checked, and if it was merged
  meanwhile the batch is retried on the graph as it is now (`GraphMovedError`). Two instances
  seeing the same new phone at once both insert its identity: the second waits for the first's
  commit and fails on the primary key, and its retry (a savepoint per request) finds the
  customer the first created. So: one customer per person, by constraints and retries.
- **Per-customer delivery order holds across instances.** The order key of a delivery is locked
  by whoever queues one (ingest, backfill) or changes its state (record, replay, parking), so
  the triggers that hand the turn to the next delivery of a key always see every insert;
  deliveries are claimed `FOR UPDATE SKIP LOCKED`, and only the head of each key is claimable.
- **Leases expire when an instance dies**: a delivery in flight under an expired lease is
  claimable by any instance (an expired send is parked, as on SQLite). `recover` releases
  nothing: another instance's leases are live.
- **Operator changes of the graph** (link, proposal decisions, unmerge, erasure) take an
  exclusive advisory lock that every ingest batch takes shared.
- A merge takes the stream lock before its row gets an id (an erasure runs under the graph
  lock), so those streams' ids are committed in order and a backend's cursor
  (`stream_cursors`) never skips one; one instance at a time gives a backend its streams
  (`_lead`).

Connection loss: the failing operation raises `StoreUnavailableError` (ingest answers 503 and
the provider retries); the next operation reconnects, and a read is tried once more at once.
`ping` (`/readyz`) asks the writer's connection for `SELECT pg_is_in_recovery()` (a standby
cannot take writes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo

from gateway.errors import StoreUnavailableError
from gateway.identity import IdentityObserver, IdentityPolicy
from gateway.store.base import BatchObserver, CommitItem, ErasureRecord, MergeRecord, Stream
from gateway.store.commit_items import Outcome, commit
from gateway.store.postgres_connection import PgConnection
from gateway.store.postgres_schema import migrate_postgres
from gateway.store.sql import Connection, Cursor, GraphMovedError, first_line, transaction
from gateway.store.sql_store import COMMIT_BUSY_S, SqlStore

__all__ = ["CLAIMABLE", "PostgresDialect", "PostgresStore", "describe_url", "is_storage_error"]

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 5
_PING_TIMEOUT_S = 2.0
_DEAD_PEER: dict[str, str | int | None] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}
"""libpq's TCP settings: a server that vanished (a partition, a host gone) fails the statement
waiting on it within ~15 s instead of never, so the writer reconnects rather than hangs."""
_GRAPH_LOCK = 0x6761_7465_7761_7901
"""The advisory lock of the identity graph: ingest batches shared, operator changes exclusive."""
_STREAM_LOCK = 0x6761_7465_7761_7902
"""The advisory lock of the merge log (`PostgresDialect.lock_stream`)."""

CLAIMABLE = """
    SELECT d.id, d.attempts, d.created_at, d.interaction_id, i.body, i.customer_id
    FROM deliveries AS d JOIN interactions AS i ON i.id = d.interaction_id
    WHERE d.id IN (
        SELECT id FROM deliveries
        WHERE backend = :backend AND waiting = 0 AND (
            (state = 'pending' AND next_attempt_at <= :now)
            OR (state = 'in_flight' AND lease_until <= :now))
        ORDER BY next_attempt_at, id LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    ORDER BY d.next_attempt_at, d.id
"""
"""PostgreSQL's claim: rows another instance is leasing right now are skipped, not waited for."""

_ROOTS = """
    WITH RECURSIVE up (id, merged_into) AS (
        SELECT c.id, c.merged_into FROM identities AS i JOIN customers AS c ON c.id = i.customer_id
        WHERE (i.kind, i.value) IN (SELECT * FROM unnest(?::text[], ?::text[]))
        UNION SELECT c.id, c.merged_into FROM customers AS c JOIN up ON c.id = up.merged_into
    )
    SELECT id FROM up WHERE merged_into IS NULL
"""
"""The customers (roots) holding any of the given (kind, value) identities."""
_MOVED = "SELECT id FROM customers WHERE id = ANY(?::text[]) AND merged_into IS NOT NULL"

# Errors of the database or the connection as a whole, not of one request's rows.
_STORAGE_ERRORS = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    pg_errors.DiskFull,
    pg_errors.InsufficientResources,
    pg_errors.ReadOnlySqlTransaction,
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,
)


def is_storage_error(exc: BaseException) -> bool:
    """Return whether `exc` failed the whole transaction (the server, the connection, a lock
    wait), not one request's rows: a unique violation, a deadlock, a serialization failure
    and a moved customer are retried request by request."""
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return False
    return isinstance(exc, _STORAGE_ERRORS)


class PostgresDialect:
    """The locks of many concurrent writers (module docstring); writer thread only."""

    concurrent_writers = True

    def __init__(self) -> None:
        self._held: set[str] = set()
        """Customers this commit transaction has locked."""

    def fresh_snapshot(self, cur: Cursor) -> bool:
        """Always: other instances commit all the time, so nothing cached survives a batch."""
        self._held.clear()
        return True

    def lock_batch(
        self, cur: Cursor, identities: Sequence[tuple[str, str]], order_keys: Sequence[str]
    ) -> None:
        """Take the graph lock shared, then every root and order key of the batch, sorted."""
        cur.execute("SELECT pg_advisory_xact_lock_shared(?)", (_GRAPH_LOCK,))
        roots: list[str] = []
        if identities:
            kinds, values = [kind for kind, _ in identities], [value for _, value in identities]
            roots = [row[0] for row in cur.execute(_ROOTS, (kinds, values)).fetchall()]
        keys = sorted({*roots, *order_keys})
        if keys:
            cur.execute("SELECT gateway_lock_keys(?::text[])", (keys,))
        self._held.update(roots)

    def lock_roots(self, cur: Cursor, roots: Iterable[str]) -> None:
        """Lock the customers not locked yet; raise `GraphMovedError` if one was merged."""
        new = sorted(set(roots) - self._held)
        if not new:
            return
        cur.execute("SELECT gateway_lock_keys(?::text[])", (new,))
        self._held.update(new)
        if moved := cur.execute(_MOVED, (new,)).fetchall():
            raise GraphMovedError(f"customer {moved[0][0]} was merged by another instance")

    def lock_keys(self, cur: Cursor, keys: Sequence[str]) -> None:
        """Lock these order keys, in the order given (sorted by the caller)."""
        if keys:
            cur.execute("SELECT gateway_lock_keys(?::text[])", (list(keys),))

    def lock_stream(self, cur: Cursor) -> None:
        """Lock the merge log until the transaction ends (merges are rare)."""
        cur.execute("SELECT pg_advisory_xact_lock(?)", (_STREAM_LOCK,))

    def lock_graph(self, cur: Cursor) -> None:
        """Lock the identity graph against every ingest batch, for an operator's change."""
        cur.execute("SELECT pg_advisory_xact_lock(?)", (_GRAPH_LOCK,))


class _Session:
    """One connection, owned by one thread: opened on first use and again after a loss."""

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self._name = name
        self.conn: PgConnection | None = None
        self.lock_timeout_ms: int | None = None
        self.leading: set[str] = set()
        """The streams whose session-level lock this connection holds (`_lead`)."""

    def get(self) -> PgConnection:
        conn = self.conn
        if conn is not None and not conn.raw.closed and not conn.raw.broken:
            return conn
        self.close()
        try:
            raw = psycopg.connect(
                make_conninfo(self._url, **_DEAD_PEER),
                autocommit=True,
                connect_timeout=_CONNECT_TIMEOUT_S,
                application_name=f"channel-gateway {self._name}",
            )
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {first_line(exc)}") from exc
        self.conn = PgConnection(raw)
        self.lock_timeout_ms = None
        self.leading.clear()  # a lost connection took its session locks along
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.raw.close()
            self.conn = None


class PostgresStore(SqlStore):
    """The `Store` on one PostgreSQL database, shared by any number of gateway instances."""

    _claimable = CLAIMABLE

    def __init__(
        self,
        url: str,
        *,
        max_batch: int = 512,
        observe_batch: BatchObserver | None = None,
        identity: IdentityPolicy | None = None,
        observe_identity: IdentityObserver | None = None,
    ) -> None:
        super().__init__(
            PostgresDialect(),
            max_batch=max_batch,
            observe_batch=observe_batch,
            identity=identity,
            observe_identity=observe_identity,
        )
        self._where = describe_url(url)
        self._writer_session = _Session(url, "writer")
        self._reader_session = _Session(url, "reader")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="postgres-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="postgres-reader")

    async def _connect(self) -> None:
        """Connect both threads and migrate the schema if it is older (refuse a newer one)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._open_writer)
            await loop.run_in_executor(self._reader, self._reader_session.get)
        except (psycopg.Error, StoreUnavailableError) as exc:
            await self.close()
            raise StoreUnavailableError(f"cannot open {self._where}: {first_line(exc)}") from exc

    async def close(self) -> None:
        """Finish the commits already accepted, then close both connections."""
        if self._closed:
            return
        self._closed = True
        await self._stop_writer()
        for executor, session in (
            (self._writer, self._writer_session),
            (self._reader, self._reader_session),
        ):
            await asyncio.wrap_future(executor.submit(session.close))
            executor.shutdown()

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless the writer's connection could commit now."""
        if self._writer_task is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        future = asyncio.get_running_loop().run_in_executor(self._writer, self._probe)
        try:
            await asyncio.wait_for(future, _PING_TIMEOUT_S)
        except TimeoutError:
            raise StoreUnavailableError(
                f"the writer did not answer within {_PING_TIMEOUT_S:g}s"
            ) from None

    async def recover(self) -> int:
        """Nothing to release: leases of a crashed instance expire, other instances' are live."""
        return 0

    async def merges_after(self, backend: str, limit: int) -> list[MergeRecord]:
        """Return the merge log entries `backend` has not been given yet, if this instance
        leads the stream (else none: another instance is giving them)."""
        if not await self._lead(backend, "merges"):
            return []
        return await super().merges_after(backend, limit)

    async def erasures_after(self, backend: str, limit: int) -> list[ErasureRecord]:
        """Return the erasures `backend` has not been asked to perform yet, if this instance
        leads the stream (else none)."""
        if not await self._lead(backend, "erasures"):
            return []
        return await super().erasures_after(backend, limit)

    async def _lead(self, backend: str, stream: Stream) -> bool:
        """Whether this instance gives `backend` its `stream`: the one holding the stream's
        session-level advisory lock does, until its connection goes; so each merge or erasure
        reaches a backend from one instance at a time, and another takes over when it dies."""
        session, key = self._writer_session, f"stream:{backend}:{stream}"

        def take() -> bool:
            conn = session.get()
            if key not in session.leading:
                row = conn.raw.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
                ).fetchone()
                if row is not None and row[0]:
                    session.leading.add(key)
            return key in session.leading

        return await self._on_writer(take)

    async def _read(self, query: Callable[[Connection], _T]) -> _T:
        if self._closed:
            raise StoreUnavailableError("the store is not open")
        run = self._on(self._reader_session, query)
        loop = asyncio.get_running_loop()
        try:
            try:
                return await loop.run_in_executor(self._reader, run)
            except psycopg.OperationalError:
                # A read changes nothing: once more on a new connection (the server restarted).
                return await loop.run_in_executor(self._reader, run)
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"the store could not be read: {first_line(exc)}") from exc

    async def _write(self, work: Callable[[Connection], _T], *, busy: float = COMMIT_BUSY_S) -> _T:
        if self._writer_task is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        return await self._on_writer(
            self._on(self._writer_session, lambda conn: transaction(conn, work), busy)
        )

    async def _on_writer(self, run: Callable[[], _T]) -> _T:
        """Run `run` on the writer thread; a driver error is `StoreUnavailableError`."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, run)
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"the store could not be written: {first_line(exc)}"
            ) from exc

    async def _run_batch(self, requests: list[Sequence[CommitItem]], busy: float) -> list[Outcome]:
        def run(conn: Connection) -> list[Outcome]:
            return commit(
                conn, requests, self._resolver, self._recent, self._dialect, is_storage_error
            )

        return await asyncio.get_running_loop().run_in_executor(
            self._writer, self._on(self._writer_session, run, busy)
        )

    def _is_storage_error(self, exc: BaseException) -> bool:
        return is_storage_error(exc)

    def _on(
        self, session: _Session, work: Callable[[Connection], _T], busy: float | None = None
    ) -> Callable[[], _T]:
        """Return `work` bound to the session's connection (reconnecting if it was lost), with
        `lock_timeout` at `busy` seconds; on the session's thread."""

        def run() -> _T:
            conn = session.get()
            if busy is not None:
                millis = max(1, int(busy * 1000))
                if millis != session.lock_timeout_ms:
                    conn.raw.execute(f"SET lock_timeout = {millis:d}")
                    session.lock_timeout_ms = millis
            return work(conn)

        return run

    def _open_writer(self) -> None:
        conn = self._writer_session.get()
        migrate_postgres(conn.raw)
        self._resolver.load(conn)

    def _probe(self) -> None:
        try:
            row = self._writer_session.get().raw.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error as exc:
            self._writer_session.close()
            raise StoreUnavailableError(f"PostgreSQL does not answer: {first_line(exc)}") from exc
        if row is None or row[0]:
            raise StoreUnavailableError("PostgreSQL is a read-only standby: no write can commit")


def describe_url(url: str) -> str:
    """Return `url` without its user and password: where the store is, safe to show."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
