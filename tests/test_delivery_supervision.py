"""Never stuck: an unreadable row fails alone, crashed workers come back, outages log once."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import orjson
import pytest

from gateway import delivery, supervision
from gateway.errors import StoreUnavailableError
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import SECRET, message, webhook_backend
from tests.receiver import Receiver
from tests.waiting import eventually

Corruption = Callable[[dict[str, Any], str], str]
"""Turns a stored body (parsed, and as text) into the text an operator's mistake left there."""

LEAK = "leak-7700900123"
"""A value planted in corrupt rows: it must never appear in a reason, a log line or an answer."""


def _set(path: str, value: Any) -> Corruption:
    def corrupt(body: dict[str, Any], text: str) -> str:
        *parents, last = path.split(".")
        node: Any = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
        return orjson.dumps(body).decode()

    return corrupt


def _drop(key: str) -> Corruption:
    def corrupt(body: dict[str, Any], text: str) -> str:
        del body[key]
        return orjson.dumps(body).decode()

    return corrupt


CORRUPTIONS: dict[str, tuple[Corruption, str]] = {
    # name: (corruption, what the reason names)
    "invalid JSON": (lambda body, text: text[: len(text) // 2], "body: Invalid JSON"),
    "not an object": (lambda body, text: f'["{LEAK}"]', "body: Input should be"),
    "wrong type": (_set("direction", LEAK), "direction: Input should be"),
    "wrong nested type": (_set("content", LEAK), "content: Input should be"),
    "number for text": (_set("content.text", 12345), "content.text: Input should be"),
    "missing field": (_drop("external_id"), "external_id: Field required"),
    "too long": (_set("external_id", LEAK * 100), "external_id: String should have at most"),
    "unknown field": (_set(LEAK, 1), "<key>: Extra inputs"),
    "unknown nested field": (_set(f"content.{LEAK}", 1), "content.<key>: Extra inputs"),
    "own validator quoting the value": (
        _set("sender.identities.0.value", LEAK),
        "sender.identities.0.value: value_error",
    ),
    "unknown interaction type": (_set("type", LEAK), "type: Input should be"),
    "more than five errors": (
        lambda body, text: "{}",
        "type: Field required; direction: Field required; channel: Field required;"
        " external_id: Field required; occurred_at: Field required (and 1 more)",
    ),
}


def _config(backends: dict[str, Any]) -> dict[str, Any]:
    return {"channels": {"web": {"type": "generic", "secret": SECRET}}, "backends": backends}


async def _post(gut: GatewayUnderTest, body: dict[str, Any]) -> str:
    response = await gut.post_signed("web", body, SECRET)
    assert response.status == 200, await response.text()
    return str((await response.json())["ids"][0])


def _metric(gut: GatewayUnderTest, name: str, **labels: str) -> float:
    return gut.gateway.metrics.registry.get_sample_value(name, labels) or 0.0


async def _stop(gut: GatewayUnderTest) -> None:
    await gut.admin.close()
    await gut.client.close()


@pytest.mark.parametrize("case", CORRUPTIONS)
async def test_a_row_that_no_longer_validates_is_dead_lettered_alone(
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    corrupt, named = CORRUPTIONS[case]
    # Three messages of one customer, stored by a gateway that does not deliver to `hook` yet.
    first = await gateway_factory(_config({"audit": {"type": "log"}}))
    ids = [await _post(first, message(f"m-{n}")) for n in range(3)]
    path = first.gateway.config.storage.url.removeprefix("sqlite:///")
    await _stop(first)
    good, bad = [ids[0], ids[2]], ids[1]
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        [(text,)] = db.execute("SELECT body FROM interactions WHERE id = ?", (bad,))
        db.execute(
            "UPDATE interactions SET body = ? WHERE id = ?",
            (corrupt(orjson.loads(text), text), bad),
        )
        db.execute(
            "INSERT INTO deliveries (interaction_id, backend, order_key, next_attempt_at,"
            " created_at, updated_at, waiting) SELECT id, 'hook', customer_id,"
            " '2000-01-01T00:00:00.000000Z', '2000-01-01T00:00:00.000000Z',"
            " '2000-01-01T00:00:00.000000Z', rowid <> (SELECT min(rowid) FROM interactions)"
            " FROM interactions ORDER BY rowid"
        )

    with caplog.at_level(logging.WARNING, logger="gateway"):
        gut = await gateway_factory(_config({"hook": webhook_backend(receiver.url)}))

        async def all_answered() -> bool:
            listed = await gut.admin.get("/admin/deliveries?state=dead&backend=hook")
            dead = (await listed.json())["deliveries"]
            return len(receiver.arrivals) == 2 and len(dead) == 1

        await eventually(all_answered)

    assert receiver.delivered_ids == good  # in order, past the row that failed
    assert receiver.problems == []
    listed = await (await gut.admin.get("/admin/deliveries?state=dead&backend=hook")).json()
    [dead] = listed["deliveries"]
    assert dead["interaction_id"] == bad
    assert dead["attempts"] == 0  # nothing was sent
    assert dead["last_error"].startswith("stored interaction no longer validates: ")
    assert named in dead["last_error"]
    shown = (await (await gut.admin.get("/admin/backends")).json())["backends"]
    assert shown[0]["state"] == "ready"
    assert shown[0]["lane"]["up"] is True
    assert shown[0]["deliveries"]["dead"] == 1
    logged = [r.getMessage() for r in caplog.records if f"delivery {dead['id']}" in r.getMessage()]
    assert logged == [f"backend hook: delivery {dead['id']} dead-lettered: {dead['last_error']}"]
    for leaked in (LEAK, "Jane Doe", "+15551234567", "My order"):
        assert leaked not in dead["last_error"]
        assert leaked not in caplog.text
    assert (await gut.client.get("/readyz")).status == 200


@pytest.fixture
def fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "RESTART_MIN_S", 0.05)
    monkeypatch.setattr(supervision, "RESTART_MAX_S", 0.4)


@pytest.mark.usefixtures("fast_restarts")
@pytest.mark.parametrize(
    ("method", "worker"), [("claim", "worker 1"), ("merges_after", "customer events")]
)
async def test_a_crashed_worker_is_logged_restarted_and_reported_until_it_recovers(
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    worker: str,
) -> None:
    gut = await gateway_factory(_config({"hook": webhook_backend(receiver.url, concurrency=1)}))
    store = gut.gateway.store
    working = getattr(store, method)
    faulty = True

    async def sometimes_broken(*args: Any, **kwargs: Any) -> Any:
        if faulty:
            raise RuntimeError("injected fault")
        return await working(*args, **kwargs)

    async def readyz() -> tuple[int, dict[str, Any]]:
        response = await gut.client.get("/readyz")
        return response.status, await response.json()

    async def lane() -> dict[str, Any]:
        [backend] = (await (await gut.admin.get("/admin/backends")).json())["backends"]
        return backend["lane"]  # type: ignore[no-any-return]

    with caplog.at_level(logging.INFO, logger="gateway.delivery"):
        monkeypatch.setattr(store, method, sometimes_broken)

        async def crashed_thrice() -> bool:
            return bool((await lane())["restarts"] >= 3)

        await eventually(crashed_thrice)
        status, body = await readyz()
        assert status == 503
        assert body["problems"] == [
            "backend hook: lane stopped: RuntimeError (1 worker(s) restarting)"
        ]
        shown = await lane()
        assert shown["up"] is False
        assert shown["down"] == {worker: "RuntimeError"}
        assert shown["last_error"] == "RuntimeError: injected fault"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", shown["last_error_at"])
        assert _metric(gut, "gateway_delivery_lane_up", backend="hook") == 0
        assert _metric(gut, "gateway_delivery_worker_restarts_total", backend="hook") >= 3
        interaction_id = await _post(gut, message())  # ingest goes on meanwhile

        faulty = False

        async def delivering_again() -> bool:
            return (await readyz())[0] == 200 and interaction_id in receiver.delivered_ids

        await eventually(delivering_again)

    assert (await lane())["up"] is True
    assert _metric(gut, "gateway_delivery_lane_up", backend="hook") == 1
    crashes = [r for r in caplog.records if "stopped by RuntimeError" in r.getMessage()]
    assert len(crashes) >= 3
    assert all(r.levelno == logging.ERROR and r.exc_info for r in crashes)
    assert crashes[0].getMessage().startswith(f"backend hook: {worker} stopped by RuntimeError")
    delays = [float(r.args[-1]) for r in crashes]  # type: ignore[index, arg-type]
    assert delays[0] == supervision.RESTART_MIN_S
    assert delays == sorted(delays)  # exponential, capped
    assert max(delays) <= supervision.RESTART_MAX_S
    assert [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()] == [
        f"backend hook: {worker} recovered"
    ]
    assert receiver.problems == []


OUTAGES = {
    "claim": (
        "gateway.delivery",
        "backend hook: cannot claim deliveries",
        "backend hook: store recovered; claiming deliveries again",
    ),
    "merges_after": (
        "gateway.customer_events",
        "backend hook: cannot read merges or erasures",
        "backend hook: store recovered; following merges and erasures again",
    ),
}


@pytest.mark.parametrize("method", OUTAGES)
async def test_a_store_outage_is_logged_once_and_its_end_once(
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
) -> None:
    logger, failing, recovered = OUTAGES[method]
    gut = await gateway_factory(_config({"hook": webhook_backend(receiver.url, concurrency=2)}))
    store = gut.gateway.store
    working = getattr(store, method)
    calls = 0
    down = True

    async def unavailable(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if down:
            raise StoreUnavailableError("the store could not be written")
        return await working(*args, **kwargs)

    def lines() -> list[tuple[str, str]]:
        return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger]

    with caplog.at_level(logging.INFO, logger=logger):
        monkeypatch.setattr(store, method, unavailable)

        async def failed_often() -> bool:
            return calls >= 3

        await eventually(failed_often)
        assert (await gut.client.get("/readyz")).status == 200  # the store itself answers
        interaction_id = await _post(gut, message())
        down = False

        async def recovered_and_delivered() -> bool:
            return len(lines()) == 2 and interaction_id in receiver.delivered_ids

        await eventually(recovered_and_delivered, within=40.0)  # the backoff may reach 16 s

    assert lines() == [
        (
            "ERROR",
            f"{failing}: the store could not be written"
            " (logged once; backing off until it recovers)",
        ),
        ("INFO", recovered),
    ]
    assert _metric(gut, "gateway_delivery_worker_restarts_total", backend="hook") == 0


async def test_the_queue_stats_task_survives_an_unexpected_error(
    gateway_factory: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "_STATS_INTERVAL_S", 0.05)
    gut = await gateway_factory(_config({"audit": {"type": "log"}}))
    store = gut.gateway.store
    working = store.queue_stats
    calls = 0

    async def broken_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected fault")
        return await working(*args, **kwargs)

    with caplog.at_level(logging.ERROR, logger="gateway.delivery"):
        monkeypatch.setattr(store, "queue_stats", broken_once)

        async def refreshed_again() -> bool:
            return calls >= 3

        await eventually(refreshed_again)

    [logged] = [r for r in caplog.records if "queue stats" in r.getMessage()]
    assert logged.getMessage() == "cannot compute delivery queue stats"
    assert logged.exc_info
