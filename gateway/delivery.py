"""The delivery engine: at-least-once forwarding of stored interactions to every backend.

Per backend, `concurrency` workers loop: claim due deliveries (leases, so a crash strands
nothing), call the backend's `deliver`, record every outcome in one transaction. A short
in-process retry absorbs blips; anything longer is rescheduled in the store with exponential
backoff and full jitter (never an in-memory sleep of minutes). Per-customer order comes from the
store, which only leases the head of each (backend, order_key) queue. A circuit breaker per
backend stops calls to a remote that keeps failing. Tenacity lives here and nowhere else.
Every worker is supervised (`gateway.supervision`): one that raises is logged, restarted with
backoff and reported as a stopped lane until it works again. Refused credentials
(`AuthenticationError`) pause the lane without touching its deliveries until a re-check passes,
and a health-check worker keeps the backend's latest `health_check` result for `/readyz`
(`gateway.backend_checks`). A channel's sender (DESIGN §12) is one more backend, named
`channel:{channel_id}`; its in-flight sends are never released for another try. The secrets
of a backend's settings never reach an outcome reason, `last_error` or a log line
(`gateway.redaction`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from gateway.backend import (
    Backend,
    BackendContext,
    BackendSettings,
    Delivered,
    Delivery,
    Outcome,
    Rejected,
    Retry,
    SenderSettings,
)
from gateway.backend_checks import BackendChecks
from gateway.channel import utc_now
from gateway.circuit import CircuitBreaker, CircuitState
from gateway.customer_events import CustomerEventFollower, follows_customer_events
from gateway.customer_events import log as customer_events_log
from gateway.errors import (
    AuthenticationError,
    NotReadyError,
    PermanentDeliveryError,
    StoreUnavailableError,
    TransientDeliveryError,
)
from gateway.metrics import LaneMetrics, Metrics
from gateway.redaction import RedactingFilter, Redactor, settings_secrets
from gateway.store.base import (
    AttemptOutcome,
    AttemptRecord,
    ClaimedDelivery,
    DeliveryUpdate,
    Store,
)
from gateway.supervision import LaneHealth, Outage, Supervisor

__all__ = ["BackendState", "DeliveryEngine", "outcome_of"]

log = logging.getLogger("gateway.delivery")
BackendState = Literal["starting", "ready", "auth_failed", "stopped"]

QUICK_TRIES = 3
"""Calls of `deliver` per claim when a call fails with a blip (connection error, timeout)."""
_QUICK_WAIT_MAX_S = 0.5
_IDLE_MAX_S = 1.0
_IDLE_MIN_S = 0.02
_LEASE_MARGIN_S = 30.0
_DEADLINE_MARGIN_S = 5.0
"""Headroom over the backend's own request timeout, so its timeout (a clean outcome) wins."""
_STATS_INTERVAL_S = 5.0
_START_RETRY_MAX_S = 60.0
_STORE_RETRY_MAX_S = 5.0
"""The longest wait between claims while the store is unavailable."""
_CHECK_POLL_S = 1.0
"""How often the health-check worker looks whether a check is due."""


def _is_blip(exc: BaseException) -> bool:
    """A failure worth an immediate retry: the remote may answer a second later."""
    if isinstance(exc, TransientDeliveryError):
        return exc.retry_after is None
    return isinstance(exc, aiohttp.ClientConnectionError | TimeoutError)


def outcome_of(exc: BaseException) -> Retry | Rejected:
    """Classify a `deliver` call that raised: the outcome of every delivery in it."""
    if isinstance(exc, PermanentDeliveryError):
        return Rejected(str(exc))
    if isinstance(exc, TransientDeliveryError):
        return Retry(str(exc), after_s=exc.retry_after)
    if isinstance(exc, TimeoutError):
        return Retry("timed out")
    return Retry(f"{type(exc).__name__}: {exc}")


@dataclass(slots=True)
class _Call:
    """One call of `deliver`: when, and the error it raised if it raised."""

    started_at: datetime
    finished_at: datetime
    error: BaseException | None = None


