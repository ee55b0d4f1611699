"""Serve the public and admin apps until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from gateway.admin import create_admin_app
from gateway.app import create_public_app
from gateway.runtime import Gateway

__all__ = ["serve"]

log = logging.getLogger("gateway")


async def serve(gateway: Gateway) -> None:
    """Run `gateway` until a termination signal; in-flight webhooks finish first."""
    config = gateway.config
    grace = config.server.shutdown_timeout.total_seconds()
    public = web.AppRunner(
        create_public_app(gateway), handle_signals=False, access_log=None, shutdown_timeout=grace
    )
    admin = web.AppRunner(create_admin_app(gateway), handle_signals=False, access_log=None)
    await public.setup()  # opens the store and starts the backends
    try:
        await admin.setup()
        await web.TCPSite(admin, config.admin.host, config.admin.port).start()
        await web.TCPSite(public, config.server.host, config.server.port).start()
        log.info(
            "gateway ready: webhooks on %s, admin on %s",
            _addresses(public),
            _addresses(admin),
        )
        if not (config.admin.token and config.admin.token.get_secret_value()):
            log.warning("admin API has no token: any local process can use it; set admin.token")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("shutting down: no new webhooks, finishing those in flight (up to %.0fs)", grace)
    finally:
        await admin.cleanup()
        await public.cleanup()  # stops listening, drains requests, then closes the store
    log.info("gateway stopped")


def _addresses(runner: web.AppRunner) -> str:
    return ", ".join(f"http://{host}:{port}" for host, port, *_ in runner.addresses)
