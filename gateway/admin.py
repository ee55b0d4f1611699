"""The admin API, on its own port, behind a bearer token."""

from __future__ import annotations

import logging
from collections.abc import Collection

from aiohttp import web

from gateway.admin_customers import add_customer_routes
from gateway.admin_guard import forbidden
from gateway.admin_http import (
    BadRequestError,
    Handler,
    check_query,
    int_cursor,
    int_id,
    interaction_cursor,
    json_response,
    page_limit,
    takes,
)
from gateway.admin_messages import add_message_routes
from gateway.admin_reports import add_report_routes
from gateway.documents import (
    delivery_document,
    interaction_document,
    interaction_json,
    timed,
)
from gateway.errors import StoreUnavailableError
from gateway.http_errors import error_response
from gateway.ingest import GATEWAY
from gateway.runtime import Gateway
from gateway.store.base import DELIVERY_STATES, ConflictError

__all__ = ["create_admin_app"]

log = logging.getLogger("gateway.admin")


def create_admin_app(gateway: Gateway) -> web.Application:
    """Return the admin app; it serves `gateway`, which the public app opens and closes."""
    token = gateway.config.admin.token
    expected = token.get_secret_value().encode() if token else b""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (refused := forbidden(request, expected)) is not None:
            return refused
        try:
            check_query(request)
            return await handler(request)
        except BadRequestError as exc:
            return error_response(400, exc.code, str(exc))
        except ConflictError as exc:
            return error_response(409, "conflict", str(exc))
        except web.HTTPException as exc:
            return _http_error(request, exc)
        except StoreUnavailableError as exc:
            log.error("admin %s %s: %s", request.method, request.path, exc)
            return error_response(503, "store_unavailable", "the store cannot be read right now")

    app = web.Application(middlewares=[guard])
    app[GATEWAY] = gateway
    app.router.add_get("/admin/channels", list_channels)
    app.router.add_get("/admin/backends", list_backends)
    app.router.add_get("/admin/interactions", list_interactions)
    app.router.add_get("/admin/interactions/{id}", show_interaction)
    app.router.add_get("/admin/deliveries", list_deliveries)
    app.router.add_post("/admin/deliveries/{id}/replay", replay_delivery)
    app.router.add_post("/admin/dead-letters/replay", replay_dead_letters)
    add_customer_routes(app)
    add_message_routes(app)
    add_report_routes(app)
    return app


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """Answer aiohttp's own 404, 405 or 413 in the gateway's JSON shape, keeping `Allow`."""
    message = exc.reason
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    if headers is not None:
        message = f"{request.method} is not allowed here; use {headers['Allow']}"
    return error_response(exc.status, exc.reason.lower().replace(" ", "_"), message, headers)


def _known(value: str | None, name: str, known: Collection[str]) -> str | None:
    """Return the filter `value`; raise `BadRequestError` naming `name` unless it is known."""
    if value is not None and value not in known:
        raise BadRequestError(f"{name}: no {name} '{value}' is configured")
    return value


async def list_channels(request: web.Request) -> web.Response:
    """List the configured channels and where providers post to them."""
    gateway = request.app[GATEWAY]
    return json_response(
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
    """List the configured backends, then the channels' senders (`channel:{id}`, typed by
    their channel type), with their state and deliveries per state."""
    gateway = request.app[GATEWAY]
    types = {name: settings.type for name, settings in gateway.config.backends.items()}
    for channel_id, target in gateway.senders.items():
        types[target] = gateway.config.channels[channel_id].type
    counts = await gateway.store.delivery_counts()
    queues = await gateway.store.queue_stats(gateway.clock())
    return json_response(
        {
            "backends": [
                {
                    "name": name,
                    "type": types[name],
                    "state": gateway.delivery.state(name),
                    "circuit": gateway.delivery.circuit(name),
                    "deliveries": counts.get(name, {}),
                    "lag_s": queues[name].oldest_due_s if name in queues else 0.0,
                    "lane": timed(gateway.delivery.health(name).document()),
                    "health": timed(gateway.delivery.checks(name).document()),
                }
                for name in gateway.targets
            ]
        }
    )


@takes("channel", "limit", "cursor")
async def list_interactions(request: web.Request) -> web.Response:
    """List stored interactions in arrival order, of one `channel` or all, paged."""
    gateway, query = request.app[GATEWAY], request.query
    channel = _known(query.get("channel"), "channel", gateway.channels)
    limit = page_limit(query)
    after = await interaction_cursor(query, gateway.store)
    interactions = await gateway.store.list_interactions(
        channel_id=channel, limit=limit, after=after
    )
    return json_response(
        {
            "interactions": [interaction_json(i) for i in interactions],
            "next_cursor": interactions[-1].id if len(interactions) == limit else None,
        }
    )


async def show_interaction(request: web.Request) -> web.Response:
    """Return one stored interaction with its deliveries and their attempt logs."""
    interaction_id = request.match_info["id"]
    document = await interaction_document(request.app[GATEWAY].store, interaction_id)
    if document is None:
        return error_response(404, "not_found", f"no interaction {interaction_id}")
    return json_response(document)


@takes("state", "backend", "limit", "cursor")
async def list_deliveries(request: web.Request) -> web.Response:
    """List deliveries, filtered by `state` and `backend`, paged by `limit` and `cursor`."""
    gateway, query = request.app[GATEWAY], request.query
    state = query.get("state")
    if state is not None and state not in DELIVERY_STATES:
        raise BadRequestError(f"state must be one of {', '.join(DELIVERY_STATES)}")
    backend = _known(query.get("backend"), "backend", gateway.targets)
    limit = page_limit(query)
    cursor = int_cursor(query)
    deliveries = await gateway.store.list_deliveries(
        state=state,
        backend=backend,
        limit=limit,
        after_id=cursor,
    )
    next_cursor = deliveries[-1].id if len(deliveries) == limit else None
    return json_response(
        {"deliveries": [delivery_document(d) for d in deliveries], "next_cursor": next_cursor}
    )


async def replay_delivery(request: web.Request) -> web.Response:
    """Make one dead delivery pending again, with a fresh retry budget."""
    gateway, delivery_id = request.app[GATEWAY], int_id(request, "delivery")
    delivery = await gateway.store.get_delivery(delivery_id)
    if delivery is None:
        return error_response(404, "not_found", f"no delivery {delivery_id}")
    if delivery.state != "dead":
        raise ConflictError(f"delivery {delivery_id} is {delivery.state}; only dead ones replay")
    replayed = await gateway.store.replay(now=gateway.clock(), delivery_ids=[delivery_id])
    gateway.delivery.notify([delivery.backend])
    return json_response({"replayed": replayed})


@takes("backend")
async def replay_dead_letters(request: web.Request) -> web.Response:
    """Make every dead delivery of `backend` (or of every backend) pending again."""
    gateway = request.app[GATEWAY]
    backend = _known(request.query.get("backend"), "backend", gateway.targets)
    replayed = await gateway.store.replay(now=gateway.clock(), backend=backend)
    gateway.delivery.notify([backend] if backend else gateway.targets)
    return json_response({"replayed": replayed})
