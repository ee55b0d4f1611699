"""Typed reads from a Slack event's JSON; anything malformed is a 422 naming its path.

Absent and `null` are the same thing, and so is an empty string for optional text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import PayloadError
from gateway.schema import in_range

__all__ = ["Node"]

_TS = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,6}))?")
"""A Slack `ts`: Unix seconds and microseconds, `"1355517523.000005"` (ASCII digits, bounded)."""


class Node:
    """A JSON object inside the body, and where it is."""

    __slots__ = ("path", "value")

    def __init__(self, value: dict[str, Any], path: str = "") -> None:
        self.value = value
        self.path = path

    @classmethod
    def root(cls, body: Any) -> Node:
        """Return the body as a `Node`; it must be a JSON object."""
        if not isinstance(body, dict):
            raise PayloadError("expected a JSON object", status=422)
        return cls(body)

    def where(self, key: str | int | None = None) -> str:
        """Return the path of this object, or of its member `key`."""
        if key is None:
            return self.path
        return f"{self.path}.{key}" if self.path else str(key)

    def error(self, message: str, key: str | int | None = None) -> PayloadError:
        """Return a 422 `PayloadError` about this object or its member `key`."""
        return PayloadError(message, field=self.where(key) or None, status=422)

    def object(self, key: str) -> Node | None:
        """Return member `key`, a JSON object, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error("expected a JSON object", key)
        return Node(value, self.where(key))

    def required_object(self, key: str) -> Node:
        """Return member `key`, a JSON object."""
        found = self.object(key)
        if found is None:
            raise self.error("required field is missing", key)
        return found

    def objects(self, key: str) -> list[Node]:
        """Return member `key`, an array of JSON objects (empty if absent)."""
        value = self.value.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error("expected an array", key)
        nodes = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error("expected a JSON object", f"{key}.{index}")
            nodes.append(Node(item, self.where(f"{key}.{index}")))
        return nodes

    def text(self, key: str) -> str | None:
        """Return member `key`, a string, or None if absent or empty."""
        value = self.value.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error("expected a string", key)
        return value

    def required_text(self, key: str) -> str:
        """Return member `key`, a non-empty string."""
        found = self.text(key)
        if found is None or not found.strip():
            raise self.error("required field is missing", key)
        return found

    def size(self, key: str) -> int | None:
        """Return member `key`, a byte count, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error("expected an integer", key)
        return value

    def flag(self, key: str) -> bool:
        """Return True if member `key` is JSON `true`."""
        return self.value.get(key) is True

    def ts(self, key: str) -> datetime:
        """Return member `key`, a Slack `ts` (`"seconds.micros"`), in UTC."""
        value = self.required_text(key)
        match = _TS.fullmatch(value)
        if match is None:
            raise self.error("expected a Slack ts like '1355517523.000005'", key)
        seconds, micros = int(match[1]), int((match[2] or "0").ljust(6, "0"))
        try:
            moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)
            return in_range(moment)
        except (OverflowError, OSError, ValueError):
            raise self.error(
                "timestamp out of range: must be after 1970-01-01 and before 9999-01-01", key
            ) from None
