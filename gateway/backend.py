"""The backend contract: deliver stored interactions to a CRM or any other system."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from gateway.circuit import CircuitSettings
from gateway.schema import Interaction
from gateway.settings_types import Duration

__all__ = [
    "UNKNOWN_OUTCOME",
    "Backend",
    "BackendContext",
    "BackendSettings",
    "CustomerErasure",
    "CustomerMerge",
    "Delivered",
    "Delivery",
    "ErasesCustomers",
    "MergesCustomers",
    "Outcome",
    "Rejected",
    "Retry",
    "RetrySettings",
    "SenderSettings",
]


UNKNOWN_OUTCOME = "outcome_unknown"
"""How a sender's failure reason starts when nobody knows whether the provider got the send
(DESIGN §12: parked for an operator, never resent blindly)."""


class RetrySettings(BaseModel):
    """How long the host keeps retrying a delivery before it dead-letters it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_attempts: Annotated[int, Field(ge=1)] = 12
    """Attempts before a delivery is dead-lettered."""
    max_age: Duration = timedelta(hours=72)
    """Age after which a delivery still failing is dead-lettered."""
    initial_backoff: Duration = timedelta(seconds=1)
    """Backoff before the first retry; it doubles on each attempt, with full jitter."""
    max_backoff: Duration = timedelta(minutes=10)
    """Longest backoff between two attempts."""


class BackendSettings(BaseModel):
    """Settings every backend takes; a backend's `settings_model` subclasses this."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: str
    """The backend type, e.g. `log` or `webhook`."""
    base_url: HttpUrl | None = None
    """Override of the vendor's API root (tests point it at a local fake)."""
    timeout: Duration = timedelta(seconds=10)
    """Timeout of one delivery request."""
    retry: RetrySettings = Field(default_factory=RetrySettings)
    """How long the host retries a failing delivery (backends never retry themselves)."""
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)
    """When to stop calling a remote that keeps failing, and when to probe it again."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    """Deliveries (or batches) in flight at once; one customer's still go one at a time."""


class SenderSettings(BackendSettings):
    """Settings of a channel's `send:` block; a sender's `settings_model` subclasses this."""

    type: str = "sender"
    """Not set in YAML: the block belongs to its channel."""
    on_unknown_outcome: Literal["park", "resend"] = "park"
    """A send whose outcome is unknown (a timeout after the request was written, a crash while
    it was in flight): `park` dead-letters it with `outcome_unknown` for an operator (at most
    once at the provider); `resend` sends it again (at least once: the customer may get it
    twice)."""

    def unknown_outcome(self, detail: str) -> Retry | Rejected:
        """Return the outcome of a send that may have reached the provider: `Rejected` with
        `outcome_unknown` (parked for an operator), or `Retry` if `on_unknown_outcome: resend`."""
        reason = f"{UNKNOWN_OUTCOME}: {detail}"
        return Retry(reason) if self.on_unknown_outcome == "resend" else Rejected(reason)


SettingsT = TypeVar("SettingsT", bound=BackendSettings)


@dataclass(frozen=True, slots=True)
class BackendContext:
    """What the host gives a backend: its configured name and the shared HTTP session."""

    name: str
    http: aiohttp.ClientSession
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("gateway.backend"))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One interaction to deliver, with the record ids this backend already has for its customer."""

    id: int
    interaction: Interaction
    attempt: int
    record_refs: tuple[str, ...] = ()
    document: str | None = field(default=None, repr=False, compare=False)
    """`interaction`'s JSON as the store holds it, when it is exactly `interaction` (None when
    the store has none to give): what `interaction_json()` returns without serialising again."""

    def interaction_json(self) -> str:
        """Return `interaction.model_dump_json()`, the stored text when the store gave it."""
        if self.document is not None:
            return self.document
        return self.interaction.model_dump_json()


@dataclass(frozen=True, slots=True)
class Delivered:
    """The backend accepted the interaction; `record_refs` name the records it wrote or matched.

    A sender (a channel's `sender`, DESIGN §12) gives the provider's id of the message it sent
    as `provider_message_id`: status callbacks name it.
    """

    record_refs: tuple[str, ...] = ()
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later; `after_s` is the remote's hint (e.g. Retry-After), if any.

    `attempted=False` says the backend did not send this delivery at all (it stopped a batch
    because the remote is down): the try does not count against the retry budget.
    """

    reason: str
    after_s: float | None = None
    attempted: bool = True


@dataclass(frozen=True, slots=True)
class Rejected:
    """The remote refused the interaction for good; it goes to the dead-letter queue."""

    reason: str


Outcome = Delivered | Retry | Rejected


class Backend(ABC, Generic[SettingsT]):
    """Delivers interactions somewhere. The host owns retries, ordering and metrics."""

    type_name: ClassVar[str]
    """The YAML `type` of the backend, e.g. `webhook`."""
    settings_model: ClassVar[type[BackendSettings]]
    max_batch: ClassVar[int] = 1
    """Most deliveries the host hands to one `deliver` call."""

    def __init__(self, ctx: BackendContext, settings: SettingsT) -> None:
        self.ctx = ctx
        self.settings = settings

    def batch_limit(self) -> int:
        """Return how many deliveries one `deliver` call takes."""
        return self.max_batch

    async def start(self) -> None:
        """Prepare to deliver; raise `NotReadyError` to be retried or `AuthenticationError`."""

    @abstractmethod
    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Deliver `batch`, returning one outcome per delivery, in order."""

    async def health_check(self) -> None:
        """Raise if the remote cannot be reached right now."""

    async def close(self) -> None:
        """Release what `start` acquired."""


@dataclass(frozen=True, slots=True)
class CustomerMerge:
    """Two customers the gateway merged (or an earlier merge it undid)."""

    id: int
    """The merge log entry: stable across retries, an idempotency key."""
    action: Literal["merge", "unmerge"]
    survivor_id: str
    merged_id: str
    cause: str
    survivor_refs: tuple[str, ...]
    """The records this backend reported for the survivor (the merged customer's excluded)."""
    merged_refs: tuple[str, ...]
    """The records this backend reported for the merged customer."""


@dataclass(frozen=True, slots=True)
class CustomerErasure:
    """A customer erased from the gateway; the backend erases its records of them too."""

    id: int
    """The erasure request: stable across retries, an idempotency key."""
    customer_id: str
    record_refs: tuple[str, ...]
    """The records this backend reported for the customer (and everyone merged into them)."""


@runtime_checkable
class MergesCustomers(Protocol):
    """A backend that merges its own customer records when the gateway merges customers."""

    async def merge_customers(self, merge: CustomerMerge) -> Outcome:
        """Merge the records of `merge.merged_id` into those of `merge.survivor_id`."""
        ...

    async def unmerge_customers(self, merge: CustomerMerge) -> Outcome:
        """Undo an earlier merge (`merge.action` is `unmerge`)."""
        ...


@runtime_checkable
class ErasesCustomers(Protocol):
    """A backend that erases its records of a customer the gateway erased (right to erasure)."""

    async def erase_customer(self, erasure: CustomerErasure) -> Outcome:
        """Erase the records in `erasure.record_refs`; `Delivered()` is the receipt."""
        ...
