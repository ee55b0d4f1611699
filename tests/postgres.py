"""A throwaway PostgreSQL database per test run, and a fresh schema in it per test.

The server is the machine's (`.ci/run` makes sure it runs): `GATEWAY_TEST_POSTGRES` names a
database to connect to for creating and dropping the run's own (default: the `postgres`
database on 127.0.0.1:5432 as user `postgres`). A server that cannot be reached fails the tests
that need it: the PostgreSQL half of the store suite is never skipped.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

__all__ = ["ADMIN_URL", "every_row", "scratch_database", "scratch_schema"]

ADMIN_URL = os.environ.get("GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def scratch_database() -> Iterator[str]:
    """Create a database for this run; yield its URL; drop it (and its connections) after."""
    name = f"gateway_test_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@contextmanager
def scratch_schema(database_url: str) -> Iterator[str]:
    """Create an empty schema; yield a URL whose connections work in it; drop it after."""
    schema = f"t_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    separator = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


def every_row(url: str) -> list[tuple[str, tuple[object, ...]]]:
    """Return (table, row) of every row of every table of the store `url` names, either kind."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return [(t, tuple(row)) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')]
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]
        return [
            (t, tuple(row)) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'.encode())
        ]
