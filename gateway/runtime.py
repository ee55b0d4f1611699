"""The running gateway: configured channels, enrichers and delivery engine around one store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp

from gateway.backend import Backend, BackendSettings
from gateway.channel import Channel, ChannelContext, utc_now
from gateway.config import GatewayConfig
from gateway.delivery import DeliveryEngine
from gateway.enricher import Enricher
from gateway.identity import IdentityEvent, IdentityObserver, IdentityPolicy
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.plugins import Plugins
from gateway.retention import prune_forever
from gateway.routing import Router
from gateway.store.base import Store
from gateway.store.sqlite import SqliteStore, sqlite_path_from_url
from gateway.unanswered_gauge import UnansweredGauge
from gateway.unusable import UnusableIdentity, metric_kind

__all__ = ["SENDER_PREFIX", "Gateway", "open_store", "sender_target"]

log = logging.getLogger("gateway")


def open_store(config: GatewayConfig, metrics: Metrics | None = None) -> Store:
    """Return the (unopened) store the configuration names: SQLite or PostgreSQL."""
    observe_batch = metrics.commit_batch_size.observe if metrics else None
    identity = IdentityPolicy(config.identity.rules, config.identity.conversation_window)
    observe_identity = _identity_counter(metrics) if metrics else None
    url = config.storage.url
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresStore  # psycopg only where it is used

        return PostgresStore(
            url,
            observe_batch=observe_batch,
            identity=identity,
            observe_identity=observe_identity,
        )
    return SqliteStore(
        sqlite_path_from_url(url),
        synchronous=config.storage.synchronous,
        observe_batch=observe_batch,
        identity=identity,
        observe_identity=observe_identity,
    )


def _identity_counter(metrics: Metrics) -> IdentityObserver:
    def count(event: IdentityEvent) -> None:
        metrics.identity_events.labels(event).inc()

    return count


SENDER_PREFIX = "channel:"
"""How the delivery target of a channel's sender starts: `channel:{channel_id}`."""


def sender_target(channel_id: str) -> str:
    """Return the delivery target of a channel's sender: `channel:{channel_id}`."""
    return SENDER_PREFIX + channel_id


def _unusable_counter(metrics: Metrics, channel_id: str) -> Callable[[UnusableIdentity], None]:
    """Return what counts a channel's left-out identities in `gateway_identities_unusable`."""

    def count(identity: UnusableIdentity) -> None:
        metrics.identities_unusable.labels(
            channel_id, metric_kind(identity.kind), identity.reason
        ).inc()

    return count


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
        self.store = store or open_store(config, self.metrics)
        self.channels: dict[str, Channel[Any]] = {
            channel_id: plugins.channels[settings.type].cls(
                ChannelContext(
                    channel_id,
                    clock,
                    log.getChild(f"channel.{channel_id}"),
                    config.identity.default_region,
                    _unusable_counter(self.metrics, channel_id),
                ),
                settings,
            )
            for channel_id, settings in config.channels.items()
        }
        enrichers: list[Enricher[Any]] = [
            plugins.enrichers[settings.type].cls(name, settings)
            for name, settings in config.enrichers.items()
        ]
        self.router = Router(config.routes, list(config.backends))
        self.pipeline = Pipeline(enrichers, self.router)
        lanes: dict[str, tuple[type[Backend[Any]], BackendSettings]] = {
            name: (plugins.backends[settings.type].cls, settings)
            for name, settings in config.backends.items()
        }
        self.senders: dict[str, str] = {}
        """The channels that send (DESIGN §12), each with its delivery target."""
        for channel_id, channel in self.channels.items():
            send = channel.send_settings()
            if channel.sender is not None and send is not None:
                target = sender_target(channel_id)
                lanes[target] = (channel.sender, send)
                self.senders[channel_id] = target
        self.targets: tuple[str, ...] = tuple(lanes)
        """Every delivery target: the backends, then the senders."""
        self.delivery = DeliveryEngine(self.store, lanes, self.metrics, clock)
        self._unanswered = UnansweredGauge(
            self._unanswered_now, self.metrics.unanswered_conversations
        )

    async def count_unanswered(self) -> None:
        """Set `gateway_unanswered_conversations` from the store (each `/metrics` scrape, at a
        bounded cost: `gateway.unanswered_gauge`); keep the last value while the store cannot
        be read."""
        await self._unanswered.refresh()

    async def _unanswered_now(self) -> int:
        return await self.store.unanswered_since(
            self.clock() - self.config.identity.conversation_window
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Open the store, start delivering and pruning; stop and close everything on exit."""
        await self.store.open()
        try:
            if recovered := await self.store.recover():
                log.info("%d deliveries in flight at the last stop are due again", recovered)
            async with aiohttp.ClientSession() as http:
                await self.delivery.start(http)
                pruning = asyncio.create_task(
                    prune_forever(self.store, self.config.storage.retention, self.clock)
                )
                try:
                    yield self
                finally:
                    await self._unanswered.close()
                    pruning.cancel()
                    await asyncio.gather(pruning, return_exceptions=True)
                    await self.delivery.stop(self.config.server.shutdown_timeout.total_seconds())
        finally:
            await self.store.close()
