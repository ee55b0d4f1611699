"""One `deliver` call's bookkeeping: each delivery's progress, and HubSpot's batch answers.

A batch of deliveries goes through a few rounds of batch requests (contacts, tickets,
engagements, associations). A request that fails as a whole decides the outcome of only the
deliveries it carried; a batch answer (200, 201 or 207 Multi-Status) is split back per input
by `objectWriteTraceId` or by the id / `idProperty` value the input named.

HubSpot documents per-input answers (207) for batch create only; a batch read, upsert or update
with one input it refuses may be refused as a whole (4xx). Such a batch is sent again one input
per request, so that only the inputs HubSpot refuses fail, not the deliveries batched with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
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
    except (TransientDeliveryError, PermanentDeliveryError) as exc:
        return failure(client, exc)


def failure(client: HubSpotClient, exc: DeliveryError) -> Retry | Rejected:
    """Return the outcome a request's failure means (a 409 conflict is worth retrying)."""
    if isinstance(exc, ThrottledError):
        return Retry(client.redact(str(exc)), after_s=exc.retry_after, attempted=exc.sent)
    if isinstance(exc, TransientDeliveryError | ConflictError):
        after = exc.retry_after if isinstance(exc, TransientDeliveryError) else None
        return Retry(client.redact(str(exc)), after_s=after)
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
        """Send one request for `items`; if it fails as a whole, it decides their outcome.

        A batch of several keyed inputs HubSpot refuses as a whole (4xx) goes again one input
        per request (`_one_by_one`).
        """
        try:
            answer = await self.client.call(method, path, json=json, missing_ok=missing_ok)
        except PermanentDeliveryError as exc:
            self.sent = True
            if len(_keyed_inputs(json)) > 1:
                return await self._one_by_one(items, method, path, json, missing_ok)
            self.decide(items, failure(self.client, exc))
            return None
        except TransientDeliveryError as exc:
            self._fail(items, failure(self.client, exc))
            return None
        self.sent = True
        return answer

    def _fail(self, items: Sequence[Item], result: Retry | Rejected) -> None:
        """Decide `items` by a failed request; one the budget held back costs no attempt unless
        an earlier request of the call went (the call as a whole was tried)."""
        held_back = isinstance(result, Retry) and not result.attempted
        if isinstance(result, Retry) and held_back and self.sent:
            result = Retry(result.reason, result.after_s)
        self.sent = self.sent or not held_back
        self.decide(items, result)

    async def _one_by_one(
        self, items: Sequence[Item], method: str, path: str, json: Any, missing_ok: bool
    ) -> Answer | None:
        """Send each input of a batch HubSpot refused as a whole in a request of its own; return
        their answers as one batch answer, each input HubSpot refuses an error naming it.

        A transient failure of one of them decides every item: the batch goes again later, and
        what the others wrote is written again by upserts, not twice.
        """
        results: list[Any] = []
        errors: list[Any] = []
        for entry in _keyed_inputs(json):
            one = {**json, "inputs": [entry]}
            try:
                answer = await self.client.call(method, path, json=one, missing_ok=missing_ok)
            except PermanentDeliveryError as exc:
                errors.append(_input_error(entry, exc))
                continue
            except TransientDeliveryError as exc:
                self._fail(items, failure(self.client, exc))
                return None
            body = answer.body if isinstance(answer.body, Mapping) else {}
            results += body.get("results") or ()
            errors += body.get("errors") or ()
        return Answer(207 if errors else 200, {"results": results, "errors": errors})

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


def _keyed_inputs(json: Any) -> list[Mapping[str, Any]]:
    """Return a batch body's inputs if each names its key (`objectWriteTraceId` or `id`), so
    that an answer can be split back per input; else none."""
    inputs = json.get("inputs") if isinstance(json, Mapping) else None
    if not isinstance(inputs, list) or not all(_input_keys(i) for i in inputs):
        return []
    return inputs


def _input_keys(entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return []
    return [str(entry[k]) for k in ("objectWriteTraceId", "id") if isinstance(entry.get(k), str)]


def _input_error(entry: Mapping[str, Any], exc: PermanentDeliveryError) -> dict[str, Any]:
    """Return HubSpot's refusal of a one-input request as the batch error naming that input
    (a 409 as `CONFLICT`, retried; any other refusal rejects it)."""
    error: dict[str, Any] = {"status": "error", "message": str(exc)}
    if isinstance(exc, ConflictError):
        error["category"] = "CONFLICT"
    return error | {"context": {"ids": _input_keys(entry)}}


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
