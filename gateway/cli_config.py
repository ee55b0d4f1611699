"""How every `gateway` command finds and loads its configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.config_loader import default_config_path, load_config
from gateway.plugins import Plugins

__all__ = ["add_config_option", "load_from_args"]


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
