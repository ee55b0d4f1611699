"""The webhook edge over real HTTP: every answer the issue promises, and what gets stored."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse

from gateway import standard_webhooks
from gateway.testing import GatewayFactory, GatewayUnderTest, standard_webhook_headers
from tests.payloads import SECRET, message


async def error_of(response: ClientResponse, status: int) -> dict[str, Any]:
    """Assert `response` is a JSON error with `status` and return its `error` object."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return body["error"]  # type: ignore[no-any-return]


def stored_count(gut: GatewayUnderTest) -> int:
    """Count interactions in the gateway's SQLite file, read independently of the store."""
    path = gut.gateway.config.storage.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM interactions").fetchone()[0])


def metric(gut: GatewayUnderTest, name: str, **labels: str) -> float:
    value = gut.gateway.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
async def gut(gateway_factory: GatewayFactory, config: dict[str, Any]) -> GatewayUnderTest:
    return await gateway_factory(config)


async def test_signed_message_is_stored_and_acknowledged(gut: GatewayUnderTest) -> None:
    response = await gut.post_signed("web", message(), SECRET)

    assert response.status == 200
    [interaction_id] = (await response.json())["ids"]
    shown = await gut.admin.get(f"/admin/interactions/{interaction_id}")
    body = await shown.json()
    interaction = body["interaction"]
    assert interaction["schema"] == "interaction/v1"
    assert interaction["channel"] == {"id": "web", "kind": "webchat", "provider": "generic"}
    assert interaction["external_id"] == "m-1"
    assert interaction["occurred_at"] == "2026-11-22T10:00:00.000000Z"  # as admin JSON writes it
    assert interaction["sender"]["identities"] == [
        {"kind": "phone", "value": "+15551234567", "verified": True}
    ]
    assert interaction["content"]["text"] == "My order has not arrived"
    assert [d["backend"] for d in body["deliveries"]] == ["audit"]
    assert metric(gut, "gateway_interactions_stored_total", channel="web") == 1
    assert metric(gut, "gateway_webhook_requests_total", channel="web", outcome="stored") == 1


async def test_provider_retry_is_acknowledged_and_stored_once(gut: GatewayUnderTest) -> None:
    first = await gut.post_signed("web", message(), SECRET, msg_id="msg_1")
    again = await gut.post_signed("web", message(), SECRET, msg_id="msg_1")

    assert first.status == again.status == 200
    assert (await first.json())["ids"] == (await again.json())["ids"]
    assert stored_count(gut) == 1
    assert metric(gut, "gateway_duplicate_interactions_total", channel="web") == 1
    assert metric(gut, "gateway_webhook_requests_total", channel="web", outcome="duplicate") == 1


async def test_external_id_defaults_to_webhook_id(gut: GatewayUnderTest) -> None:
    body = message()
    del body["external_id"]
    await gut.post_signed("web", body, SECRET, msg_id="msg_abc")
    await gut.post_signed("web", [body, body], SECRET, msg_id="msg_def")

    response = await gut.post_signed("web", body, SECRET, msg_id="msg_abc")

    [interaction_id] = (await response.json())["ids"]
    shown = await (await gut.admin.get(f"/admin/interactions/{interaction_id}")).json()
    assert shown["interaction"]["external_id"] == "msg_abc"
    assert stored_count(gut) == 3  # msg_abc, msg_def/0, msg_def/1


async def test_unknown_channel_is_404(gut: GatewayUnderTest) -> None:
    error = await error_of(await gut.post_signed("nope", message(), SECRET), 404)
    assert error == {"code": "unknown_channel", "message": "no channel 'nope' is configured"}


