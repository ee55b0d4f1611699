"""The `log` backend writes one line per delivered interaction."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import orjson
import pytest

from gateway.builtins.log import LogBackend, LogSettings
from gateway.plugin import BackendContext, Delivered, Delivery
from gateway.schema import ChannelRef, Content, Identity, Interaction, Party

INTERACTION = Interaction(
    type="message",
    direction="inbound",
    channel=ChannelRef(id="web", kind="webchat", provider="generic"),
    external_id="m-1",
    occurred_at=datetime(2026, 11, 22, 10, tzinfo=UTC),
    received_at=datetime(2026, 11, 22, 10, tzinfo=UTC),
    sender=Party(identities=[Identity(kind="email", value="jane@example.com")]),
    content=Content(text="hello"),
)


@pytest.mark.parametrize("output", ["json", "text"])
async def test_one_line_per_interaction(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with aiohttp.ClientSession() as http:
        backend = LogBackend(BackendContext("audit", http), LogSettings(type="log", format=output))
        batch = [Delivery(1, INTERACTION, 1), Delivery(2, INTERACTION, 1)]
        assert await backend.deliver(batch) == [Delivered(), Delivered()]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    if output == "json":
        assert orjson.loads(lines[0])["id"] == INTERACTION.id
    else:
        assert lines[0] == (
            f"2026-11-22T10:00:00+00:00 web inbound message from=email:jane@example.com "
            f"id={INTERACTION.id} text='hello'"
        )
