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
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Literal, TypeVar

from gateway.errors import StoreUnavailableError
from gateway.identity import IdentityObserver, IdentityPolicy, IdentityRules
from gateway.schema import MAX_METADATA, STATUS_RANK, Identity, Interaction
from gateway.service_events import ANSWERING_RECEIPTS, SENT_ELSEWHERE, Contact
from gateway.store import customer_graph as customers
from gateway.store import delivery_queue as deliveries
from gateway.store import outbound_state as messages
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
from gateway.store.delivery_queue import INSERT_DELIVERY
from gateway.store.identity_graph import IdentityResolver
from gateway.store.migrate import migrate
from gateway.store.service_reads import service_contacts, unanswered_since
from gateway.store.sql import transaction, utc_text
from gateway.store.sqlite_health import (
    WriterFiles,
    busy_wait,
    checkpoint,
    is_disk_full,
    is_lock_wait,
    is_storage_error,
    probe,
)
from gateway.store.stored_rows import (
    INTERACTION_COLUMNS,
    StoredInteraction,
    UnreadableInteraction,
    load_interaction,
)

__all__ = ["SqliteStore", "Synchronous", "sqlite_path_from_url"]

Synchronous = Literal["full", "normal", "off"]

_T = TypeVar("_T")
_Request = tuple[Sequence[CommitItem], asyncio.Future[list[CommitResult]], float]
"""Items, the caller's future, and the loop time until which it may wait for a lock."""
_Outcome = list[CommitResult] | Exception

_log = logging.getLogger(__name__)

