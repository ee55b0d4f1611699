"""`gateway check --online`: start every configured backend and run its health check, once.

The same calls the gateway makes when it serves (`start()`, then `health_check()`), with the
same shared-session setup and timeouts, so an operator learns before a deploy whether each
backend's URL and credentials work. Results never show a secret of the backend's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiohttp

from gateway.backend import BackendContext, BackendSettings
from gateway.config import GatewayConfig
from gateway.errors import AuthenticationError, NotReadyError
from gateway.plugins import Plugins
from gateway.redaction import RedactingFilter, Redactor, settings_secrets

__all__ = ["BackendCheck", "check_backends"]

_MARGIN_S = 5.0
"""Headroom over a backend's own `timeout` for one call, as in the delivery engine."""


@dataclass(frozen=True, slots=True)
class BackendCheck:
    """One backend's result: `error` is None when it started and its health check passed."""

    name: str
    type: str
    error: str | None

    def line(self) -> str:
        """Return the result as `gateway check --online` prints it."""
        return f"backend {self.name} ({self.type}): {self.error or 'ok'}"


async def check_backends(config: GatewayConfig, plugins: Plugins) -> list[BackendCheck]:
    """Start each backend, run its `health_check`, close it; one result per backend, in order."""
    async with aiohttp.ClientSession() as http:
        checks = [
            _check(name, settings, plugins, http) for name, settings in config.backends.items()
        ]
        return list(await asyncio.gather(*checks))


async def _check(
    name: str, settings: BackendSettings, plugins: Plugins, http: aiohttp.ClientSession
) -> BackendCheck:
    redact = Redactor(settings_secrets(settings))
    logger = logging.getLogger(f"gateway.delivery.{name}")
    redacting = RedactingFilter(redact)
    logger.addFilter(redacting)
    backend = plugins.backends[settings.type].cls(BackendContext(name, http, logger), settings)
    deadline = settings.timeout.total_seconds() + _MARGIN_S
    error: str | None = None
    try:
        await asyncio.wait_for(backend.start(), deadline)
        await asyncio.wait_for(backend.health_check(), deadline)
    except AuthenticationError as exc:
        error = f"credentials refused: {exc}"
    except NotReadyError as exc:
        error = f"not ready: {exc}"
    except TimeoutError:
        error = f"timed out (the backend's timeout is {settings.timeout.total_seconds():g}s)"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        with contextlib.suppress(Exception):
            await backend.close()
        logger.removeFilter(redacting)
    return BackendCheck(name, settings.type, None if error is None else redact(error))
