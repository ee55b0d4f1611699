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
from gateway.cli_migrate import add_migrate_command
from gateway.cli_send import add_send_command
from gateway.config_schema import config_json_schema
from gateway.demo_secrets import demo_secret_warning
from gateway.errors import ConfigError, PluginLoadError
from gateway.log_format import config_secrets, configure_logging
from gateway.plugins import Plugins, load_plugins
from gateway.schema import Interaction

__all__ = ["EXIT_BROKEN_PIPE", "UsageError", "log_level", "main"]


EXIT_BROKEN_PIPE = 141
"""What a shell reports for a program killed by SIGPIPE: `gateway ... | head` stops quietly."""

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UsageError(Exception):
    """A mistake in how the command was run (exit status 2, like argparse's own)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        plugins = load_plugins()
        status = int(args.run(args, plugins))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except (ConfigError, PluginLoadError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (`head`, `less`) has gone: point stdout at /dev/null so the interpreter's
        # final flush does not fail again, and exit as a SIGPIPE'd program would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return status


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
    check.add_argument(
        "--online",
        action="store_true",
        help="also start every backend and run its health check (calls the remotes)",
    )
    check.set_defaults(run=_check)
    plugins = verbs.add_parser("plugins", help="list channel and backend types and their source")
    plugins.set_defaults(run=_plugins)
    schema = verbs.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=["interaction", "config"])
    schema.set_defaults(run=_schema)
    add_delivery_commands(verbs)
    add_customer_commands(verbs)
    add_send_command(verbs)
    add_migrate_command(verbs)
    return parser


def _serve(args: argparse.Namespace, plugins: Plugins) -> int:
    from gateway.runtime import Gateway
    from gateway.server import serve

    path, config = load_from_args(args, plugins)
    level = log_level(config.logging.level)
    configure_logging(config.logging, level, config_secrets(config))
    logger = logging.getLogger("gateway")
    logger.info("configuration: %s", path)
    if warning := demo_secret_warning(config):
        logger.warning("%s", warning)
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


def log_level(default: str = "INFO") -> str:
    """Return the level `$GATEWAY_LOG_LEVEL` names, else `default` (the config's
    `logging.level`); raise `UsageError` if the variable names no level."""
    written = os.environ.get("GATEWAY_LOG_LEVEL", default)
    level = written.strip().upper()
    if level not in _LOG_LEVELS:
        raise UsageError(
            f"GATEWAY_LOG_LEVEL={written!r} is not a log level; use one of {', '.join(_LOG_LEVELS)}"
        )
    return level


def _check(args: argparse.Namespace, plugins: Plugins) -> int:
    log_level()
    path, config = load_from_args(args, plugins)
    if warning := demo_secret_warning(config):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(
        f"{path}: ok ({len(config.channels)} channels, {len(config.backends)} backends, "
        f"{len(config.routes)} routes)"
    )
    if not args.online:
        return 0
    from gateway.online_check import check_backends

    results = asyncio.run(check_backends(config, plugins))
    for result in results:
        print(result.line())
    return 1 if any(result.error for result in results) else 0


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
