"""Fill a gateway SQLite store with N delivered interactions, fast, for the scaling benchmark.

The store must look like one the gateway wrote after a long healthy life: the schema comes from
the gateway's own migrations (by opening it with `SqliteStore`); every interaction is the JSON the
gateway stores for a bench request (each customer's is built once by the real `generic` channel
from a `bench/workload.py` body, then only ids and times change); each has one delivery to the
bench backend, already `delivered` with its one attempt logged, so nothing is sent again. Arrival
times are spread over the week before now, well inside the default 30-day retention, so the
gateway's start-up pruning has nothing to delete. Identity resolution is in place as the gateway
would have left it: one customer per bench sender with its phone, our number as a business
identity, and each interaction in its customer's conversation with the matching `context`.

Rows go in with plain SQL (executemany, big transactions, `synchronous=OFF`) because the real
commit and delivery path costs ~250 s per million rows on the benchmark machine. The inserts
name the columns the schema had when this was written (migration 0004); if a later migration
adds a NOT NULL column without a default, this script stops and says so rather than writing a
store the gateway would not have written.

    python bench/preload.py PATH.db --count 1000000 [--backend receiver] [--channel generic]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from ulid import ULID
from workload import SENDERS, Workload

from gateway.builtins.generic import GenericChannel, GenericSettings
from gateway.channel import ChannelContext
from gateway.request import WebhookRequest
from gateway.store.identity_graph import new_customer_id
from gateway.store.sqlite import SqliteStore

__all__ = ["preload"]

SPREAD = timedelta(days=7)
"""Preloaded arrivals are spread evenly over this span, ending at the start of the preload."""
_CHUNK = 50_000

_COLUMNS = {
    "interactions": (
        "id", "channel_id", "external_id", "type", "direction", "occurred_at", "received_at",
        "customer_id", "conversation_id", "body",
    ),
    "deliveries": (
        "id", "interaction_id", "backend", "state", "attempts", "next_attempt_at", "lease_until",
        "last_error", "created_at", "updated_at", "order_key", "delivered_at", "waiting",
    ),
    "delivery_attempts": (
        "delivery_id", "number", "started_at", "finished_at", "outcome", "error",
    ),
}  # fmt: skip
_GRAPH_COLUMNS = {
    "customers": ("id", "display_name", "created_at"),
    "identities": ("kind", "value", "customer_id", "source", "created_at"),
    "business_identities": ("kind", "value", "first_seen"),
}  # fmt: skip
_EMPTY_WHEN_HEALTHY = {
    "crosswalk",  # the bench receiver reports no record refs
    "customer_merges", "merge_proposals", "erasures", "erasure_receipts", "stream_cursors",
    "store_probe",  # written only by the readiness probe after a failed write
}  # fmt: skip
_KNOWN_TABLES = {
    *_COLUMNS,
    *_GRAPH_COLUMNS,
    *_EMPTY_WHEN_HEALTHY,
    "sqlite_sequence",
    "sqlite_stat1",
}


def _insert(table: str) -> str:
    columns = {**_COLUMNS, **_GRAPH_COLUMNS}[table]
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def utc_text(moment: datetime) -> str:
    """Return the store's timestamp text: ISO-8601 UTC, microseconds, 'Z' (sortable)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _templates(channel_id: str, kind: str) -> list[dict[str, Any]]:
    """Return, per customer, the stored JSON of a bench interaction (before resolution)."""
    key = b"preload-key-not-verified"
    channel = GenericChannel(
        ChannelContext(channel_id),
        GenericSettings.model_validate(
            {"type": "generic", "secret": "whsec_" + base64.b64encode(key).decode(), "kind": kind}
        ),
    )
    workload = Workload(key, run_id="preload")
    now = datetime.now(UTC)
    templates = []
    for customer in range(SENDERS):
        req = WebhookRequest(
            method="POST",
            url=f"http://127.0.0.1/webhooks/{channel_id}",
            headers=CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"})),
            query=MultiDictProxy(MultiDict()),
            body=workload.body(customer, b"2026-01-01T00:00:00Z"),
            received_at=now,
        )
        [interaction] = channel.parse(req)
        templates.append(interaction.model_dump(mode="json"))
    return templates


def _graph(
    conn: sqlite3.Connection, templates: list[dict[str, Any]], since: datetime
) -> list[tuple[str, str]]:
    """Insert one customer per template's sender and our number; return (customer, conversation)
    ids per template. Customers already present (a second preload) are found again."""
    stamp = utc_text(since)
    ids = []
    customers, identities = [], []
    for template in templates:
        sender = template["sender"]
        [phone] = sender["identities"]
        found = conn.execute(
            "SELECT customer_id FROM identities WHERE kind = ? AND value = ?",
            (phone["kind"], phone["value"]),
        ).fetchone()
        customer = found[0] if found else new_customer_id()
        if not found:
            customers.append((customer, sender["display_name"], stamp))
            identities.append((phone["kind"], phone["value"], customer, "interaction", stamp))
        ids.append((customer, f"conv_{ULID.from_datetime(since)}"))
    conn.executemany(_insert("customers"), customers)
    conn.executemany(_insert("identities"), identities)
    ours = templates[0]["recipient"]["identities"]
    conn.executemany(
        "INSERT OR IGNORE INTO business_identities (kind, value, first_seen) VALUES (?, ?, ?)",
        [(identity["kind"], identity["value"], stamp) for identity in ours],
    )
    return ids


