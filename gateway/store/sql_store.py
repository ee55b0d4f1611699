"""The `Store` on a SQL engine, written once: group commit and every query of the protocol.

`SqlStore` holds what both engines share: the queue of ingest requests that one writer task
drains in batches (group commit), and each `Store` method as a function of the shared logic
(`commit_items`, `identity_graph`, `customer_graph`, `delivery_queue`, `outbound_state`,
`service_reads`, `stored_rows`) run on a connection. An engine (`SqliteStore`, `PostgresStore`)
supplies the connections and their threads: `_read` runs a query on its reader, `_write` runs
work in one transaction on its writer, `_run_batch` runs a group commit there, `_scrub` follows
an erasure, `_is_storage_error` tells the database failing from a row failing, and its
`Dialect` the locks that concurrent writers need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from gateway.errors import StoreUnavailableError
from gateway.identity import IdentityObserver, IdentityPolicy, IdentityRules
from gateway.schema import Identity, Interaction
from gateway.service_events import Contact
from gateway.store import customer_graph as customers
from gateway.store import delivery_queue as deliveries
from gateway.store import outbound_state as messages
from gateway.store import stored_rows
from gateway.store.base import (
    BatchObserver,
    ClaimedDelivery,
    CommitItem,
    CommitResult,
    CustomerRecord,
    DeliveryState,
    DeliveryUpdate,
    ErasureReceipt,
    ErasureRecord,
    LinkResult,
    MergeProposal,
    MergeRecord,
    MessageState,
    OutboundMessage,
    ProposalState,
    QueueStats,
    StoredAttempt,
    StoredDelivery,
    Stream,
    TimelineEntry,
)
from gateway.store.commit_items import Outcome
from gateway.store.identity_graph import IdentityResolver
from gateway.store.service_reads import service_contacts, unanswered_since
from gateway.store.sql import Connection, Dialect, Params, utc_text
from gateway.store.stored_rows import StoredInteraction, UnreadableInteraction

__all__ = ["BOOKKEEPING_BUSY_S", "CHUNK", "COMMIT_BUSY_S", "SqlStore"]

_T = TypeVar("_T")
_Request = tuple[Sequence[CommitItem], asyncio.Future[list[CommitResult]], float]
"""Items, the caller's future, and the loop time until which it may wait for a lock."""

_log = logging.getLogger("gateway.store")

COMMIT_BUSY_S = 1.5
"""How long an ingest request (from its arrival) or an operator's write waits for a lock."""
MIN_BUSY_S = 0.05
BOOKKEEPING_BUSY_S = 0.1
"""How long delivery bookkeeping waits for a lock before giving up (the worker backs off)."""
CHUNK = 500
"""Rows per backfill or prune transaction: bounded memory, short write locks."""
_COMMIT_FAILED = "the store could not commit; nothing of this request was stored"
_KEYS_OF_IDS = "SELECT order_key FROM deliveries WHERE order_key IS NOT NULL AND id IN "
_KEYS_OF_EXPIRED = (
    "SELECT order_key FROM deliveries WHERE backend = ? AND state = 'in_flight'"
    " AND lease_until <= ? AND order_key IS NOT NULL"
)
_KEYS_OF_DEAD = "SELECT order_key FROM deliveries WHERE state = 'dead' AND order_key IS NOT NULL"


