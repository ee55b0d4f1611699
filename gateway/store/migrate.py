"""Apply the versioned schema migrations to a SQLite database (PostgreSQL's: `postgres_schema`).

Migrations are the `NNNN_name.sql` files in `gateway/store/migrations/sqlite/`, numbered from
0001 without gaps. The version a database has reached is its `PRAGMA user_version`. Each pending
file runs in its own `BEGIN IMMEDIATE` transaction that also bumps the version, so a failed
migration leaves the database at the previous version, and two processes opening the same file
at once apply each migration exactly once. Downgrades are not supported: a database written by a
newer gateway is refused. Failures raise `StoreUnavailableError`.

A statement may span lines but must end with `;` at the end of a line: the file is split with
`sqlite3.complete_statement`, because `executescript` would commit the transaction it runs in.

Foreign keys are off while migrations run (a table rebuild drops a table others refer to) and
`PRAGMA foreign_key_check` must come back empty before each migration commits.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files

from gateway.errors import StoreUnavailableError

__all__ = ["Migration", "known_version", "load_migrations", "migrate", "migrate_file"]

_FILE_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: the SQL that brings the previous version to `version`."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: str = "sqlite") -> list[Migration]:
    """Return the packaged migrations of `dialect`, in version order."""
    root = files("gateway.store.migrations").joinpath(dialect)
    found = sorted(
        (
            Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8"))
            for entry in root.iterdir()
            if (match := _FILE_NAME.match(entry.name))
        ),
        key=lambda migration: migration.version,
    )
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations must be numbered 1..n without gaps: {versions}")
    return found


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Bring `conn` (in autocommit mode) to the latest version; return the versions applied."""
    if migrations is None:
        migrations = load_migrations()
    latest = migrations[-1].version if migrations else 0
    if _checked_version(conn, latest) == latest:
        return []
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set it out here
    try:
        return _apply(conn, migrations, latest)
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(enforced):d}")


def migrate_file(path: str) -> tuple[list[int], int]:
    """Migrate the SQLite file at `path` (created if missing); return the versions applied and
    the version it is at."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"cannot open {path}: {exc}") from exc
    try:
        applied = migrate(conn)
        return applied, int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _apply(conn: sqlite3.Connection, migrations: Sequence[Migration], latest: int) -> list[int]:
    applied: list[int] = []
    for migration in migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            if _checked_version(conn, latest) >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            if broken := conn.execute("PRAGMA foreign_key_check").fetchall():
                raise sqlite3.IntegrityError(f"it breaks foreign keys: {broken[:5]}")
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StoreUnavailableError(f"migration {migration.name} failed: {exc}") from exc
        except BaseException:
            _rollback(conn)
            raise
        applied.append(migration.version)
    return applied


def _checked_version(conn: sqlite3.Connection, latest: int) -> int:
    return known_version(conn.execute("PRAGMA user_version").fetchone()[0], latest)


def known_version(version: int, latest: int) -> int:
    """Return `version`; raise `StoreUnavailableError` if it is newer than `latest`."""
    if version > latest:
        raise StoreUnavailableError(
            f"the database has schema version {version} but this gateway only knows versions up"
            f" to {latest}: it was written by a newer gateway; upgrade the gateway to open it"
        )
    return version


def _statements(sql: str) -> Iterator[str]:
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip():
        yield statement  # a trailing comment is harmless; an unfinished statement fails loudly


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
