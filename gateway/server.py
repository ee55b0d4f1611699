"""Serve the public and admin apps until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway.admin import create_admin_app
from gateway.app import create_public_app
from gateway.http_errors import error_response
from gateway.runtime import Gateway

__all__ = ["JsonErrorRunner", "serve"]

log = logging.getLogger("gateway")
_MESSAGE_CHARS = 200


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse in the gateway's JSON shape."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Return a JSON error: 400 `bad_request` for malformed HTTP, else `internal_error`."""
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:  # anything on the internet sends garbage to open ports: not worth a warning
            self.logger.debug("malformed request from %s: %s", request.remote, message)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        if status >= 500:
            code, text = "internal_error", "internal error; the gateway's log has details"
        else:
            code = "bad_request"
            text = "malformed HTTP request: " + (message or "").strip().split("\n")[0]
        response = error_response(status, code, text[:_MESSAGE_CHARS])
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """An `AppRunner` whose connections answer malformed HTTP with a JSON 400."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        return server


async def serve(gateway: Gateway) -> None:
    """Run `gateway` until a termination signal; in-flight webhooks finish first."""
    config = gateway.config
    grace = config.server.shutdown_timeout.total_seconds()
    public = JsonErrorRunner(
        create_public_app(gateway), handle_signals=False, access_log=None, shutdown_timeout=grace
    )
    admin = JsonErrorRunner(create_admin_app(gateway), handle_signals=False, access_log=None)
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
        settle_garbage_collector()
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


GC_THRESHOLDS = (20_000, 20, 20)
"""The cyclic collector's thresholds while serving: a webhook allocates a few thousand objects,
so Python's default (700) ran a young collection several times per request; nearly all of them
are freed by reference counting anyway."""


def settle_garbage_collector() -> None:
    """Move everything start-up built (modules, plugins, settings) out of the collector's sight
    (`gc.freeze`) and collect young objects less often (`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _addresses(runner: web.AppRunner) -> str:
    return ", ".join(f"http://{host}:{port}" for host, port, *_ in runner.addresses)
