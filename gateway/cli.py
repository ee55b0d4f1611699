"""The `gateway` command (also `python -m gateway`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from gateway import __version__
from gateway.cli_config import add_config_option, load_from_args
from gateway.cli_customers import add_customer_commands
from gateway.cli_deliveries import add_delivery_commands
from gateway.config_schema import config_json_schema
from gateway.errors import ConfigError, PluginLoadError
from gateway.plugins import Plugins, load_plugins
from gateway.schema import Interaction

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        plugins = load_plugins()
        return int(args.run(args, plugins))
    except (ConfigError, PluginLoadError) as exc:
        print(exc, file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description="Channel Gateway: provider webhooks in, CRMs out."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    serve = verbs.add_parser("serve", help="run the gateway")
    add_config_option(serve)
    serve.set_defaults(run=_serve)
    check = verbs.add_parser("check", help="validate the configuration; exit 0 if valid")
    add_config_option(check)
    check.set_defaults(run=_check)
    plugins = verbs.add_parser("plugins", help="list channel and backend types and their source")
    plugins.set_defaults(run=_plugins)
    schema = verbs.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=["interaction", "config"])
    schema.set_defaults(run=_schema)
    add_delivery_commands(verbs)
    add_customer_commands(verbs)
    return parser


def _serve(args: argparse.Namespace, plugins: Plugins) -> int:
    from gateway.runtime import Gateway
    from gateway.server import serve

    logging.basicConfig(
        level=os.environ.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    path, config = load_from_args(args, plugins)
    logging.getLogger("gateway").info("configuration: %s", path)
    run_event_loop(serve(Gateway(config, plugins)))
    return 0


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (faster networking), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        logging.getLogger("gateway").info("event loop: asyncio (install uvloop for speed)")
        asyncio.run(main)
    else:
        uvloop.run(main)


def _check(args: argparse.Namespace, plugins: Plugins) -> int:
    path, config = load_from_args(args, plugins)
    print(
        f"{path}: ok ({len(config.channels)} channels, {len(config.backends)} backends, "
        f"{len(config.routes)} routes)"
    )
    return 0


def _plugins(args: argparse.Namespace, plugins: Plugins) -> int:
    rows = [("TYPE", "ROLE", "KIND", "DISTRIBUTION")]
    rows += [
        (r.cls.type_name, "channel", r.cls.kind, f"{r.source.distribution} {r.source.version}")
        for r in plugins.channels
    ]
    for role, registry in (("backend", plugins.backends), ("enricher", plugins.enrichers)):
        rows += [
            (r.cls.type_name, role, "-", f"{r.source.distribution} {r.source.version}")
            for r in registry
        ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _schema(args: argparse.Namespace, plugins: Plugins) -> int:
    schema = (
        Interaction.model_json_schema(by_alias=True)
        if args.what == "interaction"
        else config_json_schema(plugins)
    )
    print(json.dumps(schema, indent=2))
    return 0
