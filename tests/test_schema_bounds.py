"""Every timestamp, integer, string and list of `interaction/v1` is bounded (issue 10, items 8, 10,
13): a value beyond a bound is a clean validation error naming the field (a 422 at the edge),
never an `OverflowError`, never stored; the phone cache holds bounded keys only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from gateway import normalize, schema
from gateway.schema import Interaction
from gateway.testing import GatewayFactory
from tests.payloads import SECRET, message
from tests.test_schema import BASE

_OUT_OF_RANGE = (
    "0001-01-01T00:00:00Z",  # Go's zero time
    "0001-01-01T00:00:00+01:00",  # overflows while converting to UTC
    "0001-01-01T00:59:59-23:59",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "1970-01-01T00:59:59+01:00",
    "9999-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",  # overflows while converting to UTC
    "9999-12-31T23:59:59.999999-23:59",
)
_IN_RANGE = ("1970-01-01T00:00:01Z", "1970-01-01T01:00:01+01:00", "9998-12-31T23:59:59Z")


@pytest.mark.parametrize("field", ["occurred_at", "received_at"])
@pytest.mark.parametrize("moment", _OUT_OF_RANGE)
def test_timestamps_outside_the_range_are_validation_errors(field: str, moment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Interaction.model_validate({**BASE, field: moment})
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("moment", _IN_RANGE)
def test_timestamps_inside_the_range_are_kept(moment: str) -> None:
    interaction = Interaction.model_validate({**BASE, "occurred_at": moment})
    assert schema.EARLIEST < interaction.occurred_at < schema.LATEST


def _call(**call: Any) -> dict[str, Any]:
    return {"type": "call", "call": {"status": "completed", **call}}


def _content(**content: Any) -> dict[str, Any]:
    return {"content": content}


def _sender(**party: Any) -> dict[str, Any]:
    return {"sender": party}


_PHONE = {"kind": "phone", "value": "+15551234567"}
_TOO_MUCH: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
    (_call(duration_s=schema.MAX_DURATION_S + 1), ("call", "duration_s")),
    (_call(duration_s=99999999999999999999), ("call", "duration_s")),
    (_call(duration_s=2**63), ("call", "duration_s")),
    (_call(duration_s=-1), ("call", "duration_s")),
    (_content(attachments=[{"size": schema.MAX_SIZE + 1}]), ("content", "attachments", 0, "size")),
    (_content(text="x" * (schema.MAX_TEXT + 1)), ("content", "text")),
    (_content(html="x" * (schema.MAX_TEXT + 1)), ("content", "html")),
    (_call(transcript="x" * (schema.MAX_TEXT + 1)), ("call", "transcript")),
    (_content(subject="x" * (schema.MAX_SHORT + 1)), ("content", "subject")),
    (
        _content(attachments=[{"url": "x" * (schema.MAX_SHORT + 1)}]),
        ("content", "attachments", 0, "url"),
    ),
    (_content(attachments=[{}] * (schema.MAX_ATTACHMENTS + 1)), ("content", "attachments")),
    (_call(status="x" * (schema.MAX_SHORT + 1)), ("call", "status")),
    (_call(recording_url="x" * (schema.MAX_SHORT + 1)), ("call", "recording_url")),
    (_sender(display_name="x" * (schema.MAX_SHORT + 1)), ("sender", "display_name")),
    (_sender(identities=[_PHONE] * (schema.MAX_IDENTITIES + 1)), ("sender", "identities")),
    ({"external_id": "x" * (schema.MAX_ID + 1)}, ("external_id",)),
    ({"thread_external_id": "x" * (schema.MAX_ID + 1)}, ("thread_external_id",)),
    (
        {"type": "status", "status": {"of_external_id": "x" * 513, "state": "read"}},
        ("status", "of_external_id"),
    ),
    (
        {"type": "status", "status": {"of_external_id": "x", "state": "read", "error": "x" * 4097}},
        ("status", "error"),
    ),
    ({"channel": {"id": "x" * 513, "kind": "sms", "provider": "x"}}, ("channel", "id")),
    ({"metadata": {str(n): "v" for n in range(schema.MAX_METADATA + 1)}}, ("metadata",)),
    ({"metadata": {"k" * (schema.MAX_METADATA_KEY + 1): "v"}}, ("metadata",)),
    ({"metadata": {"k": "v" * (schema.MAX_SHORT + 1)}}, ("metadata", "k")),
    (
        {
            "context": {
                "conversation_channels": ["sms"],
                "conversation_size": 2**63,
                "repeat_contact": False,
            }
        },
        ("context", "conversation_size"),
    ),
]


@pytest.mark.parametrize(("change", "loc"), _TOO_MUCH)
def test_values_beyond_a_bound_name_the_field(change: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        Interaction.model_validate({**BASE, **change})
    assert caught.value.errors()[0]["loc"][: len(loc)] == loc


def test_values_at_every_bound_are_kept() -> None:
    at_bounds = {
        **BASE,
        "type": "call",
        "call": {
            "status": "s" * schema.MAX_SHORT,
            "duration_s": schema.MAX_DURATION_S,
            "transcript": "t" * schema.MAX_TEXT,
        },
        "external_id": "x" * schema.MAX_ID,
        "content": {
            "text": "t" * schema.MAX_TEXT,
            "attachments": [{"size": schema.MAX_SIZE}] * schema.MAX_ATTACHMENTS,
        },
        "sender": {"identities": [_PHONE] * schema.MAX_IDENTITIES},
        "metadata": {f"{n:0128d}": "v" * schema.MAX_SHORT for n in range(schema.MAX_METADATA)},
    }
    interaction = Interaction.model_validate(at_bounds)
    assert Interaction.model_validate_json(interaction.model_dump_json()) == interaction


@pytest.mark.parametrize(
    "occurred_at",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"],
)
async def test_the_edge_answers_422_naming_the_date_and_stores_nothing(
    gateway_factory: GatewayFactory, config: dict[str, Any], occurred_at: str
) -> None:
    gut = await gateway_factory(config)
    answer = await gut.post_signed("web", {**message(), "occurred_at": occurred_at}, SECRET)
    assert answer.status == 422
    error = (await answer.json())["error"]
    assert "occurred_at" in error["message"]
    assert await gut.interactions() == []


async def test_an_unbounded_call_duration_is_422_and_not_stored(
    gateway_factory: GatewayFactory, config: dict[str, Any]
) -> None:
    gut = await gateway_factory(config)
    call = {"type": "call", "call": {"status": "completed", "duration_s": 99999999999999999999}}
    answer = await gut.post_signed("web", json.dumps({**message(), **call}).encode(), SECRET)
    assert answer.status == 422
    assert "call.duration_s" in (await answer.json())["error"]["message"]
    assert await gut.interactions() == []


def test_the_phone_cache_holds_only_bounded_keys() -> None:
    """Long rejected values are refused before any work and never cached; the cache is bounded
    by entries (each key at most `MAX_PHONE_INPUT` characters)."""
    cache = normalize._normalize_phone
    cache.cache_clear()
    for n in range(2_000):
        long_value = f"+1415555{n:04d}" + " " * 10_000
        assert normalize.normalize_phone(long_value, "US") is None
    assert cache.cache_info().currsize == 0
    for n in range(cache.cache_info().maxsize + 500):  # type: ignore[operator]
        normalize.normalize_phone(f"+4420{n:08d}", "GB")
    assert cache.cache_info().currsize == cache.cache_info().maxsize == 16_384
    assert normalize.normalize_phone("  +1 (415) 555-0100  ", "US") == "+14155550100"
    assert normalize.normalize_phone("+1" + "4" * (normalize.MAX_PHONE_INPUT - 2), "US") is None