class SqlStore:
    """The `Store` protocol on a SQL engine; subclasses supply the engine."""

    _claimable: str = deliveries.CLAIMABLE
    """The SQL that selects claimable deliveries (`delivery_queue.claim`)."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        max_batch: int = 512,
        observe_batch: BatchObserver | None = None,
        identity: IdentityPolicy | None = None,
        observe_identity: IdentityObserver | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._dialect = dialect
        self._max_batch = max_batch
        self._observe_batch = observe_batch
        policy = identity or IdentityPolicy(IdentityRules(), timedelta(hours=24))
        self._resolver = IdentityResolver(policy, dialect, observe_identity)
        # Written and read on the writer thread only (commit and claim both run there).
        self._recent: dict[str, Interaction] = {}
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self._closed = False

    # What an engine supplies.

    async def open(self) -> None:
        """Create or migrate the schema and start accepting commits."""
        if self._closed:
            raise StoreUnavailableError("the store was closed; create a new one")
        if self._writer_task is not None:
            return
        await self._connect()
        self._writer_task = asyncio.create_task(self._write_loop(), name="group-commit")

    async def _connect(self) -> None:
        """Open the engine's connections and bring the schema to this version; raise
        `StoreUnavailableError` (having released what did open) if that fails."""
        raise NotImplementedError

    async def close(self) -> None:
        """Finish the commits already accepted, then release every resource."""
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless a write could commit right now."""
        raise NotImplementedError

    async def recover(self) -> int:
        """Claim the store for the serving gateway; return how many leases were released."""
        raise NotImplementedError

    async def _read(self, query: Callable[[Connection], _T]) -> _T:
        """Run `query` on the reader connection."""
        raise NotImplementedError

    async def _write(self, work: Callable[[Connection], _T], *, busy: float = COMMIT_BUSY_S) -> _T:
        """Run `work` in its own transaction on the writer, between commit batches, waiting at
        most `busy` seconds for another writer's lock."""
        raise NotImplementedError

    async def _run_batch(self, requests: list[Sequence[CommitItem]], busy: float) -> list[Outcome]:
        """Run `commit_items.commit` for `requests` on the writer."""
        raise NotImplementedError

    def _is_storage_error(self, exc: BaseException) -> bool:
        """Whether `exc` failed the whole transaction (the database), not one request's rows."""
        raise NotImplementedError

    async def _scrub(self, erasure: ErasureRecord) -> ErasureRecord:
        """Remove what an erasure deleted from the engine's files; return it, stamped if done."""
        return erasure

    # Group commit.

    async def commit(self, items: Sequence[CommitItem]) -> list[CommitResult]:
        """Store `items` atomically with their delivery rows; raise `StoreUnavailableError`."""
        if self._writer_task is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        if not items:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[CommitResult]] = loop.create_future()
        self._queue.put_nowait((items, future, loop.time() + COMMIT_BUSY_S))
        return await future

    async def _stop_writer(self) -> None:
        """Finish the commits already queued, then stop the writer task."""
        if self._writer_task is not None:
            self._queue.put_nowait(None)
            await self._writer_task

    async def _write_loop(self) -> None:
        queue = self._queue
        while (request := await queue.get()) is not None:
            batch = [request]
            while len(batch) < self._max_batch and not queue.empty():
                queued = queue.get_nowait()
                if queued is None:
                    queue.put_nowait(None)  # close() was called: stop after this batch
                    break
                batch.append(queued)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        requests = [items for items, _, _ in batch]
        # Wait for a lock only as long as the earliest request still may: ~1.5 s from arrival.
        busy = max(MIN_BUSY_S, min(deadline for _, _, deadline in batch) - loop.time())
        outcomes: list[Outcome]
        try:
            outcomes = await self._run_batch(requests, busy)
        except StoreUnavailableError as exc:  # the store refuses writes: logged once, loudly
            outcomes = [exc] * len(batch)
        except Exception as exc:
            if self._is_storage_error(exc):
                _log.warning("store: a batch of %d commits failed: %s", len(batch), exc)
            else:
                _log.error("store: a batch of %d commits failed", len(batch), exc_info=exc)
            outcomes = [exc] * len(batch)
        for (_, future, _), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(outcome, StoreUnavailableError):
                future.set_exception(outcome)
            elif isinstance(outcome, Exception):
                error = StoreUnavailableError(_COMMIT_FAILED)
                error.__cause__ = outcome
                future.set_exception(error)
            else:
                future.set_result(outcome)
        if self._observe_batch is not None:
            try:
                self._observe_batch(len(batch))
            except Exception:
                _log.exception("store: the batch observer failed")

    async def _change_graph(self, work: Callable[[Connection], _T]) -> _T:
        """Run `work`, which changes the identity graph, then drop what the resolver cached.

        Erasure also drops the interactions kept for their first delivery.
        """

        def run(conn: Connection) -> _T:
            try:
                self._dialect.lock_graph(conn.cursor())
                return work(conn)
            finally:
                self._resolver.forget()
                self._recent.clear()

        return await self._write(run)

    def _lock_keys(self, conn: Connection, sql: str, params: Params) -> None:
        """Lock the order keys `sql` selects (with a concurrent writer only): deliveries of
        theirs are about to be queued or to change state."""
        if self._dialect.concurrent_writers:
            keys = sorted({row[0] for row in conn.execute(sql, params)})
            if keys:
                self._dialect.lock_keys(conn.cursor(), keys)

    def _lock_keys_of(self, conn: Connection, delivery_ids: Sequence[int]) -> None:
        if delivery_ids and self._dialect.concurrent_writers:
            sql = f"{_KEYS_OF_IDS}({', '.join('?' * len(delivery_ids))})"
            self._lock_keys(conn, sql, list(delivery_ids))

    def _queue_jobs(
        self,
        backend: str,
        jobs: Sequence[tuple[str, str | None]],
        now: datetime,
        conn: Connection,
    ) -> int:
        if self._dialect.concurrent_writers:
            self._dialect.lock_keys(conn.cursor(), sorted({key for _, key in jobs if key}))
        return deliveries.queue_deliveries(conn, backend, jobs, now)

    # The protocol's queries.

    async def get_interaction(self, interaction_id: str) -> StoredInteraction | None:
        """Return a stored interaction (`UnreadableInteraction` if it no longer validates), or
        None."""
        return await self._read(partial(stored_rows.get_interaction, interaction_id=interaction_id))

    async def list_interactions(
        self, *, channel_id: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[StoredInteraction]:
        """Return stored interactions in arrival order, after the one with id `after`."""
        query = partial(
            stored_rows.list_interactions, channel_id=channel_id, limit=limit, after=after
        )
        return await self._read(query)

    async def service_contacts(self, since: datetime) -> list[tuple[str, Contact]]:
        """Return (conversation id, contact) of each conversation active since `since`."""
        return await self._read(partial(service_contacts, since=since))

    async def unanswered_since(self, since: datetime) -> int:
        """Return how many conversations active since `since` wait for an answer."""
        return await self._read(partial(unanswered_since, since=since))

    async def deliveries_of(self, interaction_id: str) -> list[StoredDelivery]:
        """Return the delivery jobs of one interaction, oldest first."""
        return await self._read(partial(deliveries.deliveries_of, interaction_id=interaction_id))

    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        """Return how many deliveries each backend has in each state."""
        return await self._read(deliveries.delivery_counts)

    async def claim(
        self, backend: str, limit: int, *, now: datetime, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries of `backend`, oldest due first; park the sends
        of `backend` whose lease expired (their outcome is unknown)."""
        claim = partial(
            deliveries.claim,
            backend=backend,
            limit=limit,
            now=now,
            lease=lease,
            recent=self._recent,
            current=customers.current_customers,
            claimable=self._claimable,
        )

        def park_then_claim(conn: Connection) -> list[ClaimedDelivery]:
            if self._dialect.concurrent_writers:
                self._lock_keys(conn, _KEYS_OF_EXPIRED, (backend, utc_text(now)))
            messages.park_unknown(conn, backend, now)
            return claim(conn)

        return await self._write(park_then_claim, busy=BOOKKEEPING_BUSY_S)

    async def record(self, updates: Sequence[DeliveryUpdate]) -> None:
        """Record the outcome of claimed deliveries and their attempts, in one transaction."""
        record = partial(
            deliveries.record,
            updates=updates,
            now=datetime.now(UTC),
            keep_refs=customers.record_crosswalk,
            follow=messages.after_record,
        )

        def locked_record(conn: Connection) -> None:
            self._lock_keys_of(conn, [update.delivery_id for update in updates])
            record(conn)

        work = locked_record if self._dialect.concurrent_writers else record
        await self._write(work, busy=BOOKKEEPING_BUSY_S)

    async def release(self, delivery_ids: Sequence[int]) -> None:
        """Return leased deliveries to `pending` untouched (a graceful shutdown)."""
        release = partial(deliveries.release, delivery_ids=delivery_ids, now=datetime.now(UTC))
        await self._write(release, busy=BOOKKEEPING_BUSY_S)

    async def get_delivery(self, delivery_id: int) -> StoredDelivery | None:
        """Return one delivery, or None."""
        return await self._read(partial(deliveries.get_delivery, delivery_id=delivery_id))

    async def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        backend: str | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[StoredDelivery]:
        """Return deliveries by ascending id, after `after_id` (the cursor)."""
        query = partial(
            deliveries.list_deliveries, state=state, backend=backend, limit=limit, after_id=after_id
        )
        return await self._read(query)

    async def attempts_of(self, interaction_id: str) -> list[StoredAttempt]:
        """Return the attempt log of every delivery of one interaction."""
        return await self._read(partial(deliveries.attempts_of, interaction_id=interaction_id))

    async def replay(
        self,
        *,
        now: datetime,
        delivery_ids: Sequence[int] | None = None,
        backend: str | None = None,
    ) -> int:
        """Make dead deliveries (these ids, a backend's, or all) pending with a fresh budget."""
        replay = partial(deliveries.replay, now=now, delivery_ids=delivery_ids, backend=backend)

        def locked_replay(conn: Connection) -> int:
            if delivery_ids is not None:
                self._lock_keys_of(conn, delivery_ids)
            elif backend is not None:
                self._lock_keys(conn, _KEYS_OF_DEAD + " AND backend = ?", (backend,))
            else:
                self._lock_keys(conn, _KEYS_OF_DEAD, ())
            return replay(conn)

        return await self._write(locked_replay)

    async def backfill(
        self,
        backend: str,
        *,
        since: datetime,
        now: datetime,
        plan: Callable[[Interaction], tuple[bool, str | None]],
        unreadable: Callable[[UnreadableInteraction], None] | None = None,
    ) -> int:
        """Queue stored interactions received since `since` for `backend`; return how many.

        Rows that no longer validate are skipped, each passed to `unreadable`.

        Chunks are read on the reader thread and planned on the event loop, where routing lives;
        each chunk's inserts are one transaction, and a commit that queued one meanwhile wins.
        """
        queued, after = 0, (utc_text(since), 0)
        while True:
            read = partial(deliveries.unrouted, backend=backend, after=after, size=CHUNK)
            interactions, after = await self._read(read)
            jobs = []
            for interaction in interactions:
                if isinstance(interaction, UnreadableInteraction):
                    if unreadable is not None:
                        unreadable(interaction)
                    continue
                send, key = plan(interaction)
                if send:
                    jobs.append((interaction.id, key))
            if jobs:
                queued += await self._write(partial(self._queue_jobs, backend, jobs, now))
            if len(interactions) < CHUNK:
                return queued

    async def queue_stats(self, now: datetime) -> dict[str, QueueStats]:
        """Return the queue of every backend that has deliveries."""
        return await self._read(partial(deliveries.queue_stats, now=now))

    async def prune(self, before: datetime) -> int:
        """Delete interactions received before `before` whose deliveries are all delivered."""
        pruned = 0
        after: deliveries.Cursor | None = deliveries.FIRST_ROW
        while after is not None:
            work = partial(deliveries.prune_chunk, before=before, after=after, size=CHUNK)
            deleted, after = await self._write(work, busy=BOOKKEEPING_BUSY_S)
            pruned += deleted
        return pruned

    async def find_customer(self, identity: Identity) -> CustomerRecord | None:
        """Return the live customer (a merge tree's root) holding `identity`, or None."""
        return await self._read(partial(customers.find_customer, identity=identity))

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        """Return a customer by id, merged ones included, or None."""
        return await self._read(partial(customers.get_customer, customer_id=customer_id))

    async def reply_identities(self, customer_id: str) -> list[Identity] | None:
        """Return the identities a reply to a customer may go to (verified or operator-linked)."""
        return await self._read(partial(customers.reply_identities, customer_id=customer_id))

    async def timeline(
        self, customer_id: str, *, limit: int = 100, after: str | None = None
    ) -> list[TimelineEntry]:
        """Return the interactions of a customer's whole merge tree by occurrence time."""
        query = partial(customers.timeline, customer_id=customer_id, limit=limit, after=after)
        return await self._read(query)

    async def link_identity(
        self, customer_id: str, identity: Identity, *, now: datetime
    ) -> LinkResult | None:
        """Attach `identity` to a customer by operator decision; merge its holder in."""
        work = partial(
            customers.link_identity,
            customer_id=customer_id,
            key=(identity.kind, identity.value),
            policy=self._resolver.policy,
            now=now,
        )
        return await self._change_graph(work)

    async def list_proposals(
        self,
        *,
        state: ProposalState | None = "pending",
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[MergeProposal]:
        """Return merge proposals by ascending id."""
        query = partial(customers.list_proposals, state=state, limit=limit, after_id=after_id)
        return await self._read(query)

    async def decide_proposal(
        self, proposal_id: int, *, accept: bool, now: datetime
    ) -> MergeProposal | None:
        """Accept (link or merge) or reject a pending proposal."""
        work = partial(customers.decide_proposal, proposal_id=proposal_id, accept=accept, now=now)
        return await self._change_graph(work)

    async def unmerge(self, customer_id: str, *, now: datetime) -> MergeRecord | None:
        """Undo the merge of `customer_id` into its survivor; return the unmerge log entry."""
        return await self._change_graph(
            partial(customers.unmerge, customer_id=customer_id, now=now)
        )

    async def erase_customer(self, customer_id: str, *, now: datetime) -> ErasureRecord | None:
        """Delete everything stored of a customer's merge tree; return the erasure request."""
        erase = partial(customers.erase_customer, customer_id=customer_id, now=now)
        erasure = await self._change_graph(erase)
        return None if erasure is None else await self._scrub(erasure)

    async def crosswalk_of(self, customer_id: str, backend: str) -> tuple[str, ...]:
        """Return the records `backend` reported for a customer and those merged into it."""
        query = partial(customers.crosswalk_of, customer_id=customer_id, backend=backend)
        return await self._read(query)

    async def erasures_of(self, customer_id: str) -> list[ErasureRecord]:
        """Return the erasures of a customer id, with their receipts."""
        return await self._read(partial(customers.erasures_of, customer_id=customer_id))

    async def merges_after(self, backend: str, limit: int) -> list[MergeRecord]:
        """Return the merge log entries `backend` has not been given yet, oldest first."""
        work = partial(customers.merges_after, backend=backend, limit=limit)
        return await self._write(work, busy=BOOKKEEPING_BUSY_S)

    async def erasures_after(self, backend: str, limit: int) -> list[ErasureRecord]:
        """Return the erasures `backend` has not been asked to perform yet, oldest first."""
        work = partial(customers.erasures_after, backend=backend, limit=limit)
        return await self._write(work, busy=BOOKKEEPING_BUSY_S)

    async def advance(self, backend: str, stream: Stream, last_id: int) -> None:
        """Record that `backend` has been given `stream` up to `last_id`."""
        work = partial(customers.advance, backend=backend, stream=stream, last_id=last_id)
        await self._write(work, busy=BOOKKEEPING_BUSY_S)

    async def record_receipt(self, erasure_id: int, receipt: ErasureReceipt) -> None:
        """Keep a backend's answer to an erasure request."""
        work = partial(customers.record_receipt, erasure_id=erasure_id, receipt=receipt)
        await self._write(work, busy=BOOKKEEPING_BUSY_S)

    async def get_message(self, message_id: str) -> OutboundMessage | None:
        """Return an outbound message by id, or None."""
        return await self._read(partial(messages.get_message, message_id=message_id))

    async def message_by_key(self, idempotency_key: str) -> OutboundMessage | None:
        """Return the outbound message created with this `Idempotency-Key`, or None."""
        query = partial(messages.message_by_key, idempotency_key=idempotency_key)
        return await self._read(query)

    async def list_messages(
        self,
        *,
        state: MessageState | None = None,
        customer_id: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[OutboundMessage]:
        """Return outbound messages by ascending id (creation order), after the id `after`."""
        query = partial(
            messages.list_messages, state=state, customer_id=customer_id, limit=limit, after=after
        )
        return await self._read(query)

    async def latest_inbound(
        self, *, customer_id: str | None = None, conversation_id: str | None = None
    ) -> list[Interaction]:
        """Return the latest inbound interaction on each channel, newest first."""
        query = partial(
            messages.latest_inbound, customer_id=customer_id, conversation_id=conversation_id
        )
        return await self._read(query)
