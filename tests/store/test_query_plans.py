"""Each read of the interactions and the delivery queue goes by an index or by rowid: the
statements a read really runs (traced) are put through EXPLAIN QUERY PLAN on the migrated
schema. The store never runs ANALYZE, so these plans are the ones it gets, whatever the data."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.store import commit_items, stored_rows
from gateway.store import customer_graph as customers
from gateway.store import delivery_queue as deliveries
from gateway.store.base import DeliveryUpdate
from gateway.store.identity_graph import _HOLDER, _LAST_CONTACT, _RECENT_CONTACTS
from gateway.store.migrate import migrate
from gateway.store.service_reads import service_contacts, unanswered_since
from gateway.store.sql import utc_text

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
STAMP = utc_text(NOW)
LARGE = ("interactions", "deliveries", "delivery_attempts")
"""Tables that grow with traffic: never read whole."""
_SCAN = re.compile(r"^SCAN (\w+)")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(tmp_path / "plans.db", isolation_level=None)) as conn:
        migrate(conn)
        conn.execute(
            "INSERT INTO interactions (id, channel_id, external_id, type, direction, occurred_at,"
            " received_at, customer_id, conversation_id, body)"
            " VALUES ('i1', 'web', 'm1', 'message', 'inbound', ?1, ?1, 'cus_1', 'conv_1', '{}')",
            (STAMP,),
        )
        conn.execute(deliveries.INSERT_DELIVERY, ("i1", "crm", "cus_1", STAMP))
        yield conn


def plans(conn: sqlite3.Connection, read: Callable[[sqlite3.Connection], object]) -> list[str]:
    """Run `read` and return the query plan of every statement it ran, one line per step."""
    ran: list[str] = []
    conn.set_trace_callback(ran.append)
    try:
        read(conn)
    finally:
        conn.set_trace_callback(None)
    statements = [s for s in ran if re.match(r"\s*(SELECT|WITH|INSERT|UPDATE|DELETE)", s, re.I)]
    assert statements, "the read ran no statement"
    return [row[3] for sql in statements for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]


def run(sql: str, params: Any) -> Callable[[sqlite3.Connection], object]:
    return lambda conn: conn.execute(sql, params).fetchall()


UPDATE = DeliveryUpdate(1, "delivered", ())
READS: dict[str, tuple[Callable[[sqlite3.Connection], object], tuple[str, ...]]] = {
    # name: (the read, index names its plan must use)
    "dedupe": (
        run(commit_items._SELECT_FIRST_ID, ("web", "m1")),
        ("interactions_channel_external",),
    ),
    "highest receipt": (
        run(commit_items._HIGHEST_STATUS, ("web", "m1")),
        ("interactions_status",),
    ),
    "get by id": (
        lambda c: stored_rows.get_interaction(c, "i1"),
        ("sqlite_autoindex_interactions_1",),
    ),
    "list after an id": (
        lambda c: stored_rows.list_interactions(c, None, 10, "i1"),
        ("INTEGER PRIMARY KEY", "sqlite_autoindex_interactions_1"),
    ),
    "list a channel after an id": (
        lambda c: stored_rows.list_interactions(c, "web", 10, "i1"),
        ("INTEGER PRIMARY KEY", "sqlite_autoindex_interactions_1"),
    ),
    "timeline": (
        lambda c: customers.timeline(c, "cus_1", 10, "i1"),
        ("interactions_customer",),
    ),
    "holder of an identity": (run(_HOLDER, ("phone", "+15550000001")), ("PRIMARY KEY",)),
    "last contact": (run(_LAST_CONTACT, {"root": "cus_1"}), ("interactions_customer",)),
    "recent contacts": (
        run(_RECENT_CONTACTS, {"root": "cus_1", "since": STAMP}),
        ("interactions_customer",),
    ),
    "service contacts": (
        lambda c: service_contacts(c, NOW - timedelta(days=1)),
        ("interactions_occurred_at", "interactions_conversation"),
    ),
    "unanswered": (
        lambda c: unanswered_since(c, NOW - timedelta(days=1)),
        ("interactions_occurred_at", "interactions_conversation"),
    ),
    "claim": (
        lambda c: deliveries.claim(c, "crm", 10, NOW, timedelta(minutes=1), {}, lambda *_: {}),
        ("deliveries_due",),
    ),
    "record": (
        lambda c: deliveries.record(c, [UPDATE], NOW, lambda *_: None, lambda *_: None),
        ("INTEGER PRIMARY KEY",),
    ),
    "attempt number": (
        run(
            deliveries._INSERT_ATTEMPT,
            {"id": 1, "started": STAMP, "finished": STAMP, "outcome": "retry", "error": None},
        ),
        ("delivery_attempts_delivery_number",),
    ),
    "replay a backend": (
        lambda c: deliveries.replay(c, NOW, None, "crm"),
        ("deliveries_due",),
    ),
    "queue a delivery": (
        run(deliveries.INSERT_DELIVERY, ("i1", "log", "cus_1", STAMP)),
        ("deliveries_queue",),
    ),
    "dead letters": (
        lambda c: deliveries.list_deliveries(c, "dead", None, 10, None),
        ("deliveries_unfinished",),
    ),
    "pending of a backend": (
        lambda c: deliveries.list_deliveries(c, "pending", "crm", 10, 5),
        ("deliveries_unfinished",),
    ),
    "delivered": (
        lambda c: deliveries.list_deliveries(c, "delivered", None, 10, 5),
        ("INTEGER PRIMARY KEY",),
    ),
    "deliveries of": (
        lambda c: deliveries.deliveries_of(c, "i1"),
        ("deliveries_interaction_backend",),
    ),
    "attempts of": (
        lambda c: deliveries.attempts_of(c, "i1"),
        ("deliveries_interaction_backend", "delivery_attempts_delivery_number"),
    ),
    "queue stats": (lambda c: deliveries.queue_stats(c, NOW), ("deliveries_due",)),
    "backfill": (
        lambda c: deliveries.unrouted(c, "log", (STAMP, 0), 10),
        ("INTEGER PRIMARY KEY", "deliveries_interaction_backend"),
    ),
    "prune": (
        lambda c: deliveries.prune_chunk(c, NOW + timedelta(days=1), deliveries.FIRST_ROW, 10),
        ("INTEGER PRIMARY KEY", "deliveries_interaction_backend"),
    ),
}


PAGES = {
    "list after an id",
    "list a channel after an id",
    "dead letters",
    "pending of a backend",
    "delivered",
    "backfill",
    "prune",
}
"""Reads of one page of a long history: what they read follows the page, so nothing is sorted."""


@pytest.mark.parametrize("name", list(READS))
def test_a_read_scans_no_whole_table(conn: sqlite3.Connection, name: str) -> None:
    read, indexes = READS[name]

    steps = plans(conn, read)

    scans = [s for s in steps if (m := _SCAN.match(s)) and m[1] in LARGE]
    assert scans == [], steps
    if name in PAGES:
        assert not any("TEMP B-TREE" in step for step in steps), steps
    for index in indexes:
        assert any(index in step for step in steps), (index, steps)


def test_counting_by_state_reads_one_index_not_the_rows(conn: sqlite3.Connection) -> None:
    """The one whole read by design: every delivery counted, from the covering index."""
    assert plans(conn, deliveries.delivery_counts) == [
        "SCAN deliveries USING COVERING INDEX deliveries_due"
    ]


WRITES: dict[str, tuple[str, Any]] = {
    "store an interaction": (commit_items._INSERT_INTERACTION, ("i2", "web", "m2", *"abcdefghi")),
    "queue a delivery": (deliveries.INSERT_DELIVERY, ("i1", "log", "cus_1", STAMP)),
    "lease": (deliveries._LEASE, (STAMP, STAMP, 1)),
    "record": (deliveries._RECORD, ("delivered", 1, None, None, STAMP, STAMP, 1)),
    "attempt": (
        deliveries._INSERT_ATTEMPT,
        {"id": 1, "started": STAMP, "finished": STAMP, "outcome": "retry", "error": None},
    ),
}


@pytest.mark.parametrize("name", WRITES)
def test_a_write_of_the_hot_path_builds_no_temporary_table(
    conn: sqlite3.Connection, name: str
) -> None:
    """A CHECK like `state IN ('a', 'b', 'c')` would build one for every row written."""
    sql, params = WRITES[name]
    program = conn.execute("EXPLAIN " + sql, params).fetchall()
    # EXPLAIN lists the triggers' programs after the statement's, each from address 0 again.
    statement = program[: next((n for n, op in enumerate(program) if n and op[0] == 0), None)]

    assert [op for op in statement if op[1] in ("OpenEphemeral", "SorterOpen")] == []
