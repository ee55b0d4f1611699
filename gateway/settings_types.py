"""Field types shared by configuration models: durations, networks and one-or-many lists."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core.core_schema import CoreSchema

__all__ = [
    "Cidr",
    "Duration",
    "OneOrMany",
    "format_duration",
    "one_or_many",
    "parse_cidr",
    "parse_duration",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: Any) -> timedelta:
    """Return `value` (`"30s"`, `"24h"`, `90`, a timedelta) as a non-negative timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        raise ValueError(
            f"invalid duration {value!r}: use a number of seconds or a number with a unit "
            "(ms, s, m, h, d), like 30s or 24h"
        )
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Return the shortest exact unit form of `value`, e.g. `24h` or `1500ms`."""
    millis = round(value.total_seconds() * 1000)
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis and millis % factor == 0:
            return f"{millis // factor}{unit}"
    return f"{millis}ms"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _PATTERN.pattern},
                {"type": "number", "minimum": 0},
            ]
        }
    ),
]
"""A pydantic field type for durations written the configuration's way."""


def one_or_many(value: Any) -> Any:
    """Let configuration write a single value where a list is accepted."""
    return value if isinstance(value, list) else [value]


class _OneOrManySchema:
    """Says in the JSON Schema what `one_or_many` accepts: one item, or a list of them."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        array = handler(schema)
        return {"anyOf": [array.get("items", {}), array]}


T = TypeVar("T")
OneOrMany = Annotated[list[T], BeforeValidator(one_or_many), _OneOrManySchema()]
"""A list field that also accepts a single value: `to: audit` means `to: [audit]`."""


def parse_cidr(value: str) -> str:
    """Return `value` (`10.0.0.0/8`, `::1`, `192.0.2.7`) as a network in CIDR form."""
    try:
        return str(ipaddress.ip_network(value.strip()))
    except ValueError:
        raise ValueError(
            f"invalid network {value!r}: use an address or a network in CIDR form, "
            "like 10.0.0.0/8, 192.0.2.7 or ::1 (no host bits set after the prefix)"
        ) from None


Cidr = Annotated[str, AfterValidator(parse_cidr)]
"""A pydantic field type for an IP address or network, kept in CIDR form (`10.0.0.0/8`)."""
