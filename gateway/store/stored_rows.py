"""Loading a stored interaction body: the Interaction, or a record saying why it no longer reads.

The schema bounds every field; rows stored by an older version with looser bounds (or corrupted
by hand) may no longer validate. Every read path loads bodies here, so such a row shows up as an
`UnreadableInteraction` in its place instead of failing the whole page, list or command. A reason
names pydantic's locations and error types or messages, never a stored value: a row may hold
personal data, and a corrupted one anything at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Final

from pydantic import ValidationError

from gateway.schema import Interaction
from gateway.store.sql import Connection

__all__ = [
    "INTERACTION_COLUMNS",
    "StoredInteraction",
    "UnreadableInteraction",
    "UnreadableLog",
    "get_interaction",
    "list_interactions",
    "load_interaction",
    "unreadable_reason",
    "validated",
]

log = logging.getLogger("gateway.store")

INTERACTION_COLUMNS: Final = "id, channel_id, external_id, received_at, body"
"""The columns `load_interaction` takes, in its order: select them to load a row."""
_REASONS_SHOWN = 5
"""Validation errors named in a reason; the rest are counted."""
_QUOTES_INPUT = frozenset({"value_error", "assertion_error"})
"""Error types whose message may quote the input (our validators write some): named by type only."""


@dataclass(frozen=True, slots=True)
class UnreadableInteraction:
    """A stored interaction that no longer validates: its columns as stored, and why."""

    id: str
    channel_id: str
    external_id: str
    received_at: str
    reason: str


StoredInteraction = Interaction | UnreadableInteraction
"""What a read of a stored interaction returns."""


def unreadable_reason(exc: ValidationError) -> str:
    """Say where and why a stored interaction fails validation, never quoting its values."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    named = [
        f"{_location(e['loc'])}: " + (e["type"] if e["type"] in _QUOTES_INPUT else e["msg"])
        for e in errors[:_REASONS_SHOWN]
    ]
    more = f" (and {len(errors) - _REASONS_SHOWN} more)" if len(errors) > _REASONS_SHOWN else ""
    return "stored interaction no longer validates: " + "; ".join(named) + more


def _location(loc: tuple[int | str, ...]) -> str:
    """Return `loc` dotted; keys that are no field of the schema (input, then) become `<key>`."""
    known = _schema_fields()
    parts = [str(p) if isinstance(p, int) or p in known else "<key>" for p in loc]
    return ".".join(parts) or "body"


@cache
def _schema_fields() -> frozenset[str]:
    schema = Interaction.model_json_schema()
    models = [schema, *schema.get("$defs", {}).values()]
    return frozenset(name for model in models for name in model.get("properties", {}))


def validated(body: str | bytes) -> Interaction | str:
    """Return the interaction a stored body holds, or the reason it no longer validates."""
    try:
        return Interaction.model_validate_json(body)
    except ValidationError as exc:  # invalid JSON is a ValidationError too
        return unreadable_reason(exc)


class UnreadableLog:
    """Logs one WARNING per unreadable row, at most once per row id per `interval` seconds.

    Reads run on the store's threads, hence the lock. The ids remembered are bounded: past
    `capacity`, the expired ones are forgotten, and if none had expired, all of them.
    """

    def __init__(
        self,
        interval: float = 600.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval, self.capacity = interval, capacity
        self._clock = clock
        self._logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def unreadable(self, row: UnreadableInteraction) -> None:
        """Log `row` (its id, channel and reason, no value) unless it was logged lately."""
        now = self._clock()
        with self._lock:
            last = self._logged.get(row.id)
            if last is not None and now - last < self.interval:
                return
            if len(self._logged) >= self.capacity:
                self._logged = {k: t for k, t in self._logged.items() if now - t < self.interval}
                if len(self._logged) >= self.capacity:
                    self._logged.clear()
            self._logged[row.id] = now
        log.warning(
            "interaction %s (channel %s) cannot be read: %s; fix or erase the row"
            " (docs/operations.md, 'Rows that no longer validate')",
            row.id,
            row.channel_id,
            row.reason,
        )


_LOG = UnreadableLog()


def load_interaction(row: tuple[str, str, str, str, str | bytes]) -> StoredInteraction:
    """Load a row of `INTERACTION_COLUMNS`: its Interaction, or an `UnreadableInteraction`."""
    interaction_id, channel_id, external_id, received_at, body = row
    loaded = validated(body)
    if isinstance(loaded, Interaction):
        return loaded
    unreadable = UnreadableInteraction(interaction_id, channel_id, external_id, received_at, loaded)
    _LOG.unreadable(unreadable)
    return unreadable


def list_interactions(
    conn: Connection, channel_id: str | None, limit: int, after: str | None
) -> list[StoredInteraction]:
    """Return stored interactions in arrival order after the one with id `after`."""
    sql = f"SELECT {INTERACTION_COLUMNS} FROM interactions"
    sql += " WHERE rowid > coalesce((SELECT rowid FROM interactions"
    sql += " WHERE id = :after), 0)"
    if channel_id is not None:
        # An expression keeps the planner off the dedupe index: a page walks rowids, unsorted.
        sql += " AND channel_id || '' = :channel"
    rows = conn.execute(
        sql + " ORDER BY rowid LIMIT :limit",
        {"after": after, "channel": channel_id, "limit": limit},
    )
    return [load_interaction(row) for row in rows]


def get_interaction(conn: Connection, interaction_id: str) -> StoredInteraction | None:
    """Return one stored interaction, or None."""
    sql = f"SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = ?"
    row = conn.execute(sql, (interaction_id,)).fetchone()
    return None if row is None else load_interaction(row)
