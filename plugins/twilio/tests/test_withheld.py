"""Withheld callers end to end: a hidden `From` is stored and delivered, and names nobody.

Twilio writes a caller who hid their number as `anonymous` or `+266696687` ("ANONYMOUS" on a
keypad); carriers also pass `restricted`, `unknown`, `private` or nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from recordings import CUSTOMER, OUR_NUMBER, TOKEN, fixture, pairs, sdk_signature

from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest

WITHHELD = ["anonymous", "Anonymous", "unknown", "restricted", "private", "+266696687", "", "  "]
CONFIG: dict[str, Any] = {
    "channels": {
        "sms": {"type": "twilio-sms", "auth_token": TOKEN},
        "voice": {"type": "twilio-voice", "auth_token": TOKEN},
    },
    "backends": {"audit": {"type": "log"}},
}
RECORDINGS = {"sms": "sms_inbound", "voice": "voice_incoming"}


@pytest.fixture
async def gut(gateway_factory: GatewayFactory) -> GatewayUnderTest:
    return await gateway_factory(CONFIG)


async def post_from(gut: GatewayUnderTest, channel_id: str, caller: str) -> Interaction:
    """POST the channel's recording with `From` replaced by `caller`; return what was stored."""
    original = f"From={quote(CUSTOMER, safe='')}".encode()
    body = fixture(RECORDINGS[channel_id]).replace(original, f"From={quote(caller)}".encode())
    assert body != fixture(RECORDINGS[channel_id])
    path = f"/webhooks/{channel_id}"
    signature = sdk_signature(str(gut.client.make_url(path)), pairs(body))
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    response = await gut.client.post(path, data=body, headers=headers)
    assert response.status == 200, await response.text()
    [stored] = await gut.interactions(channel_id)
    return stored


async def delivered(gut: GatewayUnderTest, interaction_id: str) -> None:
    deadline = time.monotonic() + 15
    while [d.state for d in await gut.gateway.store.deliveries_of(interaction_id)] != ["delivered"]:
        assert time.monotonic() < deadline, "not delivered in time"
        await asyncio.sleep(0.02)


def customers(db: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        identities = conn.execute("SELECT count(*) FROM identities").fetchone()[0]
    return rows, identities


@pytest.mark.parametrize("channel_id", ["sms", "voice"])
@pytest.mark.parametrize("caller", WITHHELD)
async def test_a_withheld_caller_is_stored_delivered_and_names_nobody(
    gut: GatewayUnderTest, tmp_path: Path, channel_id: str, caller: str
) -> None:
    stored = await post_from(gut, channel_id, caller)
    assert stored.sender.identities == []
    assert [i.value for i in stored.recipient.identities] == [OUR_NUMBER]
    assert stored.customer_id is None
    assert customers(tmp_path / "gateway.db") == (0, 0)
    reason = "empty" if not caller.strip() else "withheld"
    assert json.loads(stored.metadata["unusable_identities"]) == [
        {"party": "sender", "kind": "phone", "value": caller, "reason": reason}
    ]
    labels = {"channel": channel_id, "kind": "phone", "reason": reason}
    registry = gut.gateway.metrics.registry
    assert registry.get_sample_value("gateway_identities_unusable_total", labels) == 1
    await delivered(gut, stored.id)
