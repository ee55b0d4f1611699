"""Apply the versioned schema migrations to a PostgreSQL database.

Migrations are the `NNNN_name.sql` files in `gateway/store/migrations/postgres/`, numbered from
0001 without gaps (`migrate.load_migrations`). The version a database has reached is the one row
of `gateway_schema`. Instances starting at once migrate one at a time: each takes a session-level
advisory lock first, and each file runs in its own transaction that also bumps the version, so a
failed migration leaves the database at the previous version. A database written by a newer
gateway is refused (`StoreUnavailableError`), whether by `gateway migrate` or an instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from gateway.errors import StoreUnavailableError
from gateway.store.migrate import Migration, known_version, load_migrations
from gateway.store.sql import first_line

__all__ = ["MIGRATION_LOCK", "migrate_postgres", "migrate_url", "schema_version"]

MIGRATION_LOCK = 0x6761_7465_7761_7900
"""The advisory lock every instance takes to migrate ('gateway' in ASCII)."""
_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS gateway_schema (version integer NOT NULL)"


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """Return the schema version of the database (0: never migrated)."""
    row = conn.execute("SELECT to_regclass('gateway_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT max(version) FROM gateway_schema").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def migrate_postgres(
    conn: psycopg.Connection[Any], migrations: Sequence[Migration] | None = None
) -> list[int]:
    """Bring the database of `conn` (autocommit) to the latest version; return the versions
    applied."""
    if migrations is None:
        migrations = load_migrations("postgres")
    latest = migrations[-1].version if migrations else 0
    if known_version(schema_version(conn), latest) == latest:
        return []
    applied: list[int] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        for migration in migrations:
            # Re-read under the lock: another instance may have migrated meanwhile.
            if known_version(schema_version(conn), latest) >= migration.version:
                continue
            try:
                with conn.transaction():
                    conn.execute(_VERSION_TABLE)
                    conn.execute(migration.sql.encode())  # no parameters: `%` stays as written
                    conn.execute("DELETE FROM gateway_schema")
                    conn.execute(
                        "INSERT INTO gateway_schema (version) VALUES (%s)", (migration.version,)
                    )
            except psycopg.Error as exc:
                raise StoreUnavailableError(f"migration {migration.name} failed: {exc}") from exc
            applied.append(migration.version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied


def migrate_url(url: str) -> tuple[list[int], int]:
    """Migrate the database `url` names; return the versions applied and the version it is at."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            applied = migrate_postgres(conn)
            return applied, schema_version(conn)
    except psycopg.Error as exc:
        reason = first_line(exc)
        raise StoreUnavailableError(f"cannot migrate the PostgreSQL database: {reason}") from exc
