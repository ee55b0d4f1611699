"""Twilio's webhook parameters, read from a form or a JSON body, with errors naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from gateway.errors import PayloadError
from gateway.plugin import WebhookRequest
from gateway.schema import in_range

__all__ = ["FORM", "JSON", "Params"]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_COUNT = re.compile(r"[0-9]{1,18}")
"""A count is ASCII digits, and few: `int()` also takes `١٢`, `+5`, `1_0` and raises on 5,000."""


class Params:
    """Every parameter of one webhook, repeated names included, as Twilio sent them."""

    __slots__ = ("values",)

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in pairs:
            self.values.setdefault(name, []).append(value)

    @classmethod
    def of(cls, req: WebhookRequest) -> Params:
        """Return the parameters of a form-encoded or JSON webhook."""
        if req.content_type == JSON:
            return cls(_json_pairs(req.json()))
        return cls(req.form.items() if req.form is not None else ())

    def get(self, name: str) -> str | None:
        """Return the first value of `name`, or None if it is absent or blank."""
        values = self.values.get(name)
        if not values or not values[0].strip():
            return None
        return values[0]

    def require(self, name: str) -> str:
        """Return the value of `name`, or raise a 422 naming it."""
        value = self.get(name)
        if value is None:
            raise PayloadError("required parameter is missing or blank", field=name, status=422)
        return value.strip()

    def count(self, name: str, *, most: int | None = None) -> int | None:
        """Return `name` as a non-negative integer (at most `most`), None if absent, else 422."""
        value = self.get(name)
        if value is None:
            return None
        if not _COUNT.fullmatch(value.strip()):
            raise PayloadError(
                f"expected a whole number of 1 to 18 digits, got {value!r:.40}",
                field=name,
                status=422,
            )
        number = int(value)
        if number < 0 or (most is not None and number > most):
            limit = f"0 to {most}" if most is not None else "a non-negative number"
            raise PayloadError(f"expected {limit}, got {number}", field=name, status=422)
        return number

    def timestamp(self, name: str) -> datetime | None:
        """Return `name` (RFC 2822, as in Twilio's `Timestamp`) as UTC, None if absent, else 422."""
        value = self.get(name)
        if value is None:
            return None
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise PayloadError(
                f"expected an RFC 2822 date, got {value!r:.40}", field=name, status=422
            ) from None
        # RFC 2822 writes an unknown zone as -0000, which Python reads as naive: it is UTC.
        try:
            return in_range(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except ValueError as exc:
            raise PayloadError(str(exc), field=name, status=422) from None

    def identity(self, name: str) -> list[dict[str, str]]:
        """Return the address in `name` as a party's identities, in Twilio's spelling.

        `Channel.interaction` normalises it (E.164 phone, `client:` a Twilio Client) and keeps
        one that names no phone (`anonymous`, `+266696687`, blank, a short code) in `metadata`.
        """
        values = self.values.get(name)
        return [{"kind": "phone", "value": values[0]}] if values else []

    def extras(self, names: Iterable[str]) -> dict[str, str]:
        """Return the non-blank values of `names` (first value each), for `metadata`."""
        found = {}
        for name in names:
            value = self.get(name)
            if value is not None:
                found[name] = value.strip()
        return found

    def raw(self) -> dict[str, Any]:
        """Return the parameters as JSON: a string per name, a list for repeated names."""
        return {
            name: values[0] if len(values) == 1 else list(values)
            for name, values in self.values.items()
        }


def _json_pairs(payload: Any) -> list[tuple[str, str]]:
    """Return a JSON webhook's flat object as form-like pairs; nested values are left out."""
    if not isinstance(payload, Mapping):
        raise PayloadError("expected a JSON object of Twilio parameters", status=422)
    pairs: list[tuple[str, str]] = []
    for name, value in payload.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                pairs.append((name, "true" if item else "false"))
            elif isinstance(item, str | int | float):
                pairs.append((name, str(item)))
    return pairs
