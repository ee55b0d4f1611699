"""The admin API: bearer-token auth, JSON errors, and the views this release has."""

from __future__ import annotations

from typing import Any

from gateway.testing import GatewayFactory
from tests.payloads import SECRET, message
from tests.waiting import eventually

TOKEN = "admin-t0ken"


async def test_admin_requires_the_bearer_token(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    config["admin"] = {"token": TOKEN}
    gut = await gateway_factory(config)

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await gut.admin.get("/admin/channels", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in await response.text()

    response = await gut.admin.get("/admin/channels", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200


async def test_channels_and_backends(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    gut = await gateway_factory(config)
    await gut.post_signed("web", message("a"), SECRET)
    await gut.post_signed("web", message("b"), SECRET)

    async def delivered_both() -> bool:
        backends = await (await gut.admin.get("/admin/backends")).json()
        return bool(backends["backends"][0]["deliveries"]["delivered"] == 2)

    await eventually(delivered_both)  # the log backend delivers them
    channels = await (await gut.admin.get("/admin/channels")).json()
    assert channels == {
        "channels": [
            {
                "id": "web",
                "type": "generic",
                "kind": "webchat",
                "provider": "generic",
                "path": "/webhooks/web",
                "insecure": False,
            }
        ]
    }
    backends = await (await gut.admin.get("/admin/backends")).json()
    health = backends["backends"][0].pop("health")
    assert health["ok"] in (True, None)  # None until the first check, right after the start
    assert (health["error"], health["credentials_refused"]) == (None, None)
    assert backends == {
        "backends": [
            {
                "name": "audit",
                "type": "log",
                "state": "ready",
                "circuit": "closed",
                "deliveries": {"pending": 0, "in_flight": 0, "delivered": 2, "dead": 0},
                "lag_s": 0.0,
                "lane": {
                    "up": True,
                    "down": {},
                    "restarts": 0,
                    "last_error": None,
                    "last_error_at": None,
                },
            }
        ]
    }


async def test_unknown_interaction_and_route_are_json_404(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    gut = await gateway_factory(config)
    missing = await gut.admin.get("/admin/interactions/01JDQ4K6Z8W5N7T0M3F2V9X1AB")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    nowhere = await gut.admin.get("/admin/nothing")
    assert nowhere.status == 404
    assert (await nowhere.json())["error"]["code"] == "not_found"


async def test_interactions_are_listed_in_arrival_order_by_channel_and_paged(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    config["channels"]["other"] = {"type": "generic", "secret": SECRET}
    gut = await gateway_factory(config)
    for n, channel in enumerate(["web", "other", "web", "web"]):
        response = await gut.post_signed(channel, message(f"m-{n}"), SECRET)
        assert response.status == 200

    first = await (await gut.admin.get("/admin/interactions?channel=web&limit=2")).json()
    rest = await (
        await gut.admin.get(
            f"/admin/interactions?channel=web&limit=2&cursor={first['next_cursor']}"
        )
    ).json()

    assert [i["external_id"] for i in first["interactions"]] == ["m-0", "m-2"]
    assert [i["external_id"] for i in rest["interactions"]] == ["m-3"]
    assert rest["next_cursor"] is None
    assert [i.external_id for i in await gut.interactions()] == ["m-0", "m-1", "m-2", "m-3"]
    assert [i.external_id for i in await gut.interactions("other")] == ["m-1"]
