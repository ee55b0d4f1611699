"""Typed reads from an Update's JSON: the core's `Node`, with Telegram's integer dates.

Telegram's objects nest (`callback_query.message.chat.id`): `Obj` pairs a JSON object with its
path so each getter can name the field that is missing or of the wrong type. Absent and `null`
are the same; so is an empty string for optional text.
"""

from __future__ import annotations

from datetime import datetime

from gateway.json_body import Node

__all__ = ["Obj"]


class Obj(Node):
    """A JSON object inside an Update, and where it is."""

    __slots__ = ()

    def unix_seconds(self, key: str) -> datetime:
        """Return member `key`, Unix seconds (Telegram writes an integer), in UTC."""
        return self.utc(self.required_integer(key), key)
