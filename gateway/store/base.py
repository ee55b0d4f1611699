"""The `Store` protocol every storage engine implements, and the records it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, get_args

from gateway.backend import UNKNOWN_OUTCOME
from gateway.schema import Identity, Interaction
from gateway.service_events import Contact, ServiceEvent
from gateway.store.stored_rows import StoredInteraction, UnreadableInteraction

__all__ = [
    "DELIVERY_STATES",
    "MESSAGE_STATES",
    "UNKNOWN_OUTCOME",
    "AttemptOutcome",
    "AttemptRecord",
    "ClaimedDelivery",
    "CommitItem",
    "CommitResult",
    "ConflictError",
    "CustomerRecord",
    "DeliveryState",
    "DeliveryUpdate",
    "ErasureReceipt",
    "ErasureRecord",
    "LinkResult",
    "MergeProposal",
    "MergeRecord",
    "MessageState",
    "OutboundMessage",
    "OutboundSend",
    "ProposalState",
    "QueueStats",
    "Store",
    "StoredAttempt",
    "StoredDelivery",
    "StoredInteraction",
    "Stream",
    "TimelineEntry",
    "UnreadableInteraction",
]

DeliveryState = Literal["pending", "in_flight", "delivered", "dead"]
DELIVERY_STATES: tuple[DeliveryState, ...] = get_args(DeliveryState)
AttemptOutcome = Literal["delivered", "retry", "dead"]

MessageState = Literal["queued", "sent", "delivered", "read", "failed", "dead"]
MESSAGE_STATES: tuple[MessageState, ...] = get_args(MessageState)

BatchObserver = Callable[[int], None]
"""Called with the number of commit requests each group-commit transaction carried."""


@dataclass(frozen=True, slots=True)
class OutboundSend:
    """The send job of an outbound interaction: an outbound message (DESIGN §12)."""

    message_id: str
    idempotency_key: str
    """Unique across messages: a repeat returns the first message (a duplicate commit)."""
    request_hash: str
    """A digest of the request, telling a repeat from another request reusing the key."""
    target: str
    """The sender's delivery target, `channel:{channel_id}`."""
    resend_unknown: bool = False
    """`send.on_unknown_outcome: resend`: a send whose outcome is unknown goes again."""


@dataclass(frozen=True, slots=True)
class CommitItem:
    """An interaction to store, and the backends it is routed to (one delivery row each)."""

    interaction: Interaction
    backends: tuple[str, ...]
    order_key: str | None = None
    """Deliveries sharing (backend, order_key) go out one at a time, in commit order."""
    send: OutboundSend | None = None
    """An outbound message: one delivery to `send.target` now; the `backends` get theirs only
    once the provider accepted the send."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An outbound message and how far it got (DESIGN §12)."""

    id: str
    state: MessageState
    channel_id: str
    customer_id: str | None
    conversation_id: str | None
    interaction_id: str
    provider_message_id: str | None
    error: str | None
    request_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What the store holds for one `CommitItem` once `commit` returns."""

    interaction_id: str
    """The id it is stored under: its own, or the first arrival's id for a duplicate."""
    duplicate: bool
    """True if (channel id, external id) was already stored; nothing new was written."""
    interaction: Interaction | None = None
    """What was stored: the interaction with its customer, conversation and context (None
    for a duplicate)."""
    service: ServiceEvent | None = None
    """What it did to its conversation's service: answered a wait, or chased one (DESIGN §13);
    the host observes the service metrics from it once the commit returned."""


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """One delivery job of one interaction to one backend."""

    id: int
    interaction_id: str
    backend: str
    state: DeliveryState
    attempts: int
    """Every attempt in the attempt log, across replays (a replay only renews the budget)."""
    last_error: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with its interaction."""

    id: int
    interaction: Interaction
    attempts: int
    """Attempts recorded before this claim."""
    created_at: datetime
    """When the delivery job was created (its age decides `retry.max_age`)."""
    record_refs: tuple[str, ...] = ()
    """The records this backend reported for the interaction's customer (the crosswalk)."""
    document: str | None = None
    """`interaction`'s stored JSON, when `interaction` is exactly that (not when a merge since
    its commit changed its customer): backends send it without serialising again."""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One call of a backend's `deliver` for one delivery, for the attempt log."""

    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """What became of a claimed delivery: delivered, due again later, or dead."""

    delivery_id: int
    state: Literal["delivered", "pending", "dead"]
    attempts: tuple[AttemptRecord, ...]
    """The attempts of this claim (more than one after in-process retries)."""
    next_attempt_at: datetime | None = None
    """When a `pending` delivery is due again."""
    error: str | None = None
    """The last error, kept as the delivery's `last_error`."""
    record_refs: tuple[str, ...] = ()
    """Records the backend created or matched, kept in the customer's crosswalk."""
    provider_message_id: str | None = None
    """A sender's delivery: the provider's id of the message it accepted."""


