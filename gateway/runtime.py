"""The running gateway: configured channels, backends and enrichers around one store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Literal

import aiohttp

from gateway.backend import Backend, BackendContext
from gateway.channel import Channel, ChannelContext, utc_now
from gateway.config import GatewayConfig
from gateway.enricher import Enricher
from gateway.errors import AuthenticationError, NotReadyError
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.plugins import Plugins
from gateway.routing import Router
from gateway.store.base import Store
from gateway.store.sqlite import SqliteStore, sqlite_path_from_url

__all__ = ["BackendState", "Gateway"]

log = logging.getLogger("gateway")
BackendState = Literal["starting", "ready", "auth_failed"]
_START_RETRY_MAX_S = 60.0


class Gateway:
    """Everything a configuration describes, wired together; `running()` opens and closes it."""

    def __init__(
        self,
        config: GatewayConfig,
        plugins: Plugins,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.store: Store = store or SqliteStore(
            sqlite_path_from_url(config.storage.url),
            synchronous=config.storage.synchronous,
            observe_batch=self.metrics.commit_batch_size.observe,
        )
        self.channels: dict[str, Channel[Any]] = {
            channel_id: plugins.channels[settings.type].cls(
                ChannelContext(channel_id, clock, log.getChild(f"channel.{channel_id}")), settings
            )
            for channel_id, settings in config.channels.items()
        }
        enrichers: list[Enricher[Any]] = [
            plugins.enrichers[settings.type].cls(name, settings)
            for name, settings in config.enrichers.items()
        ]
        self.pipeline = Pipeline(enrichers, Router(config.routes, list(config.backends)))
        self.backends: dict[str, Backend[Any]] = {}
        self.backend_states: dict[str, BackendState] = {}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Open the store and start the backends; close everything on exit."""
        await self.store.open()
        try:
            async with aiohttp.ClientSession() as http:
                for name, settings in self.config.backends.items():
                    context = BackendContext(name, http, log.getChild(f"backend.{name}"))
                    self.backends[name] = self.plugins.backends[settings.type].cls(
                        context, settings
                    )
                starters = [
                    asyncio.create_task(self._start(n, b)) for n, b in self.backends.items()
                ]
                try:
                    yield self
                finally:
                    for task in starters:
                        task.cancel()
                    await asyncio.gather(*starters, return_exceptions=True)
                    for name, backend in self.backends.items():
                        try:
                            await backend.close()
                        except Exception:
                            log.exception("backend %s failed to close", name)
        finally:
            await self.store.close()

    async def _start(self, name: str, backend: Backend[Any]) -> None:
        delay = 1.0
        self.backend_states[name] = "starting"
        while True:
            try:
                await backend.start()
            except NotReadyError as exc:
                log.warning("backend %s not ready (%s); retrying in %.0fs", name, exc, delay)
            except AuthenticationError as exc:
                self.backend_states[name] = "auth_failed"
                log.error("backend %s: credentials rejected (%s); fix them and restart", name, exc)
                return
            except Exception:
                log.exception("backend %s failed to start; retrying in %.0fs", name, delay)
            else:
                self.backend_states[name] = "ready"
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, _START_RETRY_MAX_S)
