"""One `deliver` call's bookkeeping, and the SOQL and sObject Collections requests it sends.

A request that fails as a whole decides the outcome of only the deliveries it carried; an
sObject Collections answer (a list of per-record results, in the order of the records sent,
`allOrNone: false`) decides each record's deliveries on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import quote

from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import Delivered, Delivery, Outcome, Rejected, Retry
from gateway_salesforce.client import Answer, LimitError, SalesforceClient, error_text

__all__ = ["COLLECTION_LIMIT", "Item", "Run", "Write", "attempt", "soql_in"]

COLLECTION_LIMIT: Final = 200
"""Records one sObject Collections request takes."""
QUERY_CHARS: Final = 8000
"""Characters of `IN (...)` values per query: a GET's URL stays far below Salesforce's 16 KB."""
_SOQL_ESCAPES: Final = str.maketrans(
    {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)
"""How a value is written inside a SOQL string literal (Salesforce's escape sequences)."""
_RETRYABLE: Final = frozenset({"UNABLE_TO_LOCK_ROW", "UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE"})
"""Per-record `statusCode`s that mean "try again", not "never"."""


Write = tuple[dict[str, Any], list["Item"]]
"""One record to write: its fields, and the items whose outcome it decides."""


@dataclass(slots=True)
class Item:
    """One delivery and what has been written for it so far."""

    delivery: Delivery
    contact: str | None = None
    case: str | None = None
    outcome: Outcome | None = None


async def attempt(
    client: SalesforceClient, method: str, path: str, **request: Any
) -> Answer | Retry | Rejected:
    """Send one `client.call`; return its answer, or the outcome its failure means.

    `AuthenticationError` is raised, not returned: refused credentials are not one delivery's
    fault (the host pauses the backend). A request held back while the org's API limit is used
    up is a `Retry` with `attempted=False`.
    """
    try:
        return await client.call(method, path, **request)
    except LimitError as exc:
        return Retry(str(exc), after_s=exc.retry_after, attempted=exc.sent)
    except TransientDeliveryError as exc:
        return Retry(str(exc), after_s=exc.retry_after)
    except PermanentDeliveryError as exc:
        return Rejected(str(exc))


def soql_in(values: Iterable[str]) -> list[str]:
    """Return `values` as SOQL `IN` lists (`'a','b'`), each short enough for one GET."""
    chunks: list[str] = []
    for value in values:
        literal = "'" + value.translate(_SOQL_ESCAPES) + "'"
        if chunks and len(chunks[-1]) + 1 + len(literal) <= QUERY_CHARS:
            chunks[-1] += "," + literal
        else:
            chunks.append(literal)
    return chunks


@dataclass(slots=True)
class Run:
    """The items of one `deliver` call, and the requests sent for them."""

    client: SalesforceClient
    items: list[Item]
    notes: list[str] = field(default_factory=list)
    sent: bool = False

    @classmethod
    def of(cls, client: SalesforceClient, batch: Sequence[Delivery]) -> Run:
        """Start a run over `batch`."""
        return cls(client, [Item(delivery) for delivery in batch])

    def pending(self, items: Iterable[Item]) -> list[Item]:
        """Return those of `items` still without an outcome."""
        return [item for item in items if item.outcome is None]

    def decide(self, items: Iterable[Item], outcome: Outcome) -> None:
        """Give every pending one of `items` this outcome."""
        for item in items:
            if item.outcome is None:
                item.outcome = outcome

    async def send(
        self, items: Sequence[Item], method: str, path: str, **kwargs: Any
    ) -> Answer | None:
        """Send one request for `items`; if it fails as a whole, it decides their outcome.

        A request held back by the API limit counts as an attempt once an earlier request of
        the same call reached Salesforce: the call as a whole was tried.
        """
        result = await attempt(self.client, method, path, **kwargs)
        if isinstance(result, Retry) and not result.attempted:
            result = replace(result, attempted=self.sent)
        else:
            self.sent = True
        if isinstance(result, Answer):
            return result
        self.decide(items, result)
        return None

    async def query(
        self,
        items: Sequence[Item],
        sobject: str,
        fields: Sequence[str],
        key: str,
        values: Iterable[str],
    ) -> dict[str, Mapping[str, Any]] | None:
        """Return the records of `sobject` whose `key` is one of `values`, by that value."""
        found: dict[str, Mapping[str, Any]] = {}
        select = ", ".join(dict.fromkeys(["Id", key, *fields]))
        for listed in soql_in(dict.fromkeys(values)):
            soql = f"SELECT {select} FROM {sobject} WHERE {key} IN ({listed})"
            answer = await self.send(items, "GET", "/query", params={"q": soql})
            if answer is None:
                return None
            body = answer.body if isinstance(answer.body, Mapping) else {}
            for record in body.get("records") or ():
                if isinstance(record, Mapping) and record.get(key) is not None:
                    found[str(record[key])] = record
        return found

    async def write(
        self, sobject: str, records: Mapping[str, Write], *, key: str | None = None
    ) -> dict[str, str]:
        """Upsert `records` by the external-id field `key` (each under its value), or update
        them by record id (each under its id) without `key`; return the id of each record
        written, deciding the items of each one refused."""
        path = "/composite/sobjects" + (f"/{sobject}/{quote(key)}" if key else "")
        entries = list(records.items())
        written: dict[str, str] = {}
        for start in range(0, len(entries), COLLECTION_LIMIT):
            chunk = entries[start : start + COLLECTION_LIMIT]
            sent = [
                {"attributes": {"type": sobject}, **fields, key or "id": value}
                for value, (fields, _) in chunk
            ]
            members = [item for _, (_, group) in chunk for item in group]
            body = {"allOrNone": False, "records": sent}
            answer = await self.send(members, "PATCH", path, json=body)
            if answer is not None:
                written |= self._split(answer, chunk, sobject)
        return written

    def _split(
        self,
        answer: Answer,
        chunk: Sequence[tuple[str, Write]],
        sobject: str,
    ) -> dict[str, str]:
        """Pair each record sent with its result: return the ids of those written, deciding
        the items of those refused."""
        results = answer.body if isinstance(answer.body, list) else []
        written: dict[str, str] = {}
        for n, (value, (_, group)) in enumerate(chunk):
            result = results[n] if n < len(results) and isinstance(results[n], Mapping) else None
            if result is None:
                self.decide(
                    group, Retry(f"Salesforce's answer says nothing of {sobject} {value!r}")
                )
            elif result.get("success") and result.get("id"):
                written[value] = str(result["id"])
            else:
                errors = result.get("errors") or []
                codes = {str(e.get("statusCode")) for e in errors if isinstance(e, Mapping)}
                why = error_text(errors, "no reason given")
                reason = self.client.redact(f"Salesforce refused {sobject} {value!r}: {why}")
                self.decide(group, Retry(reason) if codes & _RETRYABLE else Rejected(reason))
        return written

    def outcomes(self) -> list[Outcome]:
        """Return one outcome per delivery: Delivered (with the contact) unless decided."""
        return [
            item.outcome
            or Delivered(record_refs=(f"contact {item.contact}",) if item.contact else ())
            for item in self.items
        ]
