"""The SQLite delivery queue: claims, outcomes, the attempt log, replay, backfill and pruning.

Module-level functions on a `Connection` in autocommit mode; `SqliteStore` runs the
writing ones inside `transaction` on its writer thread and the reading ones on its reader.
The schema keeps `deliveries.waiting` (migration 0002): 1 for every pending or in-flight row
queued behind the head of its (backend, order_key), so a claim only reads claimable rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.schema import Interaction
from gateway.store.base import (
    ClaimedDelivery,
    DeliveryState,
    DeliveryUpdate,
    QueueStats,
    StoredAttempt,
    StoredDelivery,
)
from gateway.store.sql import Connection, parse_utc, utc_text
from gateway.store.stored_rows import StoredInteraction, load_interaction, validated

__all__ = [
    "CLAIMABLE",
    "FIRST_ROW",
    "INSERT_DELIVERY",
    "Cursor",
    "attempts_of",
    "claim",
    "deliveries_of",
    "delivery_counts",
    "get_delivery",
    "list_deliveries",
    "prune_chunk",
    "queue_deliveries",
    "queue_stats",
    "record",
    "release",
    "release_all",
    "replay",
    "unrouted",
]

log = logging.getLogger("gateway.delivery")

Cursor = tuple[str, int]
"""A position in arrival (rowid) order: (the `received_at` a backfill starts at, "" for a prune;
the rowid of the last interaction seen, 0 before the first)."""
FIRST_ROW: Cursor = ("", 0)
ARRIVAL_SLACK = timedelta(minutes=10)
"""How far `received_at` may run backwards along rowid order. Rows are stored in arrival order (a
commit waits at most ~1.5 s from its request's arrival), so there is no index on `received_at`:
backfill and prune scan by rowid and give clock steps and late commits this much room."""

_STATES: tuple[DeliveryState, ...] = ("pending", "in_flight", "delivered", "dead")

# DO NOTHING: a backend listed twice in one item, or a backfill racing a commit, gets one job.
INSERT_DELIVERY = (
    "INSERT INTO deliveries (interaction_id, backend, order_key, next_attempt_at, created_at,"
    " updated_at, waiting) VALUES (?1, ?2, ?3, ?4, ?4, ?4,"
    " CASE WHEN CAST(?3 AS TEXT) IS NOT NULL AND EXISTS ("
    "  SELECT 1 FROM deliveries WHERE backend = ?2 AND order_key = ?3"
    "  AND state IN ('pending', 'in_flight')) THEN 1 ELSE 0 END)"
    " ON CONFLICT (interaction_id, backend) DO NOTHING"
)
"""Queue a delivery: (interaction id, backend, order key, now). It waits if its customer's queue
at that backend is not empty; computed here rather than by a trigger, so the row is written once."""
# `attempts` as shown counts the whole attempt log; the column restarts at each replay (the
# retry budget's count).
_DELIVERY_COLUMNS = (
    "id, interaction_id, backend, state,"
    " (SELECT count(*) FROM delivery_attempts AS a WHERE a.delivery_id = deliveries.id),"
    " last_error, next_attempt_at FROM deliveries"
)
_UNFINISHED = " AND state <> 'delivered'"
"""Written so in the partial index deliveries_unfinished (migration 0010): SQLite uses it only
for a query naming the same term."""
# SQLite's claim: each arm reads the claimable rows of one state in (next_attempt_at, id) order from
# deliveries_due, so the merge stops after `limit` rows.
CLAIMABLE = """
    WITH due AS (
        SELECT id, next_attempt_at FROM deliveries
        WHERE backend = :backend AND state = 'pending' AND waiting = 0
            AND next_attempt_at <= :now
        UNION ALL
        SELECT id, next_attempt_at FROM deliveries
        WHERE backend = :backend AND state = 'in_flight' AND waiting = 0 AND lease_until <= :now
        ORDER BY 2, 1 LIMIT :limit
    )
    SELECT d.id, d.attempts, d.created_at, d.interaction_id, i.body, i.customer_id
    FROM due JOIN deliveries AS d ON d.id = due.id JOIN interactions AS i ON i.id = d.interaction_id
    ORDER BY due.next_attempt_at, due.id
"""
_LEASE = "UPDATE deliveries SET state = 'in_flight', lease_until = ?, updated_at = ? WHERE id = ?"
_RECORD = (
    "UPDATE deliveries SET state = ?, attempts = attempts + ?, last_error = ?,"
    " next_attempt_at = ?, lease_until = NULL, delivered_at = ?, updated_at = ?"
    " WHERE id = ? AND state = 'in_flight'"
)
# VALUES with a scalar subquery, not INSERT ... SELECT from the same table: that one goes
# through a temporary table first.
_INSERT_ATTEMPT = (
    "INSERT INTO delivery_attempts (delivery_id, number, started_at, finished_at, outcome, error)"
    " VALUES (:id, (SELECT coalesce(max(number), 0) + 1 FROM delivery_attempts"
    " WHERE delivery_id = :id), :started, :finished, :outcome, :error)"
)
_RELEASE = (
    "UPDATE deliveries SET state = 'pending', lease_until = NULL, updated_at = ?"
    " WHERE state = 'in_flight'"
)
_REPLAY = (
    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = :now,"
    " created_at = :now, lease_until = NULL, updated_at = :now WHERE state = 'dead'"
)
_UNROUTED = (
    "SELECT i.rowid, i.id, i.channel_id, i.external_id, i.received_at, i.body"
    " FROM interactions AS i WHERE i.rowid > :after_rowid AND i.received_at >= :since"
    " AND NOT EXISTS (SELECT 1 FROM deliveries AS d"
    " WHERE d.interaction_id = i.id AND d.backend = :backend)"
    " ORDER BY i.rowid LIMIT :size"
)
_ARRIVALS = (
    "SELECT rowid, received_at >= :horizon, received_at < :before AND NOT EXISTS ("
    " SELECT 1 FROM deliveries AS d WHERE d.interaction_id = interactions.id"
    " AND d.state IN ('pending', 'in_flight', 'dead'))"
    " FROM interactions WHERE rowid > :after_rowid ORDER BY rowid LIMIT :size"
)
"""The next rows in arrival order: (rowid, past the horizon, prunable)."""
_ARRIVAL_AT = "SELECT rowid, received_at FROM interactions WHERE rowid >= ? ORDER BY rowid LIMIT 1"
# The latest `before` and earliest `since` the slack can be added to or taken from.
_LATEST_SHIFTABLE = datetime.max.replace(tzinfo=UTC) - ARRIVAL_SLACK
_EARLIEST_SHIFTABLE = datetime.min.replace(tzinfo=UTC) + ARRIVAL_SLACK
# Distinct backends by a skip-scan of deliveries_due, then index look-ups per backend: the cost
# follows the live queue, not the delivered history.
_QUEUE_STATS = """
    WITH RECURSIVE backends (name) AS (
        SELECT min(backend) FROM deliveries
        UNION ALL
        SELECT (SELECT min(backend) FROM deliveries WHERE backend > name)
        FROM backends WHERE name IS NOT NULL
    )
    SELECT name,
        (SELECT count(*) FROM deliveries
            WHERE backend = name AND state IN ('pending', 'in_flight')),
        (SELECT count(*) FROM deliveries WHERE backend = name AND state = 'dead'),
        (SELECT min(next_attempt_at) FROM deliveries
            WHERE backend = name AND state = 'pending' AND waiting = 0)
    FROM backends WHERE name IS NOT NULL
"""


def claim(
    conn: Connection,
    backend: str,
    limit: int,
    now: datetime,
    lease: timedelta,
    recent: Mapping[str, Interaction],
    current: Callable[[Connection, Collection[str], str], dict[str, tuple[str, tuple[str, ...]]]],
    claimable: str = CLAIMABLE,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` claimable deliveries of `backend`, oldest due first.

    A delivery whose stored interaction no longer validates is dead-lettered alone, with the
    reason, and not returned: one bad row never stops a backend's queue.
    `recent` holds interactions committed moments ago: they need no parsing again.
    `current(conn, customer_ids, backend)` says who each customer is now (after merges) and the
    records the backend has for them: a delivery carries the current identity graph.
    `claimable` selects the rows (the engine's: PostgreSQL skips rows another instance locked).
    """
    params = {"backend": backend, "now": utc_text(now), "limit": limit}
    rows = conn.execute(claimable, params).fetchall()
    lease_until, updated = utc_text(now + lease), utc_text(now)
    conn.executemany(_LEASE, [(lease_until, updated, row[0]) for row in rows])
    customers = {row[5] for row in rows if row[5]}
    now_known = current(conn, customers, backend) if customers else {}
    claimed = []
    for row_id, attempts, created, interaction_id, body, customer_id in rows:
        interaction = recent.get(interaction_id) or validated(body)
        if isinstance(interaction, str):
            _dead_letter_unreadable(conn, backend, row_id, interaction, now)
            continue
        root, refs = now_known.get(customer_id, (customer_id, ()))
        document: str | None = body
        if root != customer_id:
            interaction = interaction.model_copy(update={"customer_id": root})
            document = None
        claimed.append(
            ClaimedDelivery(row_id, interaction, attempts, parse_utc(created), refs, document)
        )
    return claimed


def _dead_letter_unreadable(
    conn: Connection, backend: str, delivery_id: int, reason: str, now: datetime
) -> None:
    update = DeliveryUpdate(delivery_id, "dead", (), error=reason)
    conn.execute(_RECORD, _record_params(update, now))
    log.warning("backend %s: delivery %d dead-lettered: %s", backend, delivery_id, reason)


def record(
    conn: Connection,
    updates: Sequence[DeliveryUpdate],
    now: datetime,
    keep_refs: Callable[[Connection, int, Sequence[str], str], None],
    follow: Callable[[Connection, DeliveryUpdate, datetime], None],
) -> None:
    """Apply outcomes to deliveries still in flight and log their attempts.

    A pending update without `next_attempt_at` is due at once. `keep_refs(conn, delivery_id,
    record_refs, now)` adds the records a backend reported to its customer's crosswalk;
    `follow(conn, update, now)` is told of every update applied (an outbound message follows
    its send).
    """
    for update in updates:
        if update.record_refs:
            keep_refs(conn, update.delivery_id, update.record_refs, utc_text(now))
        if not conn.execute(_RECORD, _record_params(update, now)).rowcount:
            continue  # released or replayed since its claim: that newer decision stands
        follow(conn, update, now)
        conn.executemany(
            _INSERT_ATTEMPT,
            [
                {
                    "id": update.delivery_id,
                    "started": utc_text(attempt.started_at),
                    "finished": utc_text(attempt.finished_at),
                    "outcome": attempt.outcome,
                    "error": attempt.error,
                }
                for attempt in update.attempts
            ],
        )


def _record_params(update: DeliveryUpdate, now: datetime) -> tuple[object, ...]:
    last = update.attempts[-1].finished_at if update.attempts else now
    delivered_at = utc_text(last) if update.state == "delivered" else None
    next_attempt_at = None
    if update.state == "pending":
        next_attempt_at = utc_text(update.next_attempt_at or now)
    return (
        update.state,
        len(update.attempts),
        update.error,
        next_attempt_at,
        delivered_at,
        utc_text(now),
        update.delivery_id,
    )


def release(conn: Connection, delivery_ids: Sequence[int], now: datetime) -> None:
    """Return these in-flight deliveries to pending, keeping their attempts and due time."""
    conn.executemany(_RELEASE + " AND id = ?", [(utc_text(now), i) for i in delivery_ids])


def release_all(conn: Connection, now: datetime) -> int:
    """Return every in-flight delivery to pending; return how many."""
    return conn.execute(_RELEASE, (utc_text(now),)).rowcount


def replay(
    conn: Connection,
    now: datetime,
    delivery_ids: Sequence[int] | None,
    backend: str | None,
) -> int:
    """Make dead deliveries pending and due now with a fresh budget; return how many.

    Without ids or a backend, sends (targets `channel:...`) stay dead: a parked send may have
    reached the customer, so only naming it resends it.
    """
    sql, params = _REPLAY, {"now": utc_text(now), "backend": backend}
    if backend is not None:
        sql += " AND backend = :backend"
    elif delivery_ids is None:
        sql += " AND backend NOT LIKE 'channel:%'"
    if delivery_ids is None:
        return conn.execute(sql, params).rowcount
    # executemany sums the rows each id changed.
    return conn.executemany(
        sql + " AND id = :id", [{**params, "id": i} for i in delivery_ids]
    ).rowcount


def unrouted(
    conn: Connection, backend: str, after: Cursor, size: int
) -> tuple[list[StoredInteraction], Cursor]:
    """Return up to `size` interactions after `after` with no delivery for `backend`.

    The first call (`after` is (since, 0)) finds where rows received since `since` begin.
    """
    since, after_rowid = after
    if not after_rowid:
        earliest = max(parse_utc(since), _EARLIEST_SHIFTABLE) - ARRIVAL_SLACK
        after_rowid = _first_arrival(conn, utc_text(earliest)) - 1
    params = {"backend": backend, "since": since, "after_rowid": after_rowid, "size": size}
    rows = conn.execute(_UNROUTED, params).fetchall()
    interactions = [load_interaction(row[1:]) for row in rows]
    return interactions, (since, rows[-1][0] if rows else after_rowid)


def _first_arrival(conn: Connection, received: str) -> int:
    """Return the rowid from which on, in arrival order, rows were received at `received` or
    later: a binary search over rowids, a few dozen look-ups."""
    low = 0
    high = conn.execute("SELECT coalesce(max(rowid), 0) + 1 FROM interactions").fetchone()[0]
    while low < high:
        middle = (low + high) // 2
        row = conn.execute(_ARRIVAL_AT, (middle,)).fetchone()
        if row is None or row[1] >= received:
            high = middle
        else:
            low = row[0] + 1
    return low


def queue_deliveries(
    conn: Connection,
    backend: str,
    jobs: Iterable[tuple[str, str | None]],
    now: datetime,
) -> int:
    """Insert a pending delivery for each (interaction id, order key); return how many were new."""
    at = utc_text(now)
    rows = [(interaction_id, backend, key, at) for interaction_id, key in jobs]
    return conn.executemany(INSERT_DELIVERY, rows).rowcount


def prune_chunk(
    conn: Connection, before: datetime, after: Cursor, size: int
) -> tuple[int, Cursor | None]:
    """Delete the prunable interactions received before `before` among the next `size` in
    arrival order; the scan ends at the first row received `ARRIVAL_SLACK` after `before`.

    Returns how many were deleted and where to go on from (None: nothing left to look at).
    """
    horizon = min(before, _LATEST_SHIFTABLE) + ARRIVAL_SLACK
    params = {
        "before": utc_text(before),
        "horizon": utc_text(horizon),
        "after_rowid": after[1],
        "size": size,
    }
    rows = conn.execute(_ARRIVALS, params).fetchall()
    seen = next((n for n, (_, past, _) in enumerate(rows) if past), None)
    doomed = [(rowid,) for rowid, _, prunable in rows[:seen] if prunable]
    deleted = conn.executemany("DELETE FROM interactions WHERE rowid = ?", doomed).rowcount
    if seen is not None or len(rows) < size:
        return deleted, None
    return deleted, (after[0], rows[-1][0])


def queue_stats(conn: Connection, now: datetime) -> dict[str, QueueStats]:
    """Return the live queue of every backend that has deliveries."""
    stats = {}
    for backend, pending, dead, oldest in conn.execute(_QUEUE_STATS):
        overdue = 0.0 if oldest is None else (now - parse_utc(oldest)).total_seconds()
        stats[backend] = QueueStats(pending, dead, max(0.0, overdue))
    return stats


def get_delivery(conn: Connection, delivery_id: int) -> StoredDelivery | None:
    """Return one delivery, or None."""
    row = conn.execute(f"SELECT {_DELIVERY_COLUMNS} WHERE id = ?", (delivery_id,)).fetchone()
    return None if row is None else _stored_delivery(row)


def deliveries_of(conn: Connection, interaction_id: str) -> list[StoredDelivery]:
    """Return the deliveries of one interaction, oldest first."""
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} WHERE interaction_id = ? ORDER BY id", (interaction_id,)
    )
    return [_stored_delivery(row) for row in rows]


