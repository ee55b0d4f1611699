"""`BackendConformance`: the tests every backend plugin runs, by subclassing (via gateway.testing).

A backend's test module subclasses it, names its backend class, a fake of its CRM (a `FakeCRM`
subclass) and a settings block pointing at it; pytest then collects these tests for it: every
interaction is delivered and recorded once, 5xx, timeouts and dropped connections are `Retry`,
429 honours `Retry-After`, 401 and 403 raise `AuthenticationError`, the CRM's validation error is
`Rejected` with its text, one refused item in a batch leaves the others delivered, delivering
again writes nothing new, and the backend's secret never shows in an outcome, an exception or a
log record (the fake echoes it back in its error bodies to tempt it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import aiohttp
import pytest

from gateway.backend import Backend, BackendContext, Delivered, Delivery, Outcome, Rejected, Retry
from gateway.delivery import outcome_of
from gateway.errors import AuthenticationError, DeliveryError
from gateway.fake_crm import FakeCRM
from gateway.schema import Interaction
from gateway.test_builders import customer_interactions

__all__ = ["BackendConformance"]

_ALWAYS = 10_000
"""A fault count no test exhausts: every request of the test gets the fault."""
_AFTER_S_TOLERANCE = 1.0
_LEAK_STATUSES = (400, 401, 403, 404, 422, 429, 500, 503)


class _Records(logging.Handler):
    """Keeps every log record emitted while a test runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class BackendConformance:
    """Subclass as `class TestMyCrmConformance(BackendConformance)` and fill in:

    - `backend_type`: the backend class; `secret`: the credential in `settings()`, which must
      never leak; `rejection`: `(status, body, message)` of the CRM's validation error, with the
      message the `Rejected` reason must contain;
    - `make_crm()`: an unstarted fake of the CRM that checks `secret` (`FakeCRM(token=...)`);
    - `settings(crm)`: the backend's YAML block (with `type`) pointing at `crm.url`;
    - `records(crm)`: how many interaction records the fake now holds;
    - `fail_item(crm, interaction)`: make the fake refuse (4xx) just that interaction's write;
    - optionally `rate_limit_default_s` (the `Retry.after_s` for a 429 without `Retry-After`,
      None: left to the host), `checks_health = False` (a `health_check` that calls nothing),
      and `interactions()` (default: one customer's SMS, call and e-mail).

    The suite validates the settings through the backend's `settings_model` with `timeout` set
    to `timeout_s`, builds the backend with a real `aiohttp.ClientSession`, starts it against the
    healthy fake, then injects faults and calls `deliver` and `health_check` directly.
    """

    backend_type: ClassVar[type[Backend[Any]]]
    secret: ClassVar[str]
    rejection: ClassVar[tuple[int, Any, str]]
    rate_limit_default_s: ClassVar[float | None] = None
    checks_health: ClassVar[bool] = True
    """False when `health_check` makes no request (then it is only checked to pass)."""
    timeout_s: ClassVar[float] = 1.0
    backend_name: ClassVar[str] = "conformance"

    def make_crm(self) -> FakeCRM:
        """Return the fake CRM, not yet started, checking the backend's credentials."""
        raise NotImplementedError

    def settings(self, crm: FakeCRM) -> dict[str, Any]:
        """Return the backend's settings block (with `type`) pointing at `crm.url`."""
        raise NotImplementedError

    def records(self, crm: FakeCRM) -> int:
        """Return how many interaction records the CRM now holds."""
        raise NotImplementedError

    def fail_item(self, crm: FakeCRM, interaction: Interaction) -> None:
        """Make the fake refuse `interaction`'s write with a validation error (4xx) only."""
        raise NotImplementedError

    def interactions(self) -> list[Interaction]:
        """Return the interactions the tests deliver (at least two, of one customer)."""
        return customer_interactions()

    def make_backend(self, crm: FakeCRM, http: aiohttp.ClientSession) -> Backend[Any]:
        """Return the backend under test, its settings validated, talking to `crm`."""
        block = {**self.settings(crm), "timeout": self.timeout_s}
        settings = self.backend_type.settings_model.model_validate(block)
        logger = logging.getLogger(f"gateway.delivery.{self.backend_name}")
        return self.backend_type(BackendContext(self.backend_name, http, logger), settings)

    @pytest.fixture
    async def crm(self) -> AsyncIterator[FakeCRM]:
        """The started fake CRM; after the test, it must have seen no wrong request."""
        fake = self.make_crm()
        await fake.start()
        try:
            yield fake
        finally:
            await fake.close()
        fake.assert_ok()

    @pytest.fixture
    async def backend(
        self, crm: FakeCRM, caplog: pytest.LogCaptureFixture
    ) -> AsyncIterator[Backend[Any]]:
        """The started backend; after the test, no log record may show the secret."""
        caplog.set_level(logging.DEBUG)
        logs = _Records()
        logging.getLogger().addHandler(logs)
        try:
            async with aiohttp.ClientSession() as http:
                backend = self.make_backend(crm, http)
                await backend.start()
                try:
                    yield backend
                finally:
                    await backend.close()
        finally:
            logging.getLogger().removeHandler(logs)
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self._assert_no_secret([formatter.format(record) for record in logs.records], "a log")

    @staticmethod
    def deliveries(
        interactions: Sequence[Interaction], record_refs: Sequence[str] = (), attempt: int = 1
    ) -> list[Delivery]:
        """Return `interactions` as deliveries (ids 1, 2, ...)."""
        return [
            Delivery(n, interaction, attempt, tuple(record_refs))
            for n, interaction in enumerate(interactions, start=1)
        ]

    async def deliver(self, backend: Backend[Any], deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Deliver in calls of `batch_limit()`; fail if a call returns the wrong count or hangs.

        A call that raises a `DeliveryError`, a timeout or a connection error stands for that
        outcome of its whole batch, as in the host; `AuthenticationError` propagates.
        """
        outcomes: list[Outcome] = []
        limit = backend.batch_limit()
        for start in range(0, len(deliveries), limit):
            batch = deliveries[start : start + limit]
            deadline = self.timeout_s * 3 * len(batch) + 10
            call = asyncio.ensure_future(backend.deliver(batch))
            done, _ = await asyncio.wait([call], timeout=deadline)
            if not done:
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await call
                pytest.fail(f"deliver did not return within {deadline:g}s: is `timeout` applied?")
            try:
                answered = call.result()
            except (DeliveryError, TimeoutError, aiohttp.ClientError) as exc:
                answered = [outcome_of(exc)] * len(batch)
            assert len(answered) == len(batch), "deliver must return one outcome per delivery"
            outcomes += answered
        self._assert_no_secret(_reasons(outcomes), "an outcome reason")
        return outcomes

    async def test_delivers_every_interaction_once(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """Every interaction is `Delivered`, and the CRM holds one record of each."""
        outcomes = await self.deliver(backend, self.deliveries(self.interactions()))
        assert all(isinstance(o, Delivered) for o in outcomes), outcomes
        assert self.records(crm) == len(outcomes)

    async def test_server_errors_are_retried(self, crm: FakeCRM, backend: Backend[Any]) -> None:
        """A 500 or 503 on every request makes every outcome `Retry`; nothing is recorded."""
        for status in (500, 503):
            crm.fail_fraction(1.0, status=status)
            outcomes = await self.deliver(backend, self.deliveries(self.interactions()))
            crm.clear_faults()
            assert all(isinstance(o, Retry) for o in outcomes), (status, outcomes)
        assert self.records(crm) == 0

    async def test_timeouts_are_retried(self, crm: FakeCRM, backend: Backend[Any]) -> None:
        """A CRM that never answers makes every outcome `Retry` within the backend's timeout."""
        crm.hang(_ALWAYS)
        outcomes = await self.deliver(backend, self.deliveries(self.interactions()))
        assert all(isinstance(o, Retry) for o in outcomes), outcomes

    async def test_dropped_connections_are_retried(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """A connection dropped without an answer makes every outcome `Retry`."""
        crm.reset(_ALWAYS)
        outcomes = await self.deliver(backend, self.deliveries(self.interactions()))
        assert all(isinstance(o, Retry) for o in outcomes), outcomes
        assert self.records(crm) == 0

    async def test_rate_limits_honour_retry_after(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """429 with `Retry-After: 7` is `Retry(after_s≈7)` for every delivery."""
        crm.rate_limit(_ALWAYS, retry_after=7)
        outcomes = await self.deliver(backend, self.deliveries(self.interactions()))
        for outcome in outcomes:
            assert isinstance(outcome, Retry), outcomes
            assert outcome.after_s is not None, outcome
            assert abs(outcome.after_s - 7) <= _AFTER_S_TOLERANCE, outcome

    async def test_rate_limits_without_retry_after(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """429 without `Retry-After` is `Retry(after_s=rate_limit_default_s)`."""
        crm.rate_limit(_ALWAYS)
        outcomes = await self.deliver(backend, self.deliveries(self.interactions()))
        expected = self.rate_limit_default_s
        for outcome in outcomes:
            assert isinstance(outcome, Retry), outcomes
            if expected is None:
                assert outcome.after_s is None, outcome
            else:
                assert outcome.after_s is not None, outcome
                assert abs(outcome.after_s - expected) <= _AFTER_S_TOLERANCE, outcome

    async def test_refused_credentials_raise_authentication_error(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """401 and 403 raise `AuthenticationError` from `deliver` and `health_check`."""
        for status in (401, 403):
            crm.fail_next(_ALWAYS, status=status)
            with pytest.raises(AuthenticationError) as caught:
                await self.deliver(backend, self.deliveries(self.interactions())[:1])
            self._assert_no_secret(_exception_texts(caught.value), "an exception")
            if self.checks_health:
                with pytest.raises(AuthenticationError):
                    await backend.health_check()
            crm.clear_faults()
        assert self.records(crm) == 0

    async def test_health_check_reports_the_remote(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """`health_check` passes against the healthy CRM and raises while it answers 503."""
        await backend.health_check()
        if not self.checks_health:
            return
        crm.fail_fraction(1.0, status=503)
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any error says "unhealthy"
            await asyncio.wait_for(backend.health_check(), self.timeout_s * 3 + 10)
        assert not isinstance(caught.value, AuthenticationError), caught.value
        self._assert_no_secret(_exception_texts(caught.value), "an exception")
        crm.clear_faults()
        await backend.health_check()

    async def test_validation_errors_are_rejected_with_the_crm_text(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """The CRM's validation error (`rejection`) is `Rejected`, its reason the CRM's text."""
        status, body, message = self.rejection
        crm.fail_next(status=status, body=body)
        [outcome] = await self.deliver(backend, self.deliveries(self.interactions())[:1])
        assert isinstance(outcome, Rejected), outcome
        assert message in outcome.reason, outcome

    async def test_one_refused_item_leaves_the_others_delivered(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """With the second interaction refused, it alone is `Rejected`: the others arrive."""
        deliveries = self.deliveries(self.interactions())
        assert len(deliveries) >= 2, "interactions() must return at least two interactions"
        self.fail_item(crm, deliveries[1].interaction)
        outcomes = await self.deliver(backend, deliveries)
        assert isinstance(outcomes[1], Rejected), outcomes
        others = outcomes[:1] + outcomes[2:]
        assert all(isinstance(o, Delivered) for o in others), outcomes
        assert self.records(crm) == len(deliveries) - 1

    async def test_delivering_again_writes_nothing_new(
        self, crm: FakeCRM, backend: Backend[Any]
    ) -> None:
        """Delivering the same interactions again, with or without the record refs the first
        delivery returned, is `Delivered` and leaves the CRM's record count unchanged."""
        interactions = self.interactions()
        first = await self.deliver(backend, self.deliveries(interactions))
        assert all(isinstance(o, Delivered) for o in first), first
        count = self.records(crm)
        refs = list(
            dict.fromkeys(r for o in first if isinstance(o, Delivered) for r in o.record_refs)
        )
        for record_refs in ((), refs):
            again = await self.deliver(
                backend, self.deliveries(interactions, record_refs, attempt=2)
            )
            assert all(isinstance(o, Delivered) for o in again), again
            assert self.records(crm) == count, f"delivering again (refs {record_refs}) wrote"

    async def test_the_secret_never_leaks(self, crm: FakeCRM, backend: Backend[Any]) -> None:
        """Error bodies that echo the secret never bring it into reasons or exceptions."""
        settings = backend.settings
        self._assert_no_secret([repr(settings), str(settings)], "the settings' repr")
        for status in _LEAK_STATUSES:
            echo = crm.error_body(status, f"token {self.secret} refused: {self.secret}")
            crm.fail_next(_ALWAYS, status=status, body=echo, headers={"X-Echo": self.secret})
            try:
                await self.deliver(backend, self.deliveries(self.interactions()))
            except AuthenticationError as exc:
                self._assert_no_secret(_exception_texts(exc), "an exception")
            if self.checks_health:
                try:
                    await backend.health_check()
                except Exception as exc:
                    self._assert_no_secret(_exception_texts(exc), "an exception")
            crm.clear_faults()

    def _assert_no_secret(self, texts: Sequence[str], where: str) -> None:
        for text in texts:
            assert self.secret not in text, f"the secret shows in {where}: {text[:300]}"


def _reasons(outcomes: Sequence[Outcome]) -> list[str]:
    return [o.reason for o in outcomes if isinstance(o, Retry | Rejected)]


def _exception_texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
