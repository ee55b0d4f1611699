"""Ingest commits, written once for both stores: dedupe, receipts, identity resolution and
threading, the interaction row and its delivery jobs, in the engine's transaction.

`commit` runs on the engine's writer, for a group of concurrent requests: first the whole batch
in one transaction without savepoints; if that fails on a row (a constraint, another instance's
concurrent insert of the same key, a customer merged meanwhile), again with a savepoint per
request, so only the culprit fails and the others see what the first attempt collided with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

from gateway.schema import MAX_METADATA, STATUS_RANK, Interaction
from gateway.service_events import ANSWERING_RECEIPTS, SENT_ELSEWHERE
from gateway.store import outbound_state as messages
from gateway.store.base import CommitItem, CommitResult
from gateway.store.delivery_queue import INSERT_DELIVERY
from gateway.store.identity_graph import IdentityResolver
from gateway.store.sql import Connection, Cursor, Dialect, first_line, transaction, utc_text

__all__ = ["Outcome", "commit"]

Outcome = list[CommitResult] | Exception
"""One request's results, or why it failed."""

_log = logging.getLogger("gateway.store")

_INSERT_INTERACTION = (
    "INSERT INTO interactions (id, channel_id, external_id, type, direction, occurred_at,"
    " received_at, customer_id, conversation_id, status_of, status_rank, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_HIGHEST_STATUS = "SELECT max(status_rank) FROM interactions WHERE channel_id = ? AND status_of = ?"
_SELECT_FIRST_ID = "SELECT id FROM interactions WHERE channel_id = ? AND external_id = ?"
_SELECT_FIRST_IDS = (
    "SELECT external_id, id FROM interactions WHERE channel_id = ? AND external_id IN "
)
_KEYS_PER_LOOKUP = 500
RECENT_MAX = 2048
"""Interactions kept in memory after their commit for their first delivery (a few MiB)."""


def commit(
    conn: Connection,
    requests: list[Sequence[CommitItem]],
    resolver: IdentityResolver,
    recent: dict[str, Interaction],
    dialect: Dialect,
    is_storage_error: Callable[[BaseException], bool],
) -> list[Outcome]:
    """Store every request's items; return each request's results or its failure.

    Raises if the transaction itself failed on the database (`is_storage_error`).
    """
    cursor = conn.cursor()
    now = utc_text(datetime.now(UTC))

    def whole(_: Connection) -> list[Outcome]:
        _begin(cursor, resolver, dialect, requests)
        write = partial(_write_item, cursor, resolver, now, _first_ids(cursor, requests))
        return [[write(item) for item in items] for items in requests]

    def one_by_one(_: Connection) -> list[Outcome]:
        resolver.forget()
        results = [_write_request(cursor, resolver, dialect, now, items) for items in requests]
        if any(isinstance(result, Exception) for result in results):
            resolver.forget()  # what the failed requests cached was rolled back
        return results

    outcomes: list[Outcome]
    try:
        # Nearly every batch commits whole: no per-request savepoints on the fast path.
        outcomes = transaction(conn, whole)
    except Exception as exc:
        resolver.forget()
        if is_storage_error(exc):
            raise  # the database, not a request: retrying one by one would wait for it again
        _log.info(
            "store: a batch of %d commits failed (%s); retrying one by one",
            len(requests),
            first_line(exc),
        )
        # Again, with a savepoint per request, so only the culprit fails.
        try:
            outcomes = transaction(conn, one_by_one)
        except Exception:
            resolver.forget()
            raise
    _remember(recent, requests, outcomes)
    return outcomes


def _remember(
    recent: dict[str, Interaction],
    requests: list[Sequence[CommitItem]],
    outcomes: list[Outcome],
) -> None:
    """Keep what was just committed, so its deliveries are claimed without parsing it again."""
    for items, outcome in zip(requests, outcomes, strict=True):
        if not isinstance(outcome, Exception):
            for item, result in zip(items, outcome, strict=True):
                if result.interaction is not None and item.backends:
                    recent[result.interaction_id] = result.interaction
    while len(recent) > RECENT_MAX:
        del recent[next(iter(recent))]  # dicts keep insertion order: this is the oldest


def _begin(
    cursor: Cursor,
    resolver: IdentityResolver,
    dialect: Dialect,
    requests: list[Sequence[CommitItem]],
) -> None:
    """Start a commit transaction: drop stale caches, lock what the requests will write under."""
    if dialect.fresh_snapshot(cursor):
        resolver.forget()
    if not dialect.concurrent_writers:
        return
    resolver.load(cursor)  # another instance may have learned our own numbers
    identities = {key for items in requests for item in items for key in resolver.keys_of(item)}
    order_keys = {item.order_key for items in requests for item in items if item.order_key}
    dialect.lock_batch(cursor, sorted(identities), sorted(order_keys))


def _write_request(
    cursor: Cursor,
    resolver: IdentityResolver,
    dialect: Dialect,
    now: str,
    items: Sequence[CommitItem],
) -> Outcome:
    cursor.execute("SAVEPOINT request")
    try:
        # Each request's keys looked up as it comes: a request rolled back takes its ids along.
        _begin(cursor, resolver, dialect, [items])
        write = partial(_write_item, cursor, resolver, now, _first_ids(cursor, [items]))
        results = [write(item) for item in items]
    except Exception as exc:
        _log.warning("store: one commit of a batch was rolled back: %s", first_line(exc))
        resolver.forget()  # what it cached was rolled back with it
        # Raises, failing the whole batch, if SQLite already rolled the transaction back.
        cursor.execute("ROLLBACK TO request")
        cursor.execute("RELEASE request")
        return exc
    cursor.execute("RELEASE request")
    return results


def _first_ids(cursor: Cursor, requests: list[Sequence[CommitItem]]) -> dict[tuple[str, str], str]:
    """Return the stored id of each (channel id, external id) of `requests` already stored:
    one look-up per channel and `_KEYS_PER_LOOKUP` keys, not one per item."""
    wanted: dict[str, list[str]] = {}
    for items in requests:
        for item in items:
            wanted.setdefault(item.interaction.channel.id, []).append(item.interaction.external_id)
    firsts: dict[tuple[str, str], str] = {}
    for channel_id, keys in wanted.items():
        for start in range(0, len(keys), _KEYS_PER_LOOKUP):
            chunk = keys[start : start + _KEYS_PER_LOOKUP]
            sql = _SELECT_FIRST_IDS + f"({', '.join('?' * len(chunk))})"
            for external_id, first in cursor.execute(sql, (channel_id, *chunk)):
                firsts[channel_id, external_id] = first
    return firsts


def _write_item(
    cursor: Cursor,
    resolver: IdentityResolver,
    now: str,
    firsts: dict[tuple[str, str], str],
    item: CommitItem,
) -> CommitResult:
    """Store one item; `firsts` holds the ids of its batch's keys stored so far (`_first_ids`)."""
    key = (item.interaction.channel.id, item.interaction.external_id)
    if (first := firsts.get(key)) is not None:
        return CommitResult(first, duplicate=True)
    if item.send and (sent := messages.sent_before(cursor, item.send.idempotency_key)):
        return CommitResult(sent, duplicate=True)  # the same key, another channel chosen since
    if _may_echo(item) and (sent := messages.sent_as(cursor, *key)):
        return CommitResult(sent, duplicate=True)  # the provider's echo of the gateway's send
    occurred = utc_text(item.interaction.occurred_at)
    interaction, highest = item.interaction, None
    if (receipt := interaction.status) is not None:
        highest = cursor.execute(_HIGHEST_STATUS, (key[0], receipt.of_external_id)).fetchone()[0]
        if highest is None and _sent_elsewhere(cursor, interaction):
            metadata = {**interaction.metadata, SENT_ELSEWHERE: "true"}
            interaction = interaction.model_copy(update={"metadata": metadata})
    i, service = resolver.resolve(cursor, interaction, now)
    received = utc_text(i.received_at)
    row = (i.id, *key, i.type, i.direction, occurred, received, i.customer_id, i.conversation_id)
    status_of = rank = None
    backends = item.backends
    if i.status is not None:
        status_of, rank = i.status.of_external_id, STATUS_RANK[i.status.state]
        if highest is not None and highest >= rank:
            backends = ()  # a late receipt: kept, but no backend goes back in time
        messages.advance(cursor, key[0], status_of, i.status.state, i.status.error, now)
    cursor.execute(_INSERT_INTERACTION, (*row, status_of, rank, i.model_dump_json()))
    firsts[key] = i.id
    if item.send is not None:
        messages.queue_send(cursor, i, item.send, backends, now)
    elif backends:
        order_key = i.customer_id or item.order_key
        jobs = [(i.id, backend, order_key, now) for backend in backends]
        cursor.executemany(INSERT_DELIVERY, jobs)
    return CommitResult(i.id, duplicate=False, interaction=i, service=service)


def _may_echo(item: CommitItem) -> bool:
    """Whether `item` may be a provider's echo of a message the gateway sent (an Instagram
    `is_echo` names the message by the id the Send API answered with)."""
    interaction = item.interaction
    return (
        item.send is None and interaction.direction == "outbound" and interaction.type == "message"
    )


def _sent_elsewhere(cursor: Cursor, receipt: Interaction) -> bool:
    """Whether the first receipt of a message says it reached the customer though the gateway
    neither sent it nor stored it as an interaction (`service_events.SENT_ELSEWHERE`)."""
    assert receipt.status is not None
    channel, message = receipt.channel.id, receipt.status.of_external_id
    return (
        receipt.direction == "outbound"
        and receipt.status.state in ANSWERING_RECEIPTS
        and len(receipt.metadata) < MAX_METADATA
        and cursor.execute(_SELECT_FIRST_ID, (channel, message)).fetchone() is None
        and not messages.sent_here(cursor, channel, message)
    )
