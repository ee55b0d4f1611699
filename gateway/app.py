"""The public aiohttp application: webhooks, health probes and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.errors import StoreUnavailableError
from gateway.http_errors import error_response
from gateway.ingest import GATEWAY, channel_webhook, handle_webhook, install_edge
from gateway.runtime import Gateway

__all__ = ["GATEWAY", "create_public_app"]


def create_public_app(gateway: Gateway) -> web.Application:
    """Return the public app; starting it opens the gateway, cleaning it up closes it."""
    app = web.Application(client_max_size=gateway.config.server.max_body_bytes)
    app[GATEWAY] = gateway
    install_edge(app)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with app[GATEWAY].running():
            yield

    app.cleanup_ctx.append(lifespan)
    for channel_id in gateway.channels:  # a plain route is found by one dict look-up
        app.router.add_route("*", f"/webhooks/{channel_id}", channel_webhook(channel_id))
    app.router.add_route("*", "/webhooks/{channel_id}", handle_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 while the process serves requests."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Answer 200 when the store is reachable and every backend delivers, else 503.

    A backend whose latest health check failed is listed under `warnings` of a 200 answer.
    """
    gateway = request.app[GATEWAY]
    delivery = gateway.delivery
    names = gateway.targets  # the backends and the channels' senders
    problems = [f"backend {n}: {problem}" for n in names if (problem := delivery.problem(n))]
    warnings = [f"backend {n}: {warning}" for n in names if (warning := delivery.warning(n))]
    try:
        await gateway.store.ping()
    except StoreUnavailableError as exc:
        problems.insert(0, f"store: {exc}")
    extra = {"warnings": warnings} if warnings else {}
    if problems:
        return web.json_response({"status": "not_ready", "problems": problems, **extra}, status=503)
    return web.json_response({"status": "ready", **extra})


async def metrics(request: web.Request) -> web.Response:
    """Return every metric in the Prometheus text format."""
    gateway = request.app[GATEWAY]
    await gateway.count_unanswered()
    body = generate_latest(gateway.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def not_found(request: web.Request) -> web.Response:
    """Answer unknown paths in the gateway's JSON error shape."""
    return error_response(404, "not_found", f"no route for {request.method} {request.path}")
