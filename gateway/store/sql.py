"""The SQL both stores speak: the connection the store's logic is written against, its
transactions and its timestamps.

The identity graph, conversation threading, the delivery queue and outbound state are written
once, as functions on a `Connection` (`identity_graph`, `customer_graph`, `delivery_queue`,
`outbound_state`, `service_reads`, `commit_items`). SQLite's `sqlite3.Connection` is one as it
is; PostgreSQL's is `postgres_connection.PgConnection`, which takes the same SQL text: `?` and
`:name` parameters, and a few SQLite spellings it rewrites (`postgres_connection`). SQL that
neither engine can share lives with its engine.

Timestamps are ISO-8601 UTC text with microseconds and a 'Z' (2024-05-01T12:00:00.000000Z) in
both: fixed width, so text order is time order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

__all__ = [
    "Connection",
    "Cursor",
    "Dialect",
    "GraphMovedError",
    "Params",
    "first_line",
    "parse_utc",
    "transaction",
    "utc_text",
]

_T = TypeVar("_T")

Params = Sequence[Any] | Mapping[str, Any]
"""Positional (`?`) or named (`:name`) parameters."""


class Cursor(Protocol):
    """What the store's logic uses of a DB-API cursor."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed (summed over an `executemany`)."""

    def execute(self, sql: str, parameters: Params = (), /) -> Cursor:
        """Run one statement."""

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> Cursor:
        """Run one statement once per parameter set."""

    def fetchone(self) -> Any:
        """Return the next row, or None."""

    def fetchall(self) -> list[Any]:
        """Return the remaining rows."""

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the remaining rows."""


class Connection(Protocol):
    """What the store's logic uses of a DB-API connection in autocommit mode."""

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""

    def cursor(self) -> Cursor:
        """Return a new cursor."""

    def execute(self, sql: str, parameters: Params = (), /) -> Cursor:
        """Run one statement on a new cursor."""

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> Cursor:
        """Run one statement once per parameter set on a new cursor."""


class GraphMovedError(Exception):
    """A customer the transaction was about to write under was merged by another gateway
    instance since it was read: the transaction is retried on the graph as it is now."""


class Dialect(Protocol):
    """What the shared logic asks of its engine beyond SQL: the locks that make concurrent
    writers (PostgreSQL: many gateway instances) safe, which one writer (SQLite) never needs."""

    concurrent_writers: bool
    """Whether other connections write the graph concurrently: then every commit batch
    reloads what the resolver keeps in memory and takes the locks below."""

    def fresh_snapshot(self, cur: Cursor) -> bool:
        """Called first in every commit transaction: whether what the resolver cached may be
        stale (another connection committed since), so it must read the graph again."""

    def lock_batch(
        self, cur: Cursor, identities: Sequence[tuple[str, str]], order_keys: Sequence[str]
    ) -> None:
        """Called next, in a batch of ingest commits: take, in one global order, the locks of
        every customer (root) holding one of these (kind, value) identities and of these
        delivery order keys."""

    def lock_roots(self, cur: Cursor, roots: Iterable[str]) -> None:
        """Lock these customers before writing under them; raise `GraphMovedError` if one of them
        was merged into another meanwhile."""

    def lock_keys(self, cur: Cursor, keys: Sequence[str]) -> None:
        """Lock these delivery order keys (sorted) before a delivery of theirs is queued or
        changes state: the next delivery of each key is told it may go by a trigger that must
        see every insert."""

    def lock_stream(self, cur: Cursor) -> None:
        """Lock the merge log before a merge gets its id: ids then commit in order, so a
        backend's cursor on the stream (`stream_cursors`) never passes one still uncommitted."""

    def lock_graph(self, cur: Cursor) -> None:
        """Lock the whole identity graph for an operator's change (link, merge, unmerge,
        erasure) against every ingest batch."""


def transaction(conn: Connection, work: Callable[[Connection], _T]) -> _T:
    """Run `work` in one write transaction; roll it back if `work` raises.

    `BEGIN IMMEDIATE` takes SQLite's write lock up front; PostgreSQL reads it as `BEGIN`.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(Exception):
                conn.execute("ROLLBACK")
        raise
    return result


_UTC_TEXT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def utc_text(moment: datetime) -> str:
    """Return `moment` as fixed-width ISO-8601 UTC text: text order is time order."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # Formatted by hand: a third cheaper than isoformat() and its "+00:00" cut off.
    return _UTC_TEXT % (
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def parse_utc(text: str) -> datetime:
    """Return the aware datetime of a `utc_text` timestamp."""
    return datetime.fromisoformat(text)


def first_line(exc: BaseException) -> str:
    """What failed, for a log line or an error: the first line of a database error, without the
    DETAIL a server adds (it quotes row values, such as a phone) or a connection string (it may
    hold a password)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
