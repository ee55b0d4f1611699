"""Durations as configuration writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from gateway.settings_types import OneOrMany, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200ms", timedelta(milliseconds=200)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1.5s", timedelta(seconds=1.5)),
        (90, timedelta(seconds=90)),
        (0.25, timedelta(seconds=0.25)),
    ],
)
def test_parse(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["5 weeks", "-3s", -1, True, "", None, "10"])
def test_parse_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(hours=24), "1d"), (timedelta(hours=3), "3h"), (timedelta(seconds=1.5), "1500ms")],
)
def test_format_round_trips(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_one_or_many_json_schema_accepts_one_item_or_a_list() -> None:
    class Model(BaseModel):
        names: OneOrMany[str]

    assert Model.model_json_schema()["properties"]["names"]["anyOf"] == [
        {"type": "string"},
        {"items": {"type": "string"}, "type": "array"},
    ]
