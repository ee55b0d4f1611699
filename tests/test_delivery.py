"""The delivery engine end to end: gateway → `webhook` backend → a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.conftest import on_store
from tests.payloads import SECRET, message, webhook_backend
from tests.raw_http import Hangup, answer, raw_server
from tests.receiver import Receiver
from tests.waiting import eventually


@pytest.fixture
def gateway_factory(gateway_factory: GatewayFactory, store_url: str) -> GatewayFactory:
    """Every test of this module on both stores."""
    return on_store(gateway_factory, store_url)


def config_for(receiver: Receiver, **backend: Any) -> dict[str, Any]:
    return {
        "channels": {"web": {"type": "generic", "secret": SECRET}},
        "backends": {"hook": webhook_backend(receiver.url, **backend)},
    }


async def post(gut: GatewayUnderTest, body: dict[str, Any]) -> str:
    response = await gut.post_signed("web", body, SECRET)
    assert response.status == 200, await response.text()
    return str((await response.json())["ids"][0])


async def delivery(gut: GatewayUnderTest, interaction_id: str) -> dict[str, Any]:
    shown = await (await gut.admin.get(f"/admin/interactions/{interaction_id}")).json()
    [only] = shown["deliveries"]
    return only  # type: ignore[no-any-return]


async def reaches(gut: GatewayUnderTest, interaction_id: str, state: str) -> dict[str, Any]:
    async def check() -> bool:
        return bool((await delivery(gut, interaction_id))["state"] == state)

    await eventually(check)
    return await delivery(gut, interaction_id)


def respond(status: int, **headers: str) -> web.Response:
    return web.json_response({"error": f"status {status}"}, status=status, headers=headers)


def metric(gut: GatewayUnderTest, name: str, **labels: str) -> float:
    return gut.gateway.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_503_three_times_then_delivered(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    async def flaky(interaction: Interaction, arrival: int) -> web.Response:
        return respond(503) if arrival <= 3 else web.json_response({})

    receiver.behaviour = flaky
    gut = await gateway_factory(config_for(receiver))
    interaction_id = await post(gut, message())

    delivered = await reaches(gut, interaction_id, "delivered")

    assert delivered["attempts"] == 4
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry"] * 3 + ["delivered"]
    assert "HTTP 503" in delivered["attempt_log"][0]["error"]
    assert receiver.delivered_ids == [interaction_id] * 4
    assert {a.webhook_id for a in receiver.arrivals} == {interaction_id}  # stable across retries
    assert receiver.problems == []
    assert metric(gut, "gateway_deliveries_total", backend="hook", outcome="delivered") == 1
    assert metric(gut, "gateway_deliveries_total", backend="hook", outcome="retried") == 3
    assert metric(gut, "gateway_delivery_latency_seconds_count", backend="hook") == 1


async def test_429_retry_after_is_honoured(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    async def limited(interaction: Interaction, arrival: int) -> web.Response:
        return respond(429, **{"Retry-After": "1"}) if arrival == 1 else web.json_response({})

    receiver.behaviour = limited
    gut = await gateway_factory(config_for(receiver))
    interaction_id = await post(gut, message())

    await reaches(gut, interaction_id, "delivered")

    first, second = receiver.arrivals
    assert second.at - first.at >= 1.0  # not earlier than the receiver asked
    assert receiver.problems == []


async def test_400_dead_letters_then_replays_after_the_fix(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    fixed = False

    async def picky(interaction: Interaction, arrival: int) -> web.Response:
        if fixed:
            return web.json_response({})
        return web.json_response({"error": "unknown property 'text'"}, status=400)

    receiver.behaviour = picky
    gut = await gateway_factory(config_for(receiver))
    interaction_id = await post(gut, message())

    dead = await reaches(gut, interaction_id, "dead")
    assert dead["attempts"] == 1
    assert "HTTP 400" in dead["last_error"]
    assert "unknown property 'text'" in dead["last_error"]
    listed = await (await gut.admin.get("/admin/deliveries?state=dead&backend=hook")).json()
    assert [d["id"] for d in listed["deliveries"]] == [dead["id"]]
    assert metric(gut, "gateway_dead_letters_total", backend="hook") == 1

    fixed = True
    replay = await gut.admin.post(f"/admin/deliveries/{dead['id']}/replay")
    assert await replay.json() == {"replayed": 1}

    delivered = await reaches(gut, interaction_id, "delivered")
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["dead", "delivered"]
    again = await gut.admin.post(f"/admin/deliveries/{dead['id']}/replay")
    assert again.status == 409
    assert receiver.problems == []


async def test_replay_every_dead_letter_of_a_backend(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    fixed = False

    async def picky(interaction: Interaction, arrival: int) -> web.Response:
        return web.json_response({}) if fixed else respond(422)

    receiver.behaviour = picky
    gut = await gateway_factory(config_for(receiver))
    ids = [await post(gut, message(f"m-{n}", phone=f"+1555000000{n}")) for n in range(3)]
    for interaction_id in ids:
        await reaches(gut, interaction_id, "dead")

    fixed = True
    unknown = await gut.admin.post("/admin/dead-letters/replay?backend=nope")
    assert unknown.status == 400
    replay = await gut.admin.post("/admin/dead-letters/replay?backend=hook")
    assert await replay.json() == {"replayed": 3}
    for interaction_id in ids:
        await reaches(gut, interaction_id, "delivered")


async def test_timeout_is_retried(gateway_factory: GatewayFactory, receiver: Receiver) -> None:
    async def slow_once(interaction: Interaction, arrival: int) -> web.Response:
        if arrival == 1:
            await asyncio.sleep(1.0)
        return web.json_response({})

    receiver.behaviour = slow_once
    gut = await gateway_factory(config_for(receiver, timeout="200ms"))
    interaction_id = await post(gut, message())

    delivered = await reaches(gut, interaction_id, "delivered")

    first = delivered["attempt_log"][0]
    assert first["outcome"] == "retry"
    assert "timeout" in first["error"]


async def test_a_2xx_cut_off_by_a_reset_is_retried_not_delivered(
    gateway_factory: GatewayFactory,
) -> None:
    def cut_twice(request: int) -> tuple[bytes, Hangup]:
        if request <= 2:
            return answer(200, b'{"record_refs": ["con', declared=64), "reset"
        return answer(
            200, b'{"record_refs": ["contact 1"]}', Content_Type="application/json"
        ), "close"

    async with raw_server(cut_twice) as server:
        config = {
            "channels": {"web": {"type": "generic", "secret": SECRET}},
            "backends": {"hook": webhook_backend(server.url)},
        }
        gut = await gateway_factory(config)
        interaction_id = await post(gut, message())

        delivered = await reaches(gut, interaction_id, "delivered")

    assert server.requests == 3
    assert delivered["attempts"] == 3
    log = delivered["attempt_log"]
    assert [a["outcome"] for a in log] == ["retry", "retry", "delivered"]
    assert "answer cut off before its end" in log[0]["error"]
    assert metric(gut, "gateway_deliveries_total", backend="hook", outcome="retried") == 2


async def test_circuit_opens_and_recovers(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    down = True

    async def outage(interaction: Interaction, arrival: int) -> web.Response:
        return respond(503) if down else web.json_response({})

    receiver.behaviour = outage
    gut = await gateway_factory(
        config_for(
            receiver,
            circuit={"failure_threshold": 3, "reset_timeout": "1s"},
            retry={"initial_backoff": "10ms", "max_backoff": "20ms", "max_attempts": 100},
        )
    )
    interaction_id = await post(gut, message())

    async def circuit() -> str:
        backends = await (await gut.admin.get("/admin/backends")).json()
        return str(backends["backends"][0]["circuit"])

    async def is_open() -> bool:
        return await circuit() == "open"

    await eventually(is_open)
    calls_when_opened = len(receiver.arrivals)
    assert calls_when_opened == 3
    await asyncio.sleep(0.5)  # well inside reset_timeout: nothing may be sent while open
    assert len(receiver.arrivals) == calls_when_opened
    assert metric(gut, "gateway_circuit_state", backend="hook", gateway_circuit_state="open") == 1

    down = False
    await reaches(gut, interaction_id, "delivered")
    assert await circuit() == "closed"
    assert receiver.problems == []


async def test_customer_order_kept_while_others_flow_past_a_poison_message(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    async def poison(interaction: Interaction, arrival: int) -> web.Response:
        return respond(503) if interaction.external_id == "a1" else web.json_response({})

    receiver.behaviour = poison
    gut = await gateway_factory(
        config_for(
            receiver,
            retry={"initial_backoff": "50ms", "max_backoff": "100ms", "max_attempts": 5},
        )
    )
    alice, bob = "+15550000001", "+15550000002"
    ids = {}
    for external_id, phone in (
        ("a1", alice), ("a2", alice), ("a3", alice), ("b1", bob), ("b2", bob), ("b3", bob),
    ):  # fmt: skip
        ids[external_id] = await post(gut, message(external_id, phone=phone))

    for external_id in ("a2", "a3", "b1", "b2", "b3"):
        await reaches(gut, ids[external_id], "delivered")
    dead = await reaches(gut, ids["a1"], "dead")

    assert dead["attempts"] == 5
    arrived = receiver.external_ids()
    last_a1 = max(i for i, e in enumerate(arrived) if e == "a1")
    # Alice's queue waited for her poison message, then went on in order ...
    assert arrived.index("a2") > last_a1
    assert arrived.index("a2") < arrived.index("a3")
    # ... while Bob's went past it, in his order.
    assert arrived.index("b3") < last_a1
    assert arrived.index("b1") < arrived.index("b2") < arrived.index("b3")
    assert receiver.problems == []


async def test_backends_report_state_and_queue(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gut = await gateway_factory(config_for(receiver))
    await reaches(gut, await post(gut, message()), "delivered")
    backends = await (await gut.admin.get("/admin/backends")).json()
    [hook] = backends["backends"]
    assert (hook["name"], hook["type"], hook["state"], hook["circuit"]) == (
        "hook", "webhook", "ready", "closed",
    )  # fmt: skip
    assert hook["deliveries"]["delivered"] == 1
    assert hook["lag_s"] == 0.0


async def test_admin_delivery_list_validates_its_query(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gut = await gateway_factory(config_for(receiver))
    for query, code in (
        ("state=lost", "bad_request"),
        ("limit=0", "bad_request"),
        ("limit=x", "bad_request"),
        ("cursor=abc", "bad_cursor"),
    ):
        response = await gut.admin.get(f"/admin/deliveries?{query}")
        assert response.status == 400, query
        assert (await response.json())["error"]["code"] == code