@dataclass(frozen=True, slots=True)
class StoredAttempt:
    """One logged attempt of a delivery."""

    delivery_id: int
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: str | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The delivery queue of one backend."""

    pending: int
    """Deliveries pending or in flight."""
    dead: int
    oldest_due_s: float
    """How long the most overdue pending delivery has been due (0 when none is)."""


class ConflictError(Exception):
    """The request contradicts the store's state (e.g. unmerging a customer that is not merged)."""


ProposalState = Literal["pending", "accepted", "rejected"]
Stream = Literal["merges", "erasures"]
"""The customer-event streams backends follow: the merge log and the erasure requests."""


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """One entry of the merge audit log: a merge, or the unmerge that undid one."""

    id: int
    action: Literal["merge", "unmerge"]
    survivor_id: str
    merged_id: str
    cause: str
    interaction_id: str | None
    created_at: datetime
    undone_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer: its own row, and the identities and crosswalk of its whole merge tree."""

    id: str
    display_name: str | None
    created_at: datetime
    merged_into: str | None
    """The survivor this customer was merged into (None for a live customer)."""
    identities: tuple[Identity, ...]
    crosswalk: dict[str, tuple[str, ...]]
    merges: tuple[MergeRecord, ...]
    """Merge log entries naming this customer, oldest first."""


@dataclass(frozen=True, slots=True)
class MergeProposal:
    """A link the rules would not make alone, waiting for an operator."""

    id: int
    customer_id: str
    identity: Identity
    other_customer_id: str | None
    """The customer that held the identity when it was proposed, if any."""
    reason: str
    interaction_id: str | None
    state: ProposalState
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class LinkResult:
    """What linking an identity to a customer did."""

    customer_id: str
    """The customer that holds the identity now (the survivor if a merge happened)."""
    action: Literal["linked", "merged", "unchanged"]
    merge_id: int | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One interaction of a customer's timeline, with its deliveries."""

    interaction: StoredInteraction
    deliveries: tuple[StoredDelivery, ...]


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """What one backend answered when asked to erase a customer's records."""

    backend: str
    outcome: Literal["erased", "failed"]
    detail: str | None
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """An executed erasure: what was removed locally, and the backends' receipts."""

    id: int
    customer_id: str
    requested_at: datetime
    interactions: int
    """How many stored interactions were deleted."""
    crosswalk: dict[str, tuple[str, ...]]
    """The records each backend had for the customer: what it is asked to erase."""
    receipts: tuple[ErasureReceipt, ...]
    scrubbed_at: datetime | None = None
    """When no copy of the erased rows was left in the store's files (WAL checkpointed); None
    until then."""


