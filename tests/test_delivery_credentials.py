"""Refused credentials cost no delivery anything; health checks feed /readyz; secrets never show."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web

from gateway import backend_checks
from gateway.builtins.webhook import WebhookBackend
from gateway.errors import AuthenticationError, TransientDeliveryError
from gateway.plugin import Outcome, Rejected
from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import HOOK_SECRET, SECRET, message, webhook_backend
from tests.receiver import Receiver, accept
from tests.waiting import eventually


@pytest.fixture(autouse=True)
def quick_rechecks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_checks, "AUTH_RECHECK_MIN_S", 0.1)
    monkeypatch.setattr(backend_checks, "AUTH_RECHECK_MAX_S", 0.4)


async def start(gateway_factory: GatewayFactory, receiver: Receiver) -> GatewayUnderTest:
    config = {
        "channels": {"web": {"type": "generic", "secret": SECRET}},
        "backends": {"hook": webhook_backend(receiver.url, concurrency=2)},
    }
    return await gateway_factory(config)


async def post(gut: GatewayUnderTest) -> str:
    response = await gut.post_signed("web", message(), SECRET)
    assert response.status == 200
    return str((await response.json())["ids"][0])


async def backend(gut: GatewayUnderTest) -> dict[str, Any]:
    [shown] = (await (await gut.admin.get("/admin/backends")).json())["backends"]
    return shown  # type: ignore[no-any-return]


async def delivery(gut: GatewayUnderTest) -> dict[str, Any]:
    [shown] = (await (await gut.admin.get("/admin/deliveries")).json())["deliveries"]
    return shown  # type: ignore[no-any-return]


async def readyz(gut: GatewayUnderTest) -> tuple[int, list[str]]:
    response = await gut.client.get("/readyz")
    return response.status, (await response.json()).get("problems", [])


def auth_failures(gut: GatewayUnderTest) -> float:
    registry = gut.gateway.metrics.registry
    value = registry.get_sample_value("gateway_backend_auth_failures_total", {"backend": "hook"})
    return value or 0.0


def logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


AUTH_PROBLEM = (
    "backend hook: auth_failed: the remote refused the credentials (re-checking with backoff)"
)


async def test_a_refused_signature_keeps_the_delivery_pending_until_it_is_accepted(
    gateway_factory: GatewayFactory, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(interaction: Interaction, arrival: int) -> web.Response:
        return web.json_response({"error": f"signature refused for {HOOK_SECRET}"}, status=401)

    receiver.behaviour = refuse
    caplog.set_level(logging.INFO)
    gut = await start(gateway_factory, receiver)
    interaction_id = await post(gut)

    async def refused_twice() -> bool:
        return len(receiver.arrivals) >= 2 and (await backend(gut))["state"] == "auth_failed"

    await eventually(refused_twice)  # re-checked (the webhook's check calls nothing), refused again
    assert (await readyz(gut)) == (503, [AUTH_PROBLEM])
    shown = await backend(gut)
    assert "HTTP 401" in shown["health"]["credentials_refused"]
    assert "[redacted]" in shown["health"]["credentials_refused"]
    pending = await delivery(gut)
    assert (pending["state"], pending["attempts"], pending["last_error"]) in {
        ("pending", 0, None),
        ("in_flight", 0, None),
    }
    assert shown["deliveries"].get("dead", 0) == 0
    assert auth_failures(gut) >= 2

    receiver.behaviour = accept

    async def delivered() -> bool:
        return bool((await delivery(gut))["state"] == "delivered")

    await eventually(delivered)
    assert (await delivery(gut))["attempts"] == 1  # the refused calls were not counted
    assert (await backend(gut))["state"] == "ready"
    assert (await backend(gut))["health"]["credentials_refused"] is None
    assert await readyz(gut) == (200, [])
    assert receiver.delivered_ids[-1] == interaction_id
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage().split(" (")[0] for r in errors] == [
        "backend hook: credentials refused"
    ]  # once per incident; the later refusals are warnings
    assert "credentials still refused" in logged(caplog)
    assert "backend hook: credentials accepted again; delivering" in logged(caplog)
    assert HOOK_SECRET not in logged(caplog)
    assert receiver.problems == []


async def test_start_refused_is_rechecked_instead_of_stopping_for_good(
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusing = True
    starts = 0

    async def start_backend(self: WebhookBackend) -> None:
        nonlocal starts
        starts += 1
        if refusing:
            raise AuthenticationError(f"HTTP 403: key {HOOK_SECRET} revoked")

    monkeypatch.setattr(WebhookBackend, "start", start_backend)
    gut = await start(gateway_factory, receiver)
    await post(gut)

    async def rechecked() -> bool:
        return starts >= 3

    await eventually(rechecked)
    assert (await backend(gut))["state"] == "auth_failed"
    assert await readyz(gut) == (503, [AUTH_PROBLEM])
    assert receiver.arrivals == []
    assert auth_failures(gut) >= 3
    refusing = False

    async def delivered() -> bool:
        return bool((await delivery(gut))["state"] == "delivered")

    await eventually(delivered)
    assert (await delivery(gut))["attempts"] == 1
    assert await readyz(gut) == (200, [])
    assert HOOK_SECRET not in logged(caplog)


async def test_health_checks_run_in_the_background_and_feed_readyz(
    gateway_factory: GatewayFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    failure: Exception | None = None
    checks = 0

    async def health_check(self: WebhookBackend) -> None:
        nonlocal checks
        checks += 1
        if failure is not None:
            raise failure

    monkeypatch.setattr(WebhookBackend, "health_check", health_check)
    gut = await start(gateway_factory, receiver)

    async def checked() -> bool:
        return (await backend(gut))["health"]["ok"] is True

    await eventually(checked)
    for _ in range(20):  # probes read the cached result: they never call the remote
        assert await readyz(gut) == (200, [])
    assert checks == 1

    monkeypatch.setattr(backend_checks, "HEALTH_CHECK_INTERVAL_S", 0.05)
    failure = TransientDeliveryError(f"HTTP 503: down, token {HOOK_SECRET}")
    gut.gateway.delivery.checks("hook").due = 0.0

    async def unhealthy() -> bool:
        return (await readyz(gut))[0] == 503

    await eventually(unhealthy)
    assert (await readyz(gut))[1] == ["backend hook: health check failed: TransientDeliveryError"]
    health = (await backend(gut))["health"]
    assert health["ok"] is False
    assert health["error"] == "TransientDeliveryError: HTTP 503: down, token [redacted]"
    assert (await backend(gut))["state"] == "ready"  # a remote down is no credentials problem

    failure = AuthenticationError("HTTP 401: token expired")

    async def paused() -> bool:
        return bool((await backend(gut))["state"] == "auth_failed")

    await eventually(paused)
    await post(gut)
    assert receiver.arrivals == []  # the lane claims nothing while the credentials are refused
    failure = None

    async def delivering() -> bool:
        return bool(receiver.arrivals) and await readyz(gut) == (200, [])

    await eventually(delivering)


async def test_backend_secrets_never_reach_reasons_or_logs(
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def careless(self: WebhookBackend, batch: Any) -> list[Outcome]:
        nonlocal calls
        calls += 1
        self.ctx.logger.warning("sending with %s", HOOK_SECRET)
        if calls == 1:
            raise RuntimeError(f"bug: {HOOK_SECRET}")
        return [Rejected(f"remote said: bad secret {HOOK_SECRET}") for _ in batch]

    monkeypatch.setattr(WebhookBackend, "deliver", careless)
    caplog.set_level(logging.INFO)
    gut = await start(gateway_factory, receiver)
    interaction_id = await post(gut)

    async def dead() -> bool:
        return bool((await delivery(gut))["state"] == "dead")

    await eventually(dead)
    shown = await (await gut.admin.get(f"/admin/interactions/{interaction_id}")).json()
    [attempted] = shown["deliveries"]
    assert attempted["last_error"] == "remote said: bad secret [redacted]"
    assert [a["error"] for a in attempted["attempt_log"]] == [
        "RuntimeError: bug: [redacted]",
        "remote said: bad secret [redacted]",
    ]
    text = logged(caplog)
    assert "sending with [redacted]" in text
    assert "bug: [redacted]" in text  # the traceback of "deliver raised", scrubbed
    assert HOOK_SECRET not in text


def test_every_secret_of_a_settings_model_is_found() -> None:
    from pydantic import BaseModel, SecretStr

    from gateway.redaction import settings_secrets

    class Inner(BaseModel):
        password: SecretStr
        name: str = "plain"

    class Outer(BaseModel):
        token: SecretStr
        inner: Inner
        many: list[SecretStr]
        keyed: dict[str, Inner]
        empty: SecretStr = SecretStr("")

    outer = Outer(
        token=SecretStr("t1"),
        inner=Inner(password=SecretStr("p1")),
        many=[SecretStr("m1"), SecretStr("m2")],
        keyed={"a": Inner(password=SecretStr("k1"))},
    )
    assert settings_secrets(outer) == {"t1", "p1", "m1", "m2", "k1"}


async def test_a_refused_customer_event_pauses_the_lane_too(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gut = await start(gateway_factory, receiver)
    interaction_id = await post(gut)

    async def delivered() -> bool:
        return interaction_id in receiver.delivered_ids

    await eventually(delivered)
    shown = await (await gut.admin.get(f"/admin/interactions/{interaction_id}")).json()
    customer_id = shown["interaction"]["customer_id"]
    receiver.customer_status = 401
    assert (await gut.admin.delete(f"/admin/customers/{customer_id}")).status == 202

    async def paused() -> bool:
        return bool((await backend(gut))["state"] == "auth_failed")

    await eventually(paused)
    assert auth_failures(gut) >= 1
    receiver.customer_status = 200

    async def receipted() -> bool:
        [record] = await gut.gateway.store.erasures_of(customer_id)
        return bool(record.receipts) and (await backend(gut))["state"] == "ready"

    await eventually(receipted)
    [record] = await gut.gateway.store.erasures_of(customer_id)
    assert [r.outcome for r in record.receipts] == ["erased"]
    assert receiver.problems == []
