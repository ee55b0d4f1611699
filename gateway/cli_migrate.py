"""`gateway migrate`: bring the configured store's schema to this gateway's version.

A serving gateway migrates an older schema itself when it opens the store; run this before a
rolling upgrade of several instances on one PostgreSQL database, so that the new version's
schema is in place before its first instance starts (docs/deployment.md). A schema newer than
this gateway knows is refused, here as at start-up.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli_config import add_config_option, load_from_args
from gateway.errors import StoreUnavailableError
from gateway.plugins import Plugins

__all__ = ["add_migrate_command"]


def add_migrate_command(verbs: Any) -> None:
    """Add the `migrate` command to the `gateway` parser's subcommands."""
    migrate = verbs.add_parser("migrate", help="apply the store's pending schema migrations")
    add_config_option(migrate)
    migrate.set_defaults(run=_migrate)


def _migrate(args: argparse.Namespace, plugins: Plugins) -> int:
    _, config = load_from_args(args, plugins)
    url = config.storage.url
    try:
        if url.startswith(("postgresql://", "postgres://")):
            from gateway.store.postgres_schema import migrate_url

            applied, version = migrate_url(url)
        else:
            from gateway.store.migrate import migrate_file
            from gateway.store.sqlite import sqlite_path_from_url

            applied, version = migrate_file(sqlite_path_from_url(url))
    except StoreUnavailableError as exc:
        print(f"gateway migrate: {exc}", file=sys.stderr)
        return 1
    done = f"applied {', '.join(map(str, applied))}" if applied else "nothing to apply"
    print(f"schema version {version} ({done})")
    return 0