def list_deliveries(
    conn: Connection,
    state: DeliveryState | None,
    backend: str | None,
    limit: int,
    after_id: int | None,
) -> list[StoredDelivery]:
    """Return deliveries by ascending id after `after_id`, optionally of one state and backend."""
    sql = f"SELECT {_DELIVERY_COLUMNS} WHERE id > :after"
    if state is not None:
        sql += " AND state = :state"
    if state not in (None, "delivered"):
        sql += _UNFINISHED  # a range of deliveries_unfinished, not the delivered history
    if backend is not None:
        sql += " AND backend = :backend"
    params = {"after": after_id or 0, "state": state, "backend": backend, "limit": limit}
    return [
        _stored_delivery(row) for row in conn.execute(sql + " ORDER BY id LIMIT :limit", params)
    ]


def delivery_counts(conn: Connection) -> dict[str, dict[DeliveryState, int]]:
    """Return how many deliveries each backend has in each state."""
    counts: dict[str, dict[DeliveryState, int]] = {}
    rows = conn.execute("SELECT backend, state, count(*) FROM deliveries GROUP BY backend, state")
    for backend, state, count in rows:
        counts.setdefault(backend, dict.fromkeys(_STATES, 0))[state] = count
    return counts


def attempts_of(conn: Connection, interaction_id: str) -> list[StoredAttempt]:
    """Return the attempt log of every delivery of one interaction, by delivery then number."""
    rows = conn.execute(
        "SELECT a.delivery_id, a.number, a.started_at, a.finished_at, a.outcome, a.error"
        " FROM deliveries AS d JOIN delivery_attempts AS a ON a.delivery_id = d.id"
        " WHERE d.interaction_id = ? ORDER BY a.delivery_id, a.number",
        (interaction_id,),
    )
    return [
        StoredAttempt(delivery_id, number, parse_utc(started), parse_utc(finished), outcome, error)
        for delivery_id, number, started, finished, outcome, error in rows
    ]


def _stored_delivery(row: Any) -> StoredDelivery:
    row_id, interaction_id, backend, state, attempts, error, next_at = row
    next_attempt_at = None if next_at is None else parse_utc(next_at)
    return StoredDelivery(row_id, interaction_id, backend, state, attempts, error, next_attempt_at)
