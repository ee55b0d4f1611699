"""A psycopg connection that speaks the shared SQL (`gateway.store.sql.Connection`).

The store's logic is written once, in SQLite's spelling: `?`, `?N` and `:name` parameters,
`BEGIN IMMEDIATE`, `INDEXED BY` hints. `PgConnection` rewrites each statement once (cached) into
psycopg's (`%s`, `%(name)s`, a literal `%` doubled, the SQLite-only words dropped) and leaves the
rest to the schema: migration 0001 of PostgreSQL defines the few SQLite functions the shared SQL
calls (`json_extract`, `json_type`, `json_valid`, `instr`). String literals are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import psycopg
from psycopg import pq

from gateway.store.sql import Params

__all__ = ["PgConnection", "PgCursor", "translate"]

_TOKEN = re.compile(
    r"'(?:[^']|'')*'|\?(\d+)|\?|(?<![:\w]):(\w+)|%|\bINDEXED BY \w+ ?|\bIMMEDIATE\b"
)
_CACHE_MAX = 4096
"""Translated statements kept (IN lists of varying length make new texts)."""

_Mapper = Callable[[Params], Params]


def _as_is(params: Params) -> Params:
    return params


def _numbered(count: int) -> _Mapper:
    names = [f"p{n}" for n in range(1, count + 1)]

    def to_names(params: Params) -> Params:
        assert not isinstance(params, Mapping), "numbered parameters are positional"
        return dict(zip(names, params, strict=True))

    return to_names


def translate(sql: str) -> tuple[str, _Mapper]:
    """Return `sql` in psycopg's parameter style, and the function that adapts its parameters."""
    highest = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal highest
        token = match[0]
        if token.startswith("'"):
            return token.replace("%", "%%")
        if match[1] is not None:
            highest = max(highest, int(match[1]))
            return f"%(p{match[1]})s"
        if token == "?":
            return "%s"
        if match[2] is not None:
            return f"%({match[2]})s"
        if token == "%":
            return "%%"
        return ""  # INDEXED BY name, IMMEDIATE: SQLite's alone

    text = _TOKEN.sub(replace, sql)
    return text, (_numbered(highest) if highest else _as_is)


_translated: dict[str, tuple[str, _Mapper]] = {}


def _translation(sql: str) -> tuple[str, _Mapper]:
    found = _translated.get(sql)
    if found is None:
        if len(_translated) >= _CACHE_MAX:
            _translated.clear()
        found = _translated[sql] = translate(sql)
    return found


class PgCursor:
    """A psycopg cursor taking the shared SQL."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed (summed over an `executemany`)."""
        return self._cursor.rowcount

    def execute(self, sql: str, parameters: Params = (), /) -> PgCursor:
        """Run one statement."""
        text, adapt = _translation(sql)
        self._cursor.execute(text, adapt(parameters))
        return self

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> PgCursor:
        """Run one statement once per parameter set."""
        text, adapt = _translation(sql)
        self._cursor.executemany(text, [adapt(params) for params in parameters])
        return self

    def fetchone(self) -> Any:
        """Return the next row, or None."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        """Return the remaining rows (none for a statement that returns none)."""
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the remaining rows."""
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection in autocommit mode taking the shared SQL; transactions are opened
    with explicit `BEGIN`, as on SQLite."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or failed and not yet rolled back)."""
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def cursor(self) -> PgCursor:
        """Return a new cursor."""
        return PgCursor(self.raw.cursor())

    def execute(self, sql: str, parameters: Params = (), /) -> PgCursor:
        """Run one statement on a new cursor."""
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> PgCursor:
        """Run one statement once per parameter set on a new cursor."""
        return self.cursor().executemany(sql, parameters)
