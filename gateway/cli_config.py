"""How every `gateway` command finds and loads its configuration, and opens its store."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from gateway.config import GatewayConfig
from gateway.config_loader import default_config_path, load_config
from gateway.plugins import Plugins
from gateway.runtime import open_store
from gateway.store.base import Store

__all__ = ["add_config_option", "load_from_args", "with_store"]

T = TypeVar("T")


def add_config_option(command: argparse.ArgumentParser) -> None:
    """Give `command` the `--config FILE` option."""
    command.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $GATEWAY_CONFIG, config/gateway.yaml, "
        "or the embedded default)",
    )


def load_from_args(args: argparse.Namespace, plugins: Plugins) -> tuple[Path, GatewayConfig]:
    """Return the configuration `--config` names (or the default one) and its path."""
    path: Path = args.config or default_config_path()
    return path, load_config(path, plugins)


def with_store(
    args: argparse.Namespace,
    plugins: Plugins,
    work: Callable[[Store, GatewayConfig], Awaitable[T]],
) -> T:
    """Run `work` on the store the configuration names, opened for it and closed after."""
    _, config = load_from_args(args, plugins)

    async def run() -> T:
        store = open_store(config)
        await store.open()
        try:
            return await work(store, config)
        finally:
            await store.close()

    return asyncio.run(run())
