"""The PostgreSQL server under the bench: a throwaway database, its backends, their CPU time.

The server must run on this machine (its processes are read from /proc and pinned). Its CPU
is measured two ways (`ServerCpu`):

- **backends**: the server processes serving the bench database's connections (the gateway
  instances' writer and reader, found in `pg_stat_activity` by database), live ones only;
- **server**: every process of the server (the postmaster and its children) except live
  backends of other databases (someone else's work): the bench's backends plus the WAL
  writer, checkpointer, background writer, autovacuum and any child that exited meanwhile (the
  postmaster's reaped-children time, `cutime + cstime`).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from harness import BenchError, process_cpu_s

__all__ = ["ADMIN_URL", "COUNTERS", "PostgresServer", "ServerCpu", "throwaway_database"]

ADMIN_URL = os.environ.get(
    "GATEWAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""A database to connect to for creating and dropping the bench's own (as tests/postgres.py)."""

COUNTERS = {
    "commits": "transactions",
    "rollbacks": "rollbacks",
    "rows_returned": "rows returned",
    "rows_fetched": "rows fetched",
    "rows_written": "rows written",
    "blocks_touched": "buffer pages touched",
    "seq_scans": "sequential scans",
    "seq_rows_read": "rows they read",
}
"""`PostgresServer.counters`, in the order it reads them, with their names in the report."""

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_SETTINGS = (
    "server_version",
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "commit_delay",
    "max_connections",
    "max_wal_size",
    "checkpoint_timeout",
    "autovacuum",
)


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """Create a database for this run; yield its URL; drop it (and its connections) after."""
    name = f"gateway_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"'.encode())
    except psycopg.Error as exc:
        raise BenchError(
            f"cannot create the bench database through {_safe(admin_url)}: {exc}; start the"
            " server (pg_ctlcluster --skip-systemctl-redirect 15 main start) or set"
            " GATEWAY_BENCH_POSTGRES"
        ) from exc
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 5432}{parts.path}"


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


@dataclass(frozen=True)
class ServerCpu:
    """CPU seconds so far of the server's processes (module docstring)."""

    backends: float
    server: float

    def __sub__(self, other: ServerCpu) -> ServerCpu:
        return ServerCpu(self.backends - other.backends, self.server - other.server)


class PostgresServer:
    """The local server the bench database lives on, watched through one admin connection."""

    def __init__(self, database_url: str) -> None:
        self.database = urlsplit(database_url).path.lstrip("/")
        self.url = database_url
        self._admin = psycopg.connect(database_url, autocommit=True, connect_timeout=5)
        self._own_pid = self._admin.info.backend_pid
        row = self._admin.execute("SHOW data_directory").fetchone()
        pidfile = Path(row[0] if row else "") / "postmaster.pid"
        try:
            self.postmaster = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            raise BenchError(
                f"cannot read {pidfile}: the PostgreSQL bench needs the server on this machine"
                " (its processes' CPU time is read from /proc)"
            ) from None

    def close(self) -> None:
        """Close the admin connection."""
        self._admin.close()

    def settings(self) -> dict[str, str]:
        """Return the server settings the figures depend on."""
        found = {}
        for name in _SETTINGS:
            row = self._admin.execute(f"SHOW {name}".encode()).fetchone()
            found[name] = str(row[0]) if row else "?"
        return found

    def reset(self) -> None:
        """Empty every table of the bench database but the schema version; checkpoint."""
        tables = [
            row[0]
            for row in self._admin.execute(
                "SELECT quote_ident(tablename) FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'gateway_schema'"
            ).fetchall()
        ]
        if tables:
            self._admin.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE".encode())
        self._admin.execute("CHECKPOINT")  # no write-back of the last phase lands in the next

    def counters(self) -> dict[str, float]:
        """Return the bench database's activity counters so far (`pg_stat_database`, and the
        sequential scans of its tables), as the server last flushed them."""
        self._admin.execute("SELECT pg_stat_clear_snapshot()")
        row = self._admin.execute(
            "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched,"
            " tup_inserted + tup_updated + tup_deleted, blks_hit + blks_read,"
            " (SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables),"
            " (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables)"
            " FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return dict(zip(COUNTERS, (float(v) for v in row or ()), strict=True))

    def _activity(self) -> list[tuple[int, str | None, str]]:
        rows = self._admin.execute(
            "SELECT pid, datname, backend_type FROM pg_stat_activity WHERE pid <> %s",
            (self._own_pid,),
        ).fetchall()
        return [(int(pid), datname, str(kind)) for pid, datname, kind in rows]

    def backends(self) -> list[int]:
        """Return the pids of the server processes serving the bench database's connections."""
        return [
            pid
            for pid, datname, kind in self._activity()
            if datname == self.database and kind == "client backend"
        ]

    def pin_backends(self, cpu: int | None, expect: int, timeout: float = 10.0) -> list[int]:
        """Wait until `expect` backends serve the bench database; pin them to `cpu`."""
        deadline = time.monotonic() + timeout
        while len(pids := self.backends()) < expect:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pids)} connections to the bench database, not {expect}")
            time.sleep(0.05)
        if cpu is not None:
            for pid in pids:
                os.sched_setaffinity(pid, {cpu})
        return pids

    def cpu(self) -> ServerCpu:
        """Return the CPU seconds so far of the bench's backends and of the whole server."""
        foreign = {
            pid
            for pid, datname, kind in self._activity()
            if kind == "client backend" and datname != self.database
        }
        foreign.add(self._own_pid)
        ours = set(self.backends())
        backends = server = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            fields = _stat(pid)
            if fields is None or int(fields[1]) != self.postmaster or pid in foreign:
                continue
            seconds = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
            server += seconds
            if pid in ours:
                backends += seconds
        postmaster = _stat(self.postmaster)
        if postmaster is None:
            raise BenchError("the PostgreSQL server stopped during the bench")
        server += process_cpu_s(self.postmaster)
        server += (int(postmaster[13]) + int(postmaster[14])) / _TICKS_PER_S  # reaped children
        return ServerCpu(backends, server)

    def server_cpu_s(self) -> float:
        """Return the whole server's CPU seconds so far (for the bench's foreign-CPU meter)."""
        return self.cpu().server

    def placement(self) -> dict[str, Any]:
        """Return the CPUs each kind of server process may run on right now."""
        kinds: dict[str, set[int]] = {}
        for pid, datname, kind in self._activity():
            label = "bench backends" if datname == self.database else kind
            try:
                kinds.setdefault(label, set()).update(os.sched_getaffinity(pid))
            except OSError:
                continue
        kinds.setdefault("postmaster", set()).update(os.sched_getaffinity(self.postmaster))
        return {label: sorted(cpus) for label, cpus in sorted(kinds.items())}