@dataclass(slots=True)
class _Lane:
    """One backend and everything its workers share."""

    name: str
    cls: type[Backend[Any]]
    settings: BackendSettings
    breaker: CircuitBreaker
    claims: Outage
    """Claims failing because the store is unavailable."""
    redact: Redactor
    """Scrubs the secrets of the backend's settings from texts."""
    checks: BackendChecks
    metrics: LaneMetrics
    backend: Backend[Any] | None = None
    state: BackendState = "starting"
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: set[int] = field(default_factory=set)
    health: LaneHealth = field(default_factory=LaneHealth)

    def scrub(self, outcome: Outcome) -> Outcome:
        """Return `outcome` with the backend's secrets scrubbed from its reason."""
        if isinstance(outcome, Retry | Rejected):
            return replace(outcome, reason=self.redact(outcome.reason))
        return outcome

    @property
    def log_extra(self) -> dict[str, object]:
        """The lane's fields of a structured log line (`extra=`; `gateway.log_format`)."""
        return {"backend": self.name}

    @property
    def idle_s(self) -> float:
        """How long an idle worker waits before looking for due deliveries again."""
        backoff = self.settings.retry.initial_backoff.total_seconds()
        return min(_IDLE_MAX_S, max(_IDLE_MIN_S, backoff))


