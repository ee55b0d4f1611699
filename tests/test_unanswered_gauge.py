"""The unanswered-conversations gauge at a bounded cost: a scrape never waits long for a slow
count, one count runs at a time, and a slow count is not repeated before its cool-down."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Gauge

from gateway import unanswered_gauge
from gateway.errors import StoreUnavailableError
from gateway.unanswered_gauge import COOLDOWN_FACTOR, UnansweredGauge


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gauge() -> Gauge:
    return Gauge("unanswered", "test", registry=CollectorRegistry())


def shown_value(shown: Gauge) -> float:
    [metric] = shown.collect()
    [sample] = metric.samples
    return sample.value


async def test_a_quick_count_is_fresh_at_every_scrape() -> None:
    values = iter([3, 5])
    shown = gauge()
    counter = UnansweredGauge(lambda: asyncio.sleep(0, next(values)), shown, Clock())
    await counter.refresh()
    assert shown_value(shown) == 3
    await counter.refresh()
    assert shown_value(shown) == 5


async def test_a_slow_count_keeps_the_scrape_short_and_cools_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(unanswered_gauge, "SCRAPE_WAIT_S", 0.01)
    clock, release = Clock(), asyncio.Event()
    calls: list[float] = []
    shown = gauge()
    shown.set(7)

    async def slow() -> int:
        calls.append(clock.now)
        await release.wait()
        clock.now += 2.0  # the count took two seconds
        return 9

    counter = UnansweredGauge(slow, shown, clock)
    await asyncio.wait_for(counter.refresh(), 1.0)  # returns though the count runs on
    assert shown_value(shown) == 7  # the last value meanwhile
    await counter.refresh()
    assert len(calls) == 1  # one count at a time
    release.set()
    await asyncio.sleep(0.01)
    assert shown_value(shown) == 9
    clock.now += COOLDOWN_FACTOR * 2.0 - 1.0
    await counter.refresh()
    assert len(calls) == 1  # still cooling down: 2 s of counting buys 20 s of rest
    clock.now += 1.0
    await counter.refresh()
    assert len(calls) == 2
    await counter.close()


async def test_a_store_that_cannot_be_read_keeps_the_last_value() -> None:
    shown = gauge()
    shown.set(4)

    async def unavailable() -> int:
        raise StoreUnavailableError("down")

    await UnansweredGauge(unavailable, shown, Clock()).refresh()
    assert shown_value(shown) == 4
