"""Typed reads from a Slack event's JSON: the core's `Node`, plus Slack's `ts` timestamps.

Absent and `null` are the same thing, and so is an empty string for optional text.
"""

from __future__ import annotations

import re
from datetime import datetime

from gateway.json_body import Node as JsonNode

__all__ = ["Node"]

_TS = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,6}))?")
"""A Slack `ts`: Unix seconds and microseconds, `"1355517523.000005"` (ASCII digits, bounded)."""


class Node(JsonNode):
    """A JSON object inside a Slack event, and where it is."""

    __slots__ = ()

    def required_text(self, key: str) -> str:
        """Return member `key`, a string that is not blank."""
        found = super().required_text(key)
        if not found.strip():
            raise self.error("required field is missing", key)
        return found

    def ts(self, key: str) -> datetime:
        """Return member `key`, a Slack `ts` (`"seconds.micros"`), in UTC."""
        value = self.required_text(key)
        match = _TS.fullmatch(value)
        if match is None:
            raise self.error("expected a Slack ts like '1355517523.000005'", key)
        return self.utc(int(match[1]), key, micros=int((match[2] or "0").ljust(6, "0")))