class DeliveryEngine:
    """Runs every backend's workers; `notify` wakes them when new deliveries are committed."""

    def __init__(
        self,
        store: Store,
        backends: Mapping[str, tuple[type[Backend[Any]], BackendSettings]],
        metrics: Metrics,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._lanes = {
            name: _Lane(
                name,
                cls,
                settings,
                CircuitBreaker(settings.circuit),
                _claim_outage(name),
                Redactor(settings_secrets(settings)),
                BackendChecks(0.0),
                metrics.lane(name),
            )
            for name, (cls, settings) in backends.items()
        }
        every_secret = Redactor(s for lane in self._lanes.values() for s in lane.redact.secrets)
        self._filters = [
            (logger, RedactingFilter(every_secret)) for logger in (log, customer_events_log)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._stats: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    def state(self, backend: str) -> BackendState:
        """Return whether a backend has started."""
        return self._lanes[backend].state

    def circuit(self, backend: str) -> CircuitState:
        """Return a backend's circuit state."""
        return self._lanes[backend].breaker.state

    def health(self, backend: str) -> LaneHealth:
        """Return which of a backend's workers are down, its restarts and its last error."""
        return self._lanes[backend].health

    def checks(self, backend: str) -> BackendChecks:
        """Return a backend's latest health check and whether its credentials are refused."""
        return self._lanes[backend].checks

    def problem(self, backend: str) -> str | None:
        """Say why a backend does not deliver now (not started, credentials refused, a lane
        stopped), or None."""
        lane = self._lanes[backend]
        if lane.state == "auth_failed":
            return "auth_failed: the remote refused the credentials (re-checking with backoff)"
        if lane.state != "ready":
            return lane.state
        return lane.health.problem()

    def warning(self, backend: str) -> str | None:
        """Say why a delivering backend's remote looks unwell (its latest health check), or None.

        Not a readiness problem: deliveries wait in the store and retry, so a CRM outage must not
        take the gateway (or the pod it is a sidecar of) out of rotation.
        """
        lane = self._lanes[backend]
        return lane.checks.problem() if lane.state == "ready" else None

    def notify(self, backends: Iterable[str]) -> None:
        """Wake the workers of `backends`: they have new deliveries."""
        for name in backends:
            if lane := self._lanes.get(name):
                lane.wake.set()

    async def start(self, http: aiohttp.ClientSession) -> None:
        """Start every backend (in the background) and its workers."""
        for logger, redacting in self._filters:
            logger.addFilter(redacting)
        for lane in self._lanes.values():
            logger = log.getChild(lane.name)
            redacting = RedactingFilter(lane.redact)
            logger.addFilter(redacting)
            self._filters.append((logger, redacting))
            lane.backend = lane.cls(BackendContext(lane.name, http, logger), lane.settings)
            self._tasks.append(asyncio.create_task(self._run(lane), name=f"backend-{lane.name}"))
            self._metrics.worker_restarts.labels(lane.name)
            self._show(lane)
        self._stats = asyncio.create_task(self._refresh_stats(), name="delivery-stats")

    async def stop(self, grace_s: float) -> None:
        """Stop claiming, let calls in flight finish within `grace_s`, release the rest."""
        self._stopping = True
        self._stopped.set()
        if self._stats is not None:
            self._stats.cancel()
            await asyncio.gather(self._stats, return_exceptions=True)
        for lane in self._lanes.values():
            lane.wake.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for lane in self._lanes.values():
            # A send cut short may have reached the provider: its lease expires and the store
            # parks it (outcome_unknown) rather than making it due again.
            if lane.in_flight and not isinstance(lane.settings, SenderSettings):
                with contextlib.suppress(StoreUnavailableError):
                    await self._store.release(sorted(lane.in_flight))
                log.info(
                    "backend %s: released %d unfinished deliveries",
                    lane.name,
                    len(lane.in_flight),
                    extra=lane.log_extra,
                )
                lane.in_flight.clear()
            if lane.backend is not None:
                try:
                    await lane.backend.close()
                except Exception:
                    log.exception("backend %s failed to close", lane.name, extra=lane.log_extra)
            lane.state = "stopped"
            self._show(lane)
        for logger, redacting in self._filters:
            logger.removeFilter(redacting)

    async def _run(self, lane: _Lane) -> None:
        if not await self._start_backend(lane):
            self._show(lane)
            return
        assert lane.backend is not None
        self._show(lane)
        supervisor = Supervisor(
            lane.name,
            lane.health,
            stopping=lambda: self._stopping,
            pause=self._pause,
            clock=self._clock,
            changed=partial(self._show, lane),
            restarts=self._metrics.worker_restarts.labels(lane.name),
            log=log,
            redact=lane.redact,
        )
        workers = [f"worker {n}" for n in range(1, lane.settings.concurrency + 1)]
        work = [supervisor.run(w, partial(self._work, lane, supervisor, w)) for w in workers]
        work.append(supervisor.run("health check", partial(self._watch, lane, supervisor)))
        if follows_customer_events(lane.backend):
            follower = CustomerEventFollower(
                self._store,
                lane.name,
                lane.backend,
                lane.settings.retry,
                self._clock,
                redact=lane.redact,
                refused=partial(self._refused, lane, recheck=False),
            )

            async def rest(seconds: float) -> None:
                supervisor.alive("customer events")
                await self._pause(seconds)

            work.append(
                supervisor.run(
                    "customer events", partial(follower.run, lambda: self._stopping, rest)
                )
            )
        await asyncio.gather(*work)

    def _show(self, lane: _Lane) -> None:
        """Publish whether the lane delivers: started, and none of its workers down."""
        up = lane.state == "ready" and lane.health.up
        self._metrics.lane_up.labels(lane.name).set(1 if up else 0)

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if the engine stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    async def _start_backend(self, lane: _Lane) -> bool:
        assert lane.backend is not None
        delay = 1.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await lane.backend.start()
            except NotReadyError as exc:
                log.warning(
                    "backend %s not ready (%s); retrying in %.0fs",
                    lane.name,
                    exc,
                    delay,
                    extra=lane.log_extra,
                )
            except AuthenticationError as exc:
                self._refused(lane, exc, recheck=True)
                await self._pause(lane.checks.due - loop.time())
                continue
            except Exception:
                log.exception(
                    "backend %s failed to start; retrying in %.0fs",
                    lane.name,
                    delay,
                    extra=lane.log_extra,
                )
            else:
                self._accepted(lane)
                lane.state = "ready"
                lane.checks.due = loop.time()
                return True
            await self._idle(lane, delay)
            delay = min(delay * 2, _START_RETRY_MAX_S)
        return False

    def _refused(self, lane: _Lane, exc: AuthenticationError, *, recheck: bool) -> None:
        """The remote refused the lane's credentials: stop claiming until a re-check passes.

        `recheck`: the refusal answers a check of the credentials (not another worker's call
        refused at the same time as the one that paused the lane).
        """
        self._metrics.backend_auth_failures.labels(lane.name).inc()
        if lane.state == "auth_failed" and not recheck:
            return
        reason = lane.redact(str(exc))
        wait = lane.checks.refuse(reason, asyncio.get_running_loop().time())
        if lane.checks.incident:
            log.warning(
                "backend %s: credentials still refused (%s); checking again in %.0fs",
                lane.name,
                reason,
                wait,
                extra=lane.log_extra,
            )
        else:
            log.error(
                "backend %s: credentials refused (%s); deliveries wait (none is counted or "
                "dead-lettered); checking them again in %.0fs, with backoff, until they work",
                lane.name,
                reason,
                wait,
                extra=lane.log_extra,
            )
        lane.checks.incident = True
        lane.state = "auth_failed"
        self._show(lane)

    def _accepted(self, lane: _Lane) -> None:
        """A check passed: a lane paused by refused credentials delivers again."""
        lane.checks.accepted()
        if lane.state == "auth_failed":
            lane.state = "ready"
            log.info(
                "backend %s: credentials accepted again; delivering",
                lane.name,
                extra=lane.log_extra,
            )
            lane.wake.set()
            self._show(lane)

    async def _watch(self, lane: _Lane, supervisor: Supervisor) -> None:
        """Run `health_check` when due: every interval, or on the backoff of refused credentials."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            wait = lane.checks.due - loop.time()
            if wait > 0:
                await self._pause(min(wait, _CHECK_POLL_S))
                continue
            await self._check(lane)
            supervisor.alive("health check")

    async def _check(self, lane: _Lane) -> None:
        """Run `health_check` once; log when the backend turns unhealthy and when it recovers."""
        assert lane.backend is not None
        checks, now = lane.checks, asyncio.get_running_loop().time()
        was_failing = checks.error is not None
        try:
            await asyncio.wait_for(lane.backend.health_check(), self._deadline(lane, 1))
        except AuthenticationError as exc:
            self._refused(lane, exc, recheck=True)
        except Exception as exc:
            detail = lane.redact(f"{type(exc).__name__}: {exc}")
            checks.checked(exc, detail, self._clock(), now)
            if not was_failing and lane.state == "ready":
                log.warning(
                    "backend %s: health check failed: %s", lane.name, detail, extra=lane.log_extra
                )
        else:
            self._accepted(lane)
            checks.checked(None, None, self._clock(), now)
            if was_failing:
                log.info("backend %s: health check passes again", lane.name, extra=lane.log_extra)

    async def _idle(self, lane: _Lane, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.wake.wait(), timeout=seconds)
        if not self._stopping:  # once stopping, the event stays set so no worker waits again
            lane.wake.clear()

    async def _work(self, lane: _Lane, supervisor: Supervisor, worker: str) -> None:
        while not self._stopping:
            await self._round(lane)
            supervisor.alive(worker)

    async def _round(self, lane: _Lane) -> None:
        """Claim due deliveries and deliver them, or wait a little if there are none."""
        assert lane.backend is not None
        if lane.state != "ready":  # credentials refused: the deliveries wait for a re-check
            await self._idle(lane, lane.idle_s)
            return
        if not lane.breaker.acquire():
            await self._idle(lane, lane.breaker.seconds_until_probe() or lane.idle_s)
            return
        probe = lane.breaker.probing
        limit = 1 if probe else lane.backend.batch_limit()
        try:
            claimed = await self._store.claim(
                lane.name, limit, now=self._clock(), lease=self._lease(lane, limit)
            )
        except StoreUnavailableError as exc:
            lane.claims.failed(exc)
            claimed = []
        else:
            lane.claims.succeeded()
        if not claimed:
            if probe:
                lane.breaker.abandon_probe()
            await self._idle(lane, lane.claims.wait_s if lane.claims.active else lane.idle_s)
            return
        await self._deliver(lane, claimed)

    def _lease(self, lane: _Lane, batch: int) -> timedelta:
        per_call = self._deadline(lane, batch) + _QUICK_WAIT_MAX_S
        return timedelta(seconds=per_call * QUICK_TRIES + _LEASE_MARGIN_S)

    @staticmethod
    def _deadline(lane: _Lane, batch: int) -> float:
        return lane.settings.timeout.total_seconds() * batch + _DEADLINE_MARGIN_S

    async def _deliver(self, lane: _Lane, claimed: list[ClaimedDelivery]) -> None:
        lane.in_flight.update(c.id for c in claimed)
        try:
            calls, outcomes = await self._call(lane, claimed)
        except AuthenticationError as exc:
            await self._release(lane, claimed)
            self._refused(lane, exc, recheck=False)
            return
        lane.checks.worked()
        outcomes = [lane.scrub(outcome) for outcome in outcomes]
        now = self._clock()
        updates = [
            self._decide(lane, delivery, outcome, calls, now)
            for delivery, outcome in zip(claimed, outcomes, strict=True)
        ]
        answered = any(not isinstance(outcome, Retry) for outcome in outcomes)
        if answered:
            lane.breaker.succeeded()
        else:
            lane.breaker.failed()
        lane.metrics.circuit.state(lane.breaker.state)
        try:
            await self._store.record(updates)
        except StoreUnavailableError as exc:
            # The leases expire and the deliveries go again: at-least-once, never lost.
            log.error(
                "backend %s: cannot record %d outcomes: %s",
                lane.name,
                len(updates),
                exc,
                extra=lane.log_extra,
            )
        lane.in_flight.difference_update(c.id for c in claimed)

    async def _release(self, lane: _Lane, claimed: list[ClaimedDelivery]) -> None:
        """Return claimed deliveries untouched: no attempt counted, due again at once."""
        ids = [c.id for c in claimed]
        try:
            await self._store.release(ids)
        except StoreUnavailableError as exc:  # their leases expire: they come back anyway
            log.error(
                "backend %s: cannot release %d deliveries: %s",
                lane.name,
                len(ids),
                exc,
                extra=lane.log_extra,
            )
        lane.in_flight.difference_update(ids)

    async def _call(
        self, lane: _Lane, claimed: list[ClaimedDelivery]
    ) -> tuple[list[_Call], Sequence[Outcome]]:
        """Call `deliver`, retrying blips in process; return the calls and the outcomes."""
        assert lane.backend is not None
        batch = [
            Delivery(c.id, c.interaction, c.attempts + 1, c.record_refs, c.document)
            for c in claimed
        ]
        deadline = self._deadline(lane, len(batch))
        calls: list[_Call] = []
        retrying = AsyncRetrying(
            stop=stop_after_attempt(QUICK_TRIES),
            wait=wait_random_exponential(multiplier=0.05, max=_QUICK_WAIT_MAX_S),
            retry=retry_if_exception(_is_blip),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    call = _Call(self._clock(), self._clock())
                    calls.append(call)
                    try:
                        outcomes = await asyncio.wait_for(lane.backend.deliver(batch), deadline)
                    except Exception as exc:
                        call.error = exc
                        raise
                    finally:
                        call.finished_at = self._clock()
        except AuthenticationError:
            raise
        except Exception as exc:
            if not isinstance(exc, TransientDeliveryError | PermanentDeliveryError | TimeoutError):
                log.warning(
                    "backend %s: deliver raised", lane.name, exc_info=exc, extra=lane.log_extra
                )
            return calls, [outcome_of(exc)] * len(batch)
        if len(outcomes) != len(batch):
            problem = f"backend returned {len(outcomes)} outcomes for {len(batch)} deliveries"
            log.error("backend %s: %s", lane.name, problem, extra=lane.log_extra)
            return calls, [Retry(problem)] * len(batch)
        lane.metrics.immediate_retries.inc((len(calls) - 1) * len(batch))
        return calls, outcomes

    def _decide(
        self,
        lane: _Lane,
        delivery: ClaimedDelivery,
        outcome: Outcome,
        calls: list[_Call],
        now: datetime,
    ) -> DeliveryUpdate:
        """Turn one delivery's outcome into its next state, within the backend's retry budget."""
        metrics, retry = lane.metrics, lane.settings.retry
        # Calls before the last raised (blips); the last one sent it unless it says otherwise.
        sent = not (isinstance(outcome, Retry) and not outcome.attempted)
        attempts = delivery.attempts + len(calls) - (0 if sent else 1)
        metrics.attempts.inc(len(calls) - (0 if sent else 1))
        log_rows = [
            AttemptRecord(
                c.started_at, c.finished_at, "retry", lane.redact(_describe(c.error) or "")
            )
            for c in calls[:-1]
        ]
        last = calls[-1]

        def with_last(outcome_name: AttemptOutcome, error: str | None) -> tuple[AttemptRecord, ...]:
            if sent:
                log_rows.append(
                    AttemptRecord(last.started_at, last.finished_at, outcome_name, error)
                )
            return tuple(log_rows)

        if isinstance(outcome, Delivered):
            metrics.delivered.inc()
            metrics.latency.observe((now - delivery.interaction.received_at).total_seconds())
            return DeliveryUpdate(
                delivery.id,
                "delivered",
                with_last("delivered", None),
                record_refs=outcome.record_refs,
                provider_message_id=outcome.provider_message_id,
            )
        if isinstance(outcome, Retry):
            age = now - delivery.created_at
            if attempts < retry.max_attempts and age < retry.max_age:
                after = min(outcome.after_s or 0.0, retry.max_age.total_seconds())
                delay = max(after, self._backoff(lane, max(attempts, 1)))
                metrics.retried.inc()
                metrics.rescheduled.inc()
                return DeliveryUpdate(
                    delivery.id,
                    "pending",
                    with_last("retry", outcome.reason),
                    next_attempt_at=now + timedelta(seconds=delay),
                    error=outcome.reason,
                )
            reason = f"gave up after {attempts} attempts: {outcome.reason}"
        else:
            reason = outcome.reason
        metrics.dead.inc()
        metrics.dead_letters.inc()
        log.warning(
            "backend %s: delivery %d dead-lettered: %s",
            lane.name,
            delivery.id,
            reason,
            extra={
                **lane.log_extra,
                "delivery_id": delivery.id,
                "interaction_id": delivery.interaction.id,
                "channel": delivery.interaction.channel.id,
            },
        )
        return DeliveryUpdate(delivery.id, "dead", with_last("dead", reason), error=reason)

    @staticmethod
    def _backoff(lane: _Lane, attempts: int) -> float:
        """Return exponential backoff with full jitter for the `attempts`-th failure."""
        retry = lane.settings.retry
        ceiling = min(
            retry.max_backoff.total_seconds(),
            retry.initial_backoff.total_seconds() * 2 ** (attempts - 1),
        )
        return random.uniform(0, ceiling)

    async def _refresh_stats(self) -> None:
        metrics = self._metrics
        while not self._stopping:
            try:
                stats = await self._store.queue_stats(self._clock())
            except StoreUnavailableError as exc:
                log.warning("cannot read delivery queue stats: %s", exc)
                stats = {}
            except Exception:
                log.exception("cannot compute delivery queue stats")
                stats = {}
            for name, lane in self._lanes.items():
                queue = stats.get(name)
                metrics.queue_depth.labels(name).set(queue.pending if queue else 0)
                metrics.dead_letter_queue.labels(name).set(queue.dead if queue else 0)
                metrics.delivery_lag.labels(name).set(queue.oldest_due_s if queue else 0.0)
                metrics.circuit_state.labels(name).state(lane.breaker.state)
            await asyncio.sleep(_STATS_INTERVAL_S)


def _claim_outage(backend: str) -> Outage:
    return Outage(
        log,
        f"backend {backend}: cannot claim deliveries",
        f"backend {backend}: store recovered; claiming deliveries again",
        min_s=_IDLE_MAX_S,
        max_s=_STORE_RETRY_MAX_S,
        backend=backend,
    )


def _describe(error: BaseException | None) -> str | None:
    return None if error is None else outcome_of(error).reason
