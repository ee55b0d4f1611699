"""Typed reads from a webhook's JSON body, for channel plugins; anything malformed is a 422
naming its path.

Providers' payloads nest deeply (`entry.0.changes.0.value.messages.0.id`). `Node` pairs a JSON
object with its path, so every getter can say exactly which field was missing or of the wrong
type. Absent and `null` are the same thing; so is an empty string for optional text. A plugin
subclasses `Node` for its provider's own formats: the objects a node returns are of its class.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from gateway.errors import PayloadError
from gateway.schema import in_range

__all__ = ["Node", "put"]

_DIGITS = re.compile(r"^[0-9]{1,18}$")  # bounded: int() of a huge string is slow, then refused


class Node:
    """A JSON object inside the body, and where it is."""

    __slots__ = ("path", "value")

    def __init__(self, value: dict[str, Any], path: str = "") -> None:
        self.value = value
        self.path = path

    @classmethod
    def root(cls, body: Any) -> Self:
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

    def object(self, key: str) -> Self | None:
        """Return member `key`, a JSON object, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error("expected a JSON object", key)
        return type(self)(value, self.where(key))

    def required_object(self, key: str) -> Self:
        """Return member `key`, a JSON object."""
        found = self.object(key)
        if found is None:
            raise self.error("required field is missing", key)
        return found

    def objects(self, key: str) -> list[Self]:
        """Return member `key`, an array of JSON objects (empty if absent)."""
        value = self.value.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error("expected an array", key)
        where = self.where(key)
        nodes = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise PayloadError("expected a JSON object", field=f"{where}.{index}", status=422)
            nodes.append(type(self)(item, f"{where}.{index}"))
        return nodes

    def required_objects(self, key: str) -> list[Self]:
        """Return member `key`, an array of JSON objects that must be present."""
        if self.value.get(key) is None:
            raise self.error("required field is missing", key)
        return self.objects(key)

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
        if found is None:
            raise self.error("required field is missing", key)
        return found

    def id(self, key: str) -> str | None:
        """Return member `key`, an id written as a string or an integer, or None if absent."""
        value = self.value.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(key)

    def required_id(self, key: str) -> str:
        """Return member `key`, an id written as a string or an integer."""
        found = self.id(key)
        if found is None or not found.strip():
            raise self.error("required field is missing", key)
        return found

    def strings(self, key: str) -> list[str]:
        """Return member `key`, an array of non-empty strings (empty if absent)."""
        value = self.value.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise self.error("expected an array of strings", key)
        return list(value)

    def integer(self, key: str) -> int | None:
        """Return member `key`, an integer, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error("expected an integer", key)
        return value

    def number(self, key: str) -> float | None:
        """Return member `key`, a finite number, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error("expected a number", key)
        return float(value)

    def flag(self, key: str) -> bool:
        """Return True if member `key` is JSON `true`."""
        return self.value.get(key) is True

    def required_integer(self, key: str) -> int:
        """Return member `key`, an integer."""
        found = self.integer(key)
        if found is None:
            raise self.error("required field is missing", key)
        return found

    def unix_seconds(self, key: str) -> datetime:
        """Return member `key`, Unix seconds as a string of digits or an integer, in UTC."""
        value = self.value.get(key)
        if isinstance(value, str) and _DIGITS.match(value):
            value = int(value)
        if value is None:
            raise self.error("required field is missing", key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error("expected Unix seconds", key)
        return self.utc(value, key)

    def unix_millis(self, key: str) -> datetime:
        """Return member `key`, Unix milliseconds as an integer, in UTC."""
        value = self.integer(key)
        if value is None:
            raise self.error("required field is missing", key)
        seconds, millis = divmod(value, 1000)  # exact: no float rounding of the milliseconds
        return self.utc(seconds, key, micros=millis * 1000)

    def utc(self, seconds: int, key: str, *, micros: int = 0) -> datetime:
        """Return Unix `seconds` (+ `micros`) read from member `key` in UTC, or a 422 if it is
        outside the schema's range."""
        try:
            return in_range(datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros))
        except (OverflowError, OSError, ValueError):
            raise self.error(
                "timestamp out of range: must be after 1970-01-01 and before 9999-01-01", key
            ) from None


def put(metadata: dict[str, str], key: str, value: str | None) -> None:
    """Set `metadata[key]` to `value`, unless there is no value."""
    if value is not None:
        metadata[key] = value