class Store(Protocol):
    """Durable storage. `commit` returning means the data survives a crash or power loss."""

    async def open(self) -> None:
        """Create or migrate the schema and start accepting commits."""

    async def close(self) -> None:
        """Finish the commits already accepted, then release every resource."""

    async def commit(self, items: Sequence[CommitItem]) -> list[CommitResult]:
        """Store `items` atomically with their delivery rows; raise `StoreUnavailableError`.

        Items of concurrent calls may share one transaction (group commit); a call's items are
        all stored or none are. Returns one result per item, in order.
        """

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless a write could commit right now."""

    async def get_interaction(self, interaction_id: str) -> StoredInteraction | None:
        """Return a stored interaction (`UnreadableInteraction` if it no longer validates), or
        None."""

    async def list_interactions(
        self, *, channel_id: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[StoredInteraction]:
        """Return stored interactions in arrival order, after the one with id `after`.

        A row that no longer validates is an `UnreadableInteraction` in its place.
        """

    async def deliveries_of(self, interaction_id: str) -> list[StoredDelivery]:
        """Return the delivery jobs of one interaction, oldest first."""

    async def delivery_counts(self) -> dict[str, dict[DeliveryState, int]]:
        """Return how many deliveries each backend has in each state."""

    async def recover(self) -> int:
        """Claim this store for the serving gateway and release leases a crash left behind.

        A send in flight (an outbound message, DESIGN §12) is parked `dead` with
        `outcome_unknown` instead, unless its channel resends unknown outcomes.
        Returns how many in-flight deliveries became due again. Raises `StoreUnavailableError`
        if another gateway already serves the store.
        """

    async def claim(
        self, backend: str, limit: int, *, now: datetime, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries of `backend`, oldest due first.

        Due: `pending` with `next_attempt_at <= now`, or `in_flight` with an expired lease (but a
        send with an expired lease is parked `dead` with `outcome_unknown`, unless its channel
        resends unknown outcomes: at most once at the provider). Never
        one whose predecessor with the same (backend, order_key) is pending, in flight or leased.
        """

    async def record(self, updates: Sequence[DeliveryUpdate]) -> None:
        """Record the outcome of claimed deliveries and their attempts, in one transaction."""

    async def release(self, delivery_ids: Sequence[int]) -> None:
        """Return leased deliveries to `pending` untouched (a graceful shutdown)."""

    async def get_delivery(self, delivery_id: int) -> StoredDelivery | None:
        """Return one delivery, or None."""

    async def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        backend: str | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[StoredDelivery]:
        """Return deliveries by ascending id, after `after_id` (the cursor)."""

    async def attempts_of(self, interaction_id: str) -> list[StoredAttempt]:
        """Return the attempt log of every delivery of one interaction."""

    async def replay(
        self,
        *,
        now: datetime,
        delivery_ids: Sequence[int] | None = None,
        backend: str | None = None,
    ) -> int:
        """Make dead deliveries (these ids, a backend's, or all) pending with a fresh budget.

        "All" leaves the sends of outbound messages (targets `channel:...`) dead: a parked send
        may have reached the customer; naming its id or its target resends it."""

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

        `plan(interaction)` says whether routing sends it to `backend` and its order key.
        Interactions that already have a delivery for `backend` are skipped; so are rows that no
        longer validate (nothing can route them), each passed to `unreadable`.
        """

    async def queue_stats(self, now: datetime) -> dict[str, QueueStats]:
        """Return the queue of every backend that has deliveries."""

    async def prune(self, before: datetime) -> int:
        """Delete interactions received before `before` whose deliveries are all delivered."""

    async def find_customer(self, identity: Identity) -> CustomerRecord | None:
        """Return the live customer (a merge tree's root) holding `identity`, or None."""

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        """Return a customer by id, merged ones included, or None."""

    async def reply_identities(self, customer_id: str) -> list[Identity] | None:
        """Return where a reply to a customer (any id of its merge tree) may go, oldest first:
        the identities it used verified and those an operator linked, never an asserted one.
        None if there is no such customer. Outbound (DESIGN §12) chooses among these only,
        and refuses a reply to an interaction whose `Interaction.identity_claimed` is true
        (409 `unverified_recipient`)."""

    async def timeline(
        self, customer_id: str, *, limit: int = 100, after: str | None = None
    ) -> list[TimelineEntry]:
        """Return the interactions of a customer's whole merge tree by occurrence time.

        `after` is the id of the last interaction of the previous page. A row that no longer
        validates is an `UnreadableInteraction` in its place.
        """

    async def link_identity(
        self, customer_id: str, identity: Identity, *, now: datetime
    ) -> LinkResult | None:
        """Attach `identity` to a customer by operator decision (no limits apply); if another
        customer holds it, merge the two. None if there is no such customer."""

    async def list_proposals(
        self,
        *,
        state: ProposalState | None = "pending",
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[MergeProposal]:
        """Return merge proposals by ascending id."""

    async def decide_proposal(
        self, proposal_id: int, *, accept: bool, now: datetime
    ) -> MergeProposal | None:
        """Accept (link or merge) or reject a pending proposal; raise `ConflictError` if it is
        decided already. None if there is no such proposal."""

    async def unmerge(self, customer_id: str, *, now: datetime) -> MergeRecord | None:
        """Undo the merge of `customer_id` into its survivor; return the unmerge log entry.

        Raise `ConflictError` if the customer is not merged. None if there is no such customer.
        """

    async def erase_customer(self, customer_id: str, *, now: datetime) -> ErasureRecord | None:
        """Delete everything stored of a customer's merge tree; return the erasure request.

        None if there is no such customer.
        """

    async def crosswalk_of(self, customer_id: str, backend: str) -> tuple[str, ...]:
        """Return the records `backend` reported for a customer and those merged into it."""

    async def erasures_of(self, customer_id: str) -> list[ErasureRecord]:
        """Return the erasures of a customer id, with their receipts."""

    async def merges_after(self, backend: str, limit: int) -> list[MergeRecord]:
        """Return the merge log entries `backend` has not been given yet, oldest first."""

    async def erasures_after(self, backend: str, limit: int) -> list[ErasureRecord]:
        """Return the erasures `backend` has not been asked to perform yet, oldest first."""

    async def advance(self, backend: str, stream: Stream, last_id: int) -> None:
        """Record that `backend` has been given `stream` up to `last_id`."""

    async def record_receipt(self, erasure_id: int, receipt: ErasureReceipt) -> None:
        """Keep a backend's answer to an erasure request."""

    async def latest_inbound(
        self, *, customer_id: str | None = None, conversation_id: str | None = None
    ) -> list[Interaction]:
        """Return the latest inbound interaction (not a receipt) on each channel, newest first:
        of a customer's whole merge tree, or of one conversation. Outbound chooses a channel
        and measures messaging windows (from `occurred_at`) with these."""

    async def service_contacts(self, since: datetime) -> list[tuple[str, Contact]]:
        """Return (conversation id, contact) of every contact of each conversation with a
        contact that occurred at or after `since`, in the order they were threaded: what the
        service report and the unanswered gauge fold (`gateway.service_events`)."""

    async def unanswered_since(self, since: datetime) -> int:
        """Return how many conversations with a contact at or after `since` wait for an
        answer (their latest non-automated contact is inbound): the unanswered gauge, without
        reading every contact."""

    async def get_message(self, message_id: str) -> OutboundMessage | None:
        """Return an outbound message by id, or None."""

    async def message_by_key(self, idempotency_key: str) -> OutboundMessage | None:
        """Return the outbound message created with this `Idempotency-Key`, or None."""

    async def list_messages(
        self,
        *,
        state: MessageState | None = None,
        customer_id: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[OutboundMessage]:
        """Return outbound messages by ascending id (creation order), after the id `after`."""
