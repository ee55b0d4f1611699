"""The admin API, on its own port, behind a bearer token."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import StoreUnavailableError
from gateway.http_errors import error_response
from gateway.ingest import GATEWAY
from gateway.runtime import Gateway
from gateway.store.base import StoredDelivery

__all__ = ["create_admin_app"]

log = logging.getLogger("gateway.admin")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def create_admin_app(gateway: Gateway) -> web.Application:
    """Return the admin app; it serves `gateway`, which the public app opens and closes."""
    token = gateway.config.admin.token
    expected = token.get_secret_value().encode() if token else b""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected:
            offered = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(offered, b"Bearer " + expected):
                return error_response(
                    401,
                    "unauthorized",
                    "send Authorization: Bearer <admin token>",
                    {"WWW-Authenticate": 'Bearer realm="gateway-admin"'},
                )
        try:
            return await handler(request)
        except web.HTTPException as exc:
            return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        except StoreUnavailableError as exc:
            log.error("admin %s %s: %s", request.method, request.path, exc)
            return error_response(503, "store_unavailable", "the store cannot be read right now")

    app = web.Application(middlewares=[guard])
    app[GATEWAY] = gateway
    app.router.add_get("/admin/channels", list_channels)
    app.router.add_get("/admin/backends", list_backends)
    app.router.add_get("/admin/interactions/{id}", show_interaction)
    return app


async def list_channels(request: web.Request) -> web.Response:
    """List the configured channels and where providers post to them."""
    gateway = request.app[GATEWAY]
    return _json(
        {
            "channels": [
                {
                    "id": channel_id,
                    "type": channel.type_name,
                    "kind": channel.channel_ref.kind,
                    "provider": channel.provider,
                    "path": f"/webhooks/{channel_id}",
                    "insecure": channel.settings.insecure,
                }
                for channel_id, channel in gateway.channels.items()
            ]
        }
    )


async def list_backends(request: web.Request) -> web.Response:
    """List the configured backends with their state and deliveries per state."""
    gateway = request.app[GATEWAY]
    counts = await gateway.store.delivery_counts()
    return _json(
        {
            "backends": [
                {
                    "name": name,
                    "type": settings.type,
                    "state": gateway.backend_states.get(name, "starting"),
                    "deliveries": counts.get(name, {}),
                }
                for name, settings in gateway.config.backends.items()
            ]
        }
    )


async def show_interaction(request: web.Request) -> web.Response:
    """Return one stored interaction with its deliveries."""
    store = request.app[GATEWAY].store
    interaction_id = request.match_info["id"]
    interaction = await store.get_interaction(interaction_id)
    if interaction is None:
        return error_response(404, "not_found", f"no interaction {interaction_id}")
    deliveries = await store.deliveries_of(interaction_id)
    return _json(
        {
            "interaction": interaction.model_dump(mode="json"),
            "deliveries": [_delivery(d) for d in deliveries],
        }
    )


def _delivery(delivery: StoredDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "interaction_id": delivery.interaction_id,
        "backend": delivery.backend,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at,
    }