_URL_PREFIX = "sqlite:///"
_READ_BUSY_S = 5.0
_COMMIT_BUSY_S = 1.5
"""How long an ingest request (from its arrival) or an operator's write waits for a lock."""
_MIN_BUSY_S = 0.05
_BOOKKEEPING_BUSY_S = 0.1
"""How long delivery bookkeeping and checkpoints wait for a lock before giving up."""
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
_CHUNK = 500  # rows per backfill or prune transaction: bounded memory, short write locks
_RECENT_MAX = 2048
"""Interactions kept in memory after their commit for their first delivery (a few MiB)."""
_COMMIT_FAILED = "the store could not commit; nothing of this request was stored"

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
        identity: IdentityPolicy | None = None,
        observe_identity: IdentityObserver | None = None,
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
        self._resolver = IdentityResolver(
            identity or IdentityPolicy(IdentityRules(), timedelta(hours=24)), observe_identity
        )
        # Written and read on the writer thread only (commit and claim both run there).
        self._recent: dict[str, Interaction] = {}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._maintain = asyncio.Event()
        self._closed = False
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

    async def open(self) -> None:
        """Create or migrate the schema and start accepting commits."""
        if self._closed:
            raise StoreUnavailableError("the store was closed; create a new one")
        if self._writer_task is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._open_writer)
            await loop.run_in_executor(self._reader, self._open_reader)
        except (sqlite3.Error, OSError, StoreUnavailableError) as exc:
            await self.close()  # closes whichever connection did open
            raise StoreUnavailableError(f"cannot open {self._path}: {exc}") from exc
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-group-commit")
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
        if self._writer_task is not None:
            self._queue.put_nowait(None)
            await self._writer_task
        for executor, conn in ((self._writer, self._write_conn), (self._reader, self._read_conn)):
            if conn is not None:
                await asyncio.wrap_future(executor.submit(conn.close))
            executor.shutdown()
        self._write_conn = self._read_conn = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    async def commit(self, items: Sequence[CommitItem]) -> list[CommitResult]:
        """Store `items` atomically with their delivery rows; raise `StoreUnavailableError`."""
        if self._writer_task is None or self._closed:
            raise StoreUnavailableError("the store is not open")
        if not items:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[CommitResult]] = loop.create_future()
        self._queue.put_nowait((items, future, loop.time() + _COMMIT_BUSY_S))
        return await future

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

    async def get_interaction(self, interaction_id: str) -> StoredInteraction | None:
        """Return a stored interaction (`UnreadableInteraction` if it no longer validates), or
        None."""
        return await self._read(partial(_get_interaction, interaction_id=interaction_id))

    async def list_interactions(
        self, *, channel_id: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[StoredInteraction]:
        """Return stored interactions in arrival order, after the one with id `after`."""
        query = partial(_list_interactions, channel_id=channel_id, limit=limit, after=after)
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

    async def recover(self) -> int:
        """Lock the store for this process and return crashed leases to pending; count them."""
        return await self._write(self._recover)

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
        )

        def park_then_claim(conn: sqlite3.Connection) -> list[ClaimedDelivery]:
            messages.park_unknown(conn, backend, now)
            return claim(conn)

        return await self._write(park_then_claim, busy=_BOOKKEEPING_BUSY_S)

    async def record(self, updates: Sequence[DeliveryUpdate]) -> None:
        """Record the outcome of claimed deliveries and their attempts, in one transaction."""
        record = partial(
            deliveries.record,
            updates=updates,
            now=datetime.now(UTC),
            keep_refs=customers.record_crosswalk,
            follow=messages.after_record,
        )
        await self._write(record, busy=_BOOKKEEPING_BUSY_S)

    async def release(self, delivery_ids: Sequence[int]) -> None:
        """Return leased deliveries to `pending` untouched (a graceful shutdown)."""
        release = partial(deliveries.release, delivery_ids=delivery_ids, now=datetime.now(UTC))
        await self._write(release, busy=_BOOKKEEPING_BUSY_S)

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
        work = partial(deliveries.replay, now=now, delivery_ids=delivery_ids, backend=backend)
        return await self._write(work)

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
            read = partial(deliveries.unrouted, backend=backend, after=after, size=_CHUNK)
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
                insert = partial(deliveries.queue_deliveries, backend=backend, jobs=jobs, now=now)
                queued += await self._write(insert)
            if len(interactions) < _CHUNK:
                return queued

    async def queue_stats(self, now: datetime) -> dict[str, QueueStats]:
        """Return the queue of every backend that has deliveries."""
        return await self._read(partial(deliveries.queue_stats, now=now))

    async def prune(self, before: datetime) -> int:
        """Delete interactions received before `before` whose deliveries are all delivered."""
        pruned = 0
        after: deliveries.Cursor | None = deliveries.FIRST_ROW
        while after is not None:
            work = partial(deliveries.prune_chunk, before=before, after=after, size=_CHUNK)
            deleted, after = await self._write(work, busy=_BOOKKEEPING_BUSY_S)
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
        """Delete everything stored of a customer's merge tree; return the erasure request.

        Deleted pages are zeroed (`secure_delete`) and the WAL is checkpointed and truncated,
        so no copy of the erased rows stays in the files: at once if no other reader holds an
        old snapshot, else in the background until it succeeds; `scrubbed_at` says when.
        """

        def erase(conn: sqlite3.Connection) -> ErasureRecord | None:
            erased = customers.erase_customer(conn, customer_id, now)
            self._unscrubbed = self._unscrubbed or erased is not None
            return erased

        erasure = await self._change_graph(erase)
        if erasure is None:
            return None
        if await self._checkpoint_now():  # the stamp may be another checkpoint's, just before
            scrubbed = await self._read(partial(customers.scrubbed_at, erasure_id=erasure.id))
            return dataclasses.replace(erasure, scrubbed_at=scrubbed)
        self._maintain.set()  # retried in the background, off the commit path
        return erasure

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
        return await self._write(work, busy=_BOOKKEEPING_BUSY_S)

    async def erasures_after(self, backend: str, limit: int) -> list[ErasureRecord]:
        """Return the erasures `backend` has not been asked to perform yet, oldest first."""
        work = partial(customers.erasures_after, backend=backend, limit=limit)
        return await self._write(work, busy=_BOOKKEEPING_BUSY_S)

    async def advance(self, backend: str, stream: Stream, last_id: int) -> None:
        """Record that `backend` has been given `stream` up to `last_id`."""
        work = partial(customers.advance, backend=backend, stream=stream, last_id=last_id)
        await self._write(work, busy=_BOOKKEEPING_BUSY_S)

    async def record_receipt(self, erasure_id: int, receipt: ErasureReceipt) -> None:
        """Keep a backend's answer to an erasure request."""
        work = partial(customers.record_receipt, erasure_id=erasure_id, receipt=receipt)
        await self._write(work, busy=_BOOKKEEPING_BUSY_S)

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

    def _open_writer(self) -> None:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._write_conn = conn = _connect(self._path, _COMMIT_BUSY_S)
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

    async def _read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailableError("the store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, query, conn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError("the store could not be read") from exc

    async def _write(
        self, work: Callable[[sqlite3.Connection], _T], *, busy: float = _COMMIT_BUSY_S
    ) -> _T:
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
        self, conn: sqlite3.Connection, run: Callable[[sqlite3.Connection], _T], busy: float
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
        busy_wait(conn, _BOOKKEEPING_BUSY_S)
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

    async def _change_graph(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work`, which changes the identity graph, then drop what the resolver cached.

        Erasure also drops the interactions kept for their first delivery.
        """

        def run(conn: sqlite3.Connection) -> _T:
            try:
                return work(conn)
            finally:
                self._resolver.forget()
                self._recent.clear()

        return await self._write(run)

    def _recover(self, conn: sqlite3.Connection) -> int:
        if self._lock is None:
            self._lock = _lock_exclusively(self._path + ".lock")
        now = datetime.now(UTC)
        parked = messages.park_unknown(conn, None, now)
        if parked:
            _log.warning("%d sends in flight at the last stop: parked (outcome_unknown)", parked)
        return deliveries.release_all(conn, now)

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
        busy = max(_MIN_BUSY_S, min(deadline for _, _, deadline in batch) - loop.time())
        run = partial(_commit, requests=requests, resolver=self._resolver, recent=self._recent)
        outcomes: list[_Outcome]
        try:
            outcomes = await self._on_writer(partial(self._guarded, run=run, busy=busy))
        except StoreUnavailableError as exc:  # the files were lost: logged once, loudly
            outcomes = [exc] * len(batch)
        except Exception as exc:
            if is_storage_error(exc):
                _log.warning("SQLite store: a batch of %d commits failed: %s", len(batch), exc)
            else:
                _log.error("SQLite store: a batch of %d commits failed", len(batch), exc_info=exc)
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
                _log.exception("SQLite store: the batch observer failed")


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


def _commit(
    conn: sqlite3.Connection,
    requests: list[Sequence[CommitItem]],
    resolver: IdentityResolver,
    recent: dict[str, Interaction],
) -> list[_Outcome]:
    cursor = conn.cursor()
    now = utc_text(datetime.now(UTC))

    def whole(_: sqlite3.Connection) -> list[_Outcome]:
        resolver.check(cursor)
        write = partial(_write_item, cursor, resolver, now, _first_ids(cursor, requests))
        return [[write(item) for item in items] for items in requests]

    def one_by_one(_: sqlite3.Connection) -> list[_Outcome]:
        # Each request's keys looked up as it comes: a request rolled back takes its ids along.
        results = [
            _write_request(
                cursor,
                partial(_write_item, cursor, resolver, now, _first_ids(cursor, [items])),
                items,
            )
            for items in requests
        ]
        if any(isinstance(result, Exception) for result in results):
            resolver.forget()  # what the failed requests cached was rolled back
        return results

    outcomes: list[_Outcome]
    try:
        # Nearly every batch commits whole: no per-request savepoints on the fast path.
        outcomes = transaction(conn, whole)
    except Exception as exc:
        resolver.forget()
        if is_storage_error(exc):
            raise  # the database, not a request: retrying one by one would wait for it again
        _log.info("SQLite store: a batch of %d commits failed; retrying one by one", len(requests))
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
    outcomes: list[_Outcome],
) -> None:
    """Keep what was just committed, so its deliveries are claimed without parsing it again."""
    for items, outcome in zip(requests, outcomes, strict=True):
        if not isinstance(outcome, Exception):
            for item, result in zip(items, outcome, strict=True):
                if result.interaction is not None and item.backends:
                    recent[result.interaction_id] = result.interaction
    while len(recent) > _RECENT_MAX:
        del recent[next(iter(recent))]  # dicts keep insertion order: this is the oldest


def _write_request(
    cursor: sqlite3.Cursor, write: Callable[[CommitItem], CommitResult], items: Sequence[CommitItem]
) -> _Outcome:
    cursor.execute("SAVEPOINT request")
    try:
        results = [write(item) for item in items]
    except Exception as exc:
        _log.warning("SQLite store: one commit of a batch was rolled back: %s", exc)
        # Raises, failing the whole batch, if SQLite already rolled the transaction back.
        cursor.execute("ROLLBACK TO request")
        cursor.execute("RELEASE request")
        return exc
    cursor.execute("RELEASE request")
    return results


def _first_ids(
    cursor: sqlite3.Cursor, requests: list[Sequence[CommitItem]]
) -> dict[tuple[str, str], str]:
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
    cursor: sqlite3.Cursor,
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


def _sent_elsewhere(cursor: sqlite3.Cursor, receipt: Interaction) -> bool:
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


def _list_interactions(
    conn: sqlite3.Connection, channel_id: str | None, limit: int, after: str | None
) -> list[StoredInteraction]:
    sql = f"SELECT {INTERACTION_COLUMNS} FROM interactions"
    sql += " WHERE rowid > coalesce((SELECT rowid FROM interactions"
    sql += " WHERE id = :after), 0)"
    if channel_id is not None:
        # An expression keeps the planner off the dedupe index: a page walks rowids, unsorted.
        sql += " AND channel_id || '' = :channel"
    rows = conn.execute(
        sql + " ORDER BY rowid LIMIT :limit",
        {"after": after, "channel": channel_id, "limit": limit},
    )
    return [load_interaction(row) for row in rows]


def _get_interaction(conn: sqlite3.Connection, interaction_id: str) -> StoredInteraction | None:
    sql = f"SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = ?"
    row = conn.execute(sql, (interaction_id,)).fetchone()
    return None if row is None else load_interaction(row)
