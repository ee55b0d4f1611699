"""One `deliver` call's bookkeeping: each delivery's progress, and HubSpot's batch answers.

A batch of deliveries goes through a few rounds of batch requests (contacts, tickets,
engagements, associations). A request that fails as a whole decides the outcome of only the
deliveries it carried; a batch answer (200, 201 or 207 Multi-Status) is split back per input
by `objectWriteTraceId` or by the id / `idProperty` value the input named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import Delivered, Delivery, Outcome, Rejected, Retry
from gateway_hubspot.client import Answer, ConflictError, HubSpotClient, error_message
from gateway_hubspot.limiter import ThrottledError

__all__ = ["BatchAnswer", "Item", "Run", "attempt"]

_RETRYABLE_ITEM_ERRORS = frozenset({"CONFLICT", "RATE_LIMITS", "INTERNAL_ERROR", "TIMEOUT"})


@dataclass(slots=True)
class Item:
    """One delivery and what has been written for it so far."""

    delivery: Delivery
    contact: str | None = None
    ticket: str | None = None
    outcome: Outcome | None = None

    @property
    def pending(self) -> bool:
        """Whether nothing has decided this delivery's outcome yet."""
        return self.outcome is None


async def attempt(
    client: HubSpotClient,
    method: str,
    path: str,
    *,
    json: Any = None,
    missing_ok: bool = False,
) -> Answer | Retry | Rejected:
    """Send one request; return its answer, or the outcome its failure means.

    `AuthenticationError` is raised, not returned: refused credentials are not one delivery's
    fault (the host pauses the backend). A request the local rate limit kept back is a `Retry`
    with `attempted=False`.
    """
    try:
        return await client.call(method, path, json=json, missing_ok=missing_ok)
    except ThrottledError as exc:
        return Retry(client.redact(str(exc)), after_s=exc.retry_after, attempted=exc.sent)
    except (TransientDeliveryError, ConflictError) as exc:
        after = exc.retry_after if isinstance(exc, TransientDeliveryError) else None
        return Retry(client.redact(str(exc)), after_s=after)
    except PermanentDeliveryError as exc:
        return Rejected(client.redact(str(exc)))


@dataclass(slots=True)
class Run:
    """The items of one `deliver` call."""

    client: HubSpotClient
    items: list[Item]
    notes: list[str] = field(default_factory=list)
    sent: bool = False
    """Whether a request of this call reached HubSpot."""

    @classmethod
    def of(cls, client: HubSpotClient, batch: Sequence[Delivery]) -> Run:
        """Start a run over `batch`."""
        return cls(client, [Item(delivery) for delivery in batch])

    def pending(self, items: Iterable[Item] | None = None) -> list[Item]:
        """Return the items (of `items`, default all) still without an outcome."""
        return [item for item in (self.items if items is None else items) if item.pending]

    async def send(
        self, items: Sequence[Item], method: str, path: str, json: Any, *, missing_ok: bool = False
    ) -> Answer | None:
        """Send one request for `items`; if it fails as a whole, it decides their outcome."""
        result = await attempt(self.client, method, path, json=json, missing_ok=missing_ok)
        held_back = isinstance(result, Retry) and not result.attempted
        if isinstance(result, Retry) and held_back and self.sent:
            result = Retry(result.reason, result.after_s)  # earlier requests of the call went
        self.sent = self.sent or not held_back
        if isinstance(result, Answer):
            return result
        self.decide(items, result)
        return None

    def decide(self, items: Iterable[Item], outcome: Outcome) -> None:
        """Give every pending one of `items` this outcome."""
        for item in items:
            if item.pending:
                item.outcome = outcome

    def fail_missing(self, split: BatchAnswer, groups: Mapping[str, Sequence[Item]]) -> list[str]:
        """Decide the groups whose key HubSpot's answer failed; return the keys written."""
        written = []
        for key, group in groups.items():
            if (failure := split.outcome_of(key, self.client.redact)) is not None:
                self.decide(group, failure)
            else:
                written.append(key)
        return written

    def outcomes(self) -> list[Outcome]:
        """Return one outcome per delivery: Delivered (with the contact) unless decided."""
        return [
            item.outcome
            or Delivered(record_refs=(f"contact {item.contact}",) if item.contact else ())
            for item in self.items
        ]


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """A batch endpoint's answer, by the key each input was sent with."""

    results: Mapping[str, Mapping[str, Any]]
    errors: Mapping[str, Mapping[str, Any]]

    @classmethod
    def read(cls, answer: Answer, key_of: Callable[[Mapping[str, Any]], str | None]) -> BatchAnswer:
        """Split `answer`: `key_of(result)` names a result's input; errors name theirs in
        `context` (`objectWriteTraceId`, `ids` or `id`), as HubSpot's batch errors do."""
        body = answer.body if isinstance(answer.body, Mapping) else {}
        results: dict[str, Mapping[str, Any]] = {}
        for result in body.get("results") or ():
            if isinstance(result, Mapping) and (key := key_of(result)) is not None:
                results[key] = result
        errors: dict[str, Mapping[str, Any]] = {}
        for error in body.get("errors") or ():
            if isinstance(error, Mapping):
                for key in _error_keys(error):
                    errors[key] = error
        return cls(results, errors)

    def outcome_of(self, key: str, redact: Callable[[str], str]) -> Outcome | None:
        """Return the failure HubSpot reported for `key`, or a Retry if it reported nothing."""
        if key in self.results:
            return None
        error = self.errors.get(key)
        if error is None:
            return Retry(f"HubSpot's batch answer says nothing of {key!r}")
        reason = redact(f"HubSpot refused {key!r}: {error_message(error, 'batch item error')}")
        if str(error.get("category", "")).upper() in _RETRYABLE_ITEM_ERRORS:
            return Retry(reason)
        return Rejected(reason)

    def missing(self, key: str) -> bool:
        """Whether HubSpot said `key` does not exist (a batch read's `OBJECT_NOT_FOUND`)."""
        error = self.errors.get(key)
        return key not in self.results and (
            error is None or str(error.get("category", "")).upper() == "OBJECT_NOT_FOUND"
        )


def _error_keys(error: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    context = error.get("context")
    if isinstance(context, Mapping):
        for name in ("objectWriteTraceId", "ids", "id"):
            value = context.get(name)
            values = value if isinstance(value, list) else [value] if value is not None else []
            keys += [str(v) for v in values]
    if isinstance(error.get("objectWriteTraceId"), str):
        keys.append(error["objectWriteTraceId"])
    return keys