def _check_schema(conn: sqlite3.Connection) -> None:
    """Stop if the gateway's schema has moved on in a way these inserts would get wrong."""
    problems = []
    for table, columns in _COLUMNS.items():
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        if not info:
            problems.append(f"table {table} is missing")
        for _, name, _, notnull, default, pk in info:
            if notnull and default is None and not pk and name not in columns:
                problems.append(f"{table}.{name} is NOT NULL without a default")
    if problems:
        raise SystemExit(
            "the gateway's schema has changed since bench/preload.py was written: "
            + "; ".join(problems)
            + ". Update _COLUMNS and the rows in bench/preload.py."
        )
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if extra := sorted(tables - _KNOWN_TABLES):
        print(
            f"preload: warning: tables {', '.join(extra)} are left empty (new in the gateway's"
            " schema since bench/preload.py was written); the store is not fully realistic",
            file=sys.stderr,
        )


def _rows(
    count: int,
    first: int,
    templates: list[dict[str, Any]],
    owners: list[tuple[str, str]],
    start: datetime,
    backend: str,
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]]:
    """Rows of interactions, deliveries and attempts. Each customer writes every few minutes
    (1,000 senders, a week), so each has one conversation, growing by one per contact."""
    step = SPREAD / max(count, 1)
    channel_id = templates[0]["channel"]["id"]
    kind = templates[0]["channel"]["kind"]
    for n in range(count):
        template = templates[n % len(templates)]
        customer, conversation = owners[n % len(templates)]
        size = n // len(templates) + 1
        moment = start + step * n
        stamp = utc_text(moment)
        done = utc_text(moment + timedelta(milliseconds=20))
        interaction_id = str(ULID.from_datetime(moment))
        external_id = f"preload-{n:09d}"
        document = {
            **template,
            "id": interaction_id,
            "external_id": external_id,
            "occurred_at": stamp,
            "received_at": stamp,
            "customer_id": customer,
            "conversation_id": conversation,
            "context": {
                "conversation_channels": [kind],
                "conversation_size": size,
                "repeat_contact": False,
                "previous_channel": kind if size > 1 else None,
            },
        }
        delivery_id = first + n
        yield (
            (
                interaction_id, channel_id, external_id, template["type"], template["direction"],
                stamp, stamp, customer, conversation, orjson.dumps(document).decode(),
            ),
            (
                delivery_id, interaction_id, backend, "delivered", 1, None, None, None, stamp,
                done, customer, done, 0,
            ),
            (delivery_id, 1, stamp, done, "delivered", None),
        )  # fmt: skip


def preload(
    path: str,
    count: int,
    *,
    backend: str = "receiver",
    channel: str = "generic",
    kind: str = "sms",
) -> None:
    """Create (or extend) the store at `path` with `count` delivered interactions."""

    async def create() -> None:
        store = SqliteStore(path, synchronous="off")
        await store.open()  # runs the gateway's migrations
        await store.close()

    asyncio.run(create())
    templates = _templates(channel, kind)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA foreign_keys = OFF")  # rows are consistent by construction
        _check_schema(conn)
        first = (conn.execute("SELECT max(id) FROM deliveries").fetchone()[0] or 0) + 1
        start = datetime.now(UTC) - SPREAD
        conn.execute("BEGIN IMMEDIATE")
        owners = _graph(conn, templates, start)
        conn.execute("COMMIT")
        sql = [_insert(table) for table in _COLUMNS]
        rows = _rows(count, first, templates, owners, start, backend)
        while chunk := [row for _, row in zip(range(_CHUNK), rows, strict=False)]:
            conn.execute("BEGIN IMMEDIATE")
            for statement, values in zip(sql, zip(*chunk, strict=True), strict=True):
                conn.executemany(statement, values)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def main() -> None:
    """Parse the command line and preload."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="the SQLite file (created if missing)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--backend", default="receiver", help="backend name of the deliveries")
    parser.add_argument("--channel", default="generic", help="channel id of the interactions")
    parser.add_argument("--kind", default="sms", help="channel kind of the interactions")
    args = parser.parse_args()
    started = time.perf_counter()
    preload(args.path, args.count, backend=args.backend, channel=args.channel, kind=args.kind)
    print(f"preloaded {args.count} interactions in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
