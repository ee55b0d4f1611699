"""Typed reads from an Update's JSON; anything malformed is a 422 naming its path.

Telegram's objects nest (`callback_query.message.chat.id`): `Obj` pairs a JSON object with its
path so each getter can name the field that is missing or of the wrong type. Absent and `null`
are the same; so is an empty string for optional text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.errors import PayloadError
from gateway.schema import in_range

__all__ = ["Obj"]


class Obj:
    """A JSON object inside the body, and where it is."""

    __slots__ = ("path", "value")

    def __init__(self, value: dict[str, Any], path: str = "") -> None:
        self.value = value
        self.path = path

    @classmethod
    def root(cls, body: Any) -> Obj:
        """Return the body as an `Obj`; it must be a JSON object."""
        if not isinstance(body, dict):
            raise PayloadError("expected a JSON object (one Telegram Update)", status=422)
        return cls(body)

    def where(self, key: str) -> str:
        """Return the path of member `key`."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, message: str, key: str) -> PayloadError:
        """Return a 422 `PayloadError` about member `key`."""
        return PayloadError(message, field=self.where(key), status=422)

    def object(self, key: str) -> Obj | None:
        """Return member `key`, a JSON object, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error("expected a JSON object", key)
        return Obj(value, self.where(key))

    def required_object(self, key: str) -> Obj:
        """Return member `key`, a JSON object."""
        found = self.object(key)
        if found is None:
            raise self.error("required field is missing", key)
        return found

    def objects(self, key: str) -> list[Obj]:
        """Return member `key`, an array of JSON objects (empty if absent)."""
        value = self.value.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error("expected an array", key)
        where = self.where(key)
        found = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise PayloadError("expected a JSON object", field=f"{where}.{index}", status=422)
            found.append(Obj(item, f"{where}.{index}"))
        return found

    def text(self, key: str) -> str | None:
        """Return member `key`, a string, or None if absent or empty."""
        value = self.value.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error("expected a string", key)
        return value

    def integer(self, key: str) -> int | None:
        """Return member `key`, an integer, or None if absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error("expected an integer", key)
        return value

    def required_integer(self, key: str) -> int:
        """Return member `key`, an integer (Telegram writes every id as one)."""
        found = self.integer(key)
        if found is None:
            raise self.error("required field is missing", key)
        return found

    def flag(self, key: str) -> bool:
        """Return True if member `key` is JSON `true`."""
        return self.value.get(key) is True

    def unix_seconds(self, key: str) -> datetime:
        """Return member `key`, Unix seconds, in UTC."""
        seconds = self.required_integer(key)
        try:
            return in_range(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            raise self.error(
                "timestamp out of range: must be after 1970-01-01 and before 9999-01-01", key
            ) from None
