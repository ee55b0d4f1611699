"""Tell backends about merges, unmerges and erasures, for those with the capability.

The store's merge log and erasure requests are streams; each backend with `MergesCustomers`
or `ErasesCustomers` follows them from its own cursor, in order, at least once: an entry is
passed again until the backend answers it (`Delivered` or `Rejected`). A `Retry` (or a raise)
stops the stream for that backend until a backoff passes. Erasure answers become receipts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.backend import (
    Backend,
    CustomerErasure,
    CustomerMerge,
    Delivered,
    ErasesCustomers,
    MergesCustomers,
    Outcome,
    Rejected,
    Retry,
    RetrySettings,
)
from gateway.errors import AuthenticationError, StoreUnavailableError
from gateway.store.base import ErasureReceipt, MergeRecord, Store
from gateway.supervision import Outage

__all__ = ["CustomerEventFollower", "follows_customer_events"]

log = logging.getLogger("gateway.customer_events")
_PAGE = 50
_POLL_S = 1.0
_STORE_RETRY_MAX_S = 30.0


def follows_customer_events(backend: Backend[Any]) -> bool:
    """Return True if `backend` wants merges or erasures."""
    return isinstance(backend, MergesCustomers | ErasesCustomers)


class CustomerEventFollower:
    """Passes one backend the merge log and erasure requests it has not answered yet.

    `redact` scrubs secrets from outcome reasons (logged, and kept in erasure receipts);
    `refused` hears of an `AuthenticationError` (the call itself is retried like any raise).
    """

    def __init__(
        self,
        store: Store,
        name: str,
        backend: Backend[Any],
        retry: RetrySettings,
        clock: Callable[[], datetime],
        *,
        redact: Callable[[str], str] = str,
        refused: Callable[[AuthenticationError], None] | None = None,
    ) -> None:
        self._redact = redact
        self._refused = refused
        self._store = store
        self._name = name
        self._backend = backend
        self._retry = retry
        self._clock = clock
        self._backoff_s = 0.0
        self._store_outage = Outage(
            log,
            f"backend {name}: cannot read merges or erasures",
            f"backend {name}: store recovered; following merges and erasures again",
            min_s=_POLL_S,
            max_s=_STORE_RETRY_MAX_S,
            backend=name,
        )

    async def run(
        self, stopping: Callable[[], bool], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        """Follow the streams until `stopping()`; `sleep` waits between polls."""
        while not stopping():
            try:
                answered = await self.follow_once()
            except StoreUnavailableError as exc:
                self._store_outage.failed(exc)
                await sleep(self._store_outage.wait_s)
                continue
            self._store_outage.succeeded()
            if answered:
                self._backoff_s = 0.0
                await sleep(_POLL_S)
            else:
                initial = self._retry.initial_backoff.total_seconds()
                ceiling = self._retry.max_backoff.total_seconds()
                self._backoff_s = min(ceiling, max(initial, self._backoff_s * 2))
                await sleep(self._backoff_s)

    async def follow_once(self) -> bool:
        """Pass every pending entry; return False if the backend asked to retry later."""
        backend = self._backend
        if isinstance(backend, MergesCustomers):
            for entry in await self._store.merges_after(self._name, _PAGE):
                merge = await self._merge(entry)
                call = (
                    backend.merge_customers
                    if entry.action == "merge"
                    else backend.unmerge_customers
                )
                outcome = await self._call(call(merge), f"{entry.action} {entry.id}")
                if isinstance(outcome, Retry):
                    return False
                await self._store.advance(self._name, "merges", entry.id)
        if isinstance(backend, ErasesCustomers):
            for erasure in await self._store.erasures_after(self._name, _PAGE):
                refs = erasure.crosswalk.get(self._name, ())
                request = CustomerErasure(erasure.id, erasure.customer_id, refs)
                outcome = await self._call(backend.erase_customer(request), f"erasure {erasure.id}")
                if isinstance(outcome, Retry):
                    return False
                receipt = ErasureReceipt(
                    self._name,
                    "erased" if isinstance(outcome, Delivered) else "failed",
                    outcome.reason if isinstance(outcome, Rejected) else None,
                    self._clock(),
                )
                await self._store.record_receipt(erasure.id, receipt)
                await self._store.advance(self._name, "erasures", erasure.id)
        return True

    async def _merge(self, entry: MergeRecord) -> CustomerMerge:
        merged = await self._store.crosswalk_of(entry.merged_id, self._name)
        survivor = await self._store.crosswalk_of(entry.survivor_id, self._name)
        return CustomerMerge(
            entry.id,
            entry.action,
            entry.survivor_id,
            entry.merged_id,
            entry.cause,
            tuple(ref for ref in survivor if ref not in merged),
            merged,
        )

    async def _call(self, call: Awaitable[Outcome], what: str) -> Outcome:
        timeout_s = self._backend.settings.timeout.total_seconds()
        try:
            outcome = await asyncio.wait_for(call, timeout_s + 5.0)
        except Exception as exc:
            if isinstance(exc, AuthenticationError) and self._refused is not None:
                self._refused(exc)
            outcome = Retry(f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Retry | Rejected):
            outcome = replace(outcome, reason=self._redact(outcome.reason))
        if isinstance(outcome, Retry):
            log.warning(
                "backend %s: %s failed, will retry: %s",
                self._name,
                what,
                outcome.reason,
                extra={"backend": self._name},
            )
        elif isinstance(outcome, Rejected):
            log.warning(
                "backend %s: %s rejected: %s",
                self._name,
                what,
                outcome.reason,
                extra={"backend": self._name},
            )
        return outcome