async def test_unknown_path_is_json_404(gut: GatewayUnderTest) -> None:
    error = await error_of(await gut.client.get("/nothing/here"), 404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_wrong_method_is_405(gut: GatewayUnderTest, method: str) -> None:
    response = await gut.client.request(method, "/webhooks/web")
    error = await error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, POST"


async def test_get_without_handshake_is_405(gut: GatewayUnderTest) -> None:
    response = await gut.client.get("/webhooks/web")
    assert (await error_of(response, 405))["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"


async def test_body_over_limit_is_413_before_reading(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    config["server"] = {"max_body_bytes": 100}
    gut = await gateway_factory(config)
    body = orjson.dumps(message(text="x" * 200))
    headers = {**standard_webhook_headers(SECRET, body), "Content-Type": "application/json"}

    response = await gut.client.post("/webhooks/web", data=body, headers=headers)

    assert (await error_of(response, 413))["code"] == "body_too_large"
    assert stored_count(gut) == 0


async def test_chunked_body_over_limit_is_413(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    config["server"] = {"max_body_bytes": 100}
    gut = await gateway_factory(config)

    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 50

    response = await gut.client.post(
        "/webhooks/web", data=chunks(), headers={"Content-Type": "application/json"}
    )

    assert (await error_of(response, 413))["code"] == "body_too_large"


async def test_unsupported_content_type_is_415(gut: GatewayUnderTest) -> None:
    body = b"external_id=1"
    headers = {
        **standard_webhook_headers(SECRET, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    response = await gut.client.post("/webhooks/web", data=body, headers=headers)
    error = await error_of(response, 415)
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]


async def test_bad_signature_is_401_and_nothing_stored(gut: GatewayUnderTest) -> None:
    body = orjson.dumps(message())
    headers = standard_webhook_headers("whsec_" + "A" * 32, body)
    headers["Content-Type"] = "application/json"

    response = await gut.client.post("/webhooks/web", data=body, headers=headers)

    error = await error_of(response, 401)
    assert error["code"] == "bad_signature"
    assert stored_count(gut) == 0
    assert metric(gut, "gateway_signature_failures_total", channel="web") == 1


async def test_tampered_body_is_401(gut: GatewayUnderTest) -> None:
    body = orjson.dumps(message())
    headers = {**standard_webhook_headers(SECRET, body), "Content-Type": "application/json"}
    tampered = body.replace(b"arrived", b"shipped")
    response = await gut.client.post("/webhooks/web", data=tampered, headers=headers)
    assert (await error_of(response, 401))["code"] == "bad_signature"


async def test_replayed_old_request_is_401(gut: GatewayUnderTest) -> None:
    body = orjson.dumps(message())
    old = int(time.time()) - standard_webhooks.TOLERANCE_S - 60
    headers = {
        **standard_webhook_headers(SECRET, body, timestamp=old),
        "Content-Type": "application/json",
    }
    response = await gut.client.post("/webhooks/web", data=body, headers=headers)
    assert "5 minutes" in (await error_of(response, 401))["message"]


async def test_invalid_json_is_400(gut: GatewayUnderTest) -> None:
    error = await error_of(await gut.post_signed("web", b"{not json", SECRET), 400)
    assert error["code"] == "bad_payload"


async def test_invalid_field_is_422_naming_it(gut: GatewayUnderTest) -> None:
    body = message()
    body["sender"]["identities"][0]["value"] = 5551234  # a number where text belongs
    error = await error_of(await gut.post_signed("web", body, SECRET), 422)
    assert error["code"] == "bad_payload"
    assert error["message"] == "sender.identities.0.value: Input should be a valid string"
    assert stored_count(gut) == 0


async def test_gateway_assigned_field_is_422(gut: GatewayUnderTest) -> None:
    body = {**message(), "customer_id": "cus_x"}
    error = await error_of(await gut.post_signed("web", body, SECRET), 422)
    assert error["message"].startswith("customer_id: unknown or gateway-assigned field")


async def test_bad_item_in_array_names_its_index(gut: GatewayUnderTest) -> None:
    error = await error_of(
        await gut.post_signed("web", [message("a"), {**message("b"), "type": "fax"}], SECRET), 422
    )
    assert error["message"].startswith("[1].type: ")
    assert stored_count(gut) == 0


async def test_no_2xx_when_the_commit_fails(gut: GatewayUnderTest) -> None:
    path = gut.gateway.config.storage.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:  # a real SQLite failure inside the commit transaction
        db.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON interactions "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )

    response = await gut.post_signed("web", message(), SECRET)

    error = await error_of(response, 503)
    assert error["code"] == "store_unavailable"
    assert "disk full" not in error["message"]
    assert stored_count(gut) == 0


async def test_insecure_channel_takes_unsigned_webhooks(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory({"channels": {"dev": {"type": "generic", "insecure": True}}})
    response = await gut.client.post("/webhooks/dev", json=message())
    assert response.status == 200
    assert stored_count(gut) == 1


async def test_routes_decide_the_delivery_rows(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(
        {
            "channels": {
                "web": {"type": "generic", "secret": SECRET},
                "sms": {"type": "generic", "secret": SECRET, "kind": "sms"},
            },
            "backends": {"crm": {"type": "log"}, "audit": {"type": "log"}},
            "routes": [
                {"match": {"channel_kind": "sms"}, "to": ["crm", "audit"]},
                {"to": ["audit"]},
            ],
        }
    )
    sms = await (await gut.post_signed("sms", message(), SECRET)).json()
    web = await (await gut.post_signed("web", message(), SECRET)).json()

    async def backends(ids: list[str]) -> list[str]:
        shown = await (await gut.admin.get(f"/admin/interactions/{ids[0]}")).json()
        return sorted(d["backend"] for d in shown["deliveries"])

    assert await backends(sms["ids"]) == ["audit", "crm"]
    assert await backends(web["ids"]) == ["audit"]


async def test_trust_proxy_verifies_against_the_forwarded_url(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    seen: list[str] = []
    from gateway.builtins.generic import GenericChannel

    class RecordingChannel(GenericChannel):
        def verify(self, req: Any) -> None:
            seen.append(req.url)
            super().verify(req)

    for trust in (False, True):
        gut = await gateway_factory(
            {
                "server": {"trust_proxy": trust},
                "storage": {"url": f"sqlite:///{tmp_path}/trust-{trust}.db"},
                "channels": {"web": {"type": "generic", "secret": SECRET}},
            }
        )
        channel = gut.gateway.channels["web"]
        gut.gateway.channels["web"] = RecordingChannel(channel.ctx, channel.settings)
        body = orjson.dumps(message())
        headers = {
            **standard_webhook_headers(SECRET, body),
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "hooks.example.com",
        }
        await gut.client.post("/webhooks/web?x=1", data=body, headers=headers)

    assert seen[0].startswith("http://127.0.0.1:")
    assert seen[0].endswith("/webhooks/web?x=1")
    assert seen[1] == "https://hooks.example.com/webhooks/web?x=1"


async def test_health_ready_and_metrics(gut: GatewayUnderTest) -> None:
    assert (await (await gut.client.get("/healthz")).json()) == {"status": "ok"}
    ready = await gut.client.get("/readyz")
    assert ready.status == 200, await ready.text()
    await gut.post_signed("web", message(), SECRET)
    exposition = await (await gut.client.get("/metrics")).text()
    assert 'gateway_interactions_stored_total{channel="web"} 1.0' in exposition
    assert "gateway_commit_batch_size_bucket" in exposition
    assert SECRET not in exposition
