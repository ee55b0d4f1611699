"""End to end: one customer on five channels, through a running gateway, into the fake Zendesk.

`gateway.testing.Journey` posts an SMS and a call (Twilio), a WhatsApp message (Meta's Cloud API),
a web-chat message carrying the phone and an e-mail address (the `generic` channel) and an e-mail
(Postmark), each signed the provider's way, to `gateway serve` (a real subprocess); the `zendesk`
backend delivers them to `FakeZendesk`. The outcome must be one end user holding the phone and the
e-mail, one ticket for the conversation, and five comments on it, one per interaction (the call's
ringing event writes none). A second run adds 30% of 503s, a few 429s and a SIGKILL of the gateway
midway (restarted on the same database), and three ticket writes that land but lose their answer:
the outcome must be the same, each comment written once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EMAIL, TOKEN
from fake_zendesk import FakeZendesk

from gateway.testing import GatewayProcess, Journey

for plugin in Journey.PLUGINS:
    pytest.importorskip(plugin)

JOURNEY = Journey()
DELIVERY_FAULTS = r"^/api/v2/(?!users/me$)"
"""Where faults go: every endpoint but the one the start-up and the health check read, so
`/readyz`, which the restart waits for, reports a healthy Zendesk."""
MARKER = re.compile(r"\[gateway ref ([0-9A-Z]{26})\]$")


def config(crm: FakeZendesk) -> dict[str, Any]:
    return {
        "channels": JOURNEY.channels(),
        "backends": {
            "zendesk": {
                "type": "zendesk",
                "subdomain": "shop",
                "email": EMAIL,
                "api_token": TOKEN,
                "base_url": crm.url,
                "timeout": "2s",
                "retry": {"initial_backoff": "50ms", "max_backoff": "200ms", "max_attempts": 1000},
                "circuit": {"failure_threshold": 1000},
            }
        },
    }


@pytest.fixture
async def crm() -> AsyncIterator[FakeZendesk]:
    fake = FakeZendesk(email=EMAIL, api_token=TOKEN)
    async with fake:
        yield fake


@pytest.fixture
def gateway(tmp_path: Path, crm: FakeZendesk) -> Iterator[GatewayProcess]:
    process = GatewayProcess.configure(tmp_path, config(crm))
    yield process
    process.close()


def assert_one_history(crm: FakeZendesk) -> None:
    """One user with the phone and the e-mail; one ticket; five comments, each once."""
    crm.assert_ok()
    [user] = crm.end_users()
    assert user.name == JOURNEY.name
    assert sorted(user.identities) == [("email", JOURNEY.email), ("phone_number", JOURNEY.phone)]
    assert str(user.external_id).startswith("cus_")
    [ticket] = crm.tickets.values()
    assert ticket.requester_id == user.id
    assert str(ticket.external_id).startswith("conv_")
    assert len(ticket.comments) == Journey.RECORDS
    markers = [MARKER.search(c.body) for c in ticket.comments]
    assert all(markers), [c.body for c in ticket.comments]
    assert len({m.group(1) for m in markers if m}) == Journey.RECORDS, "a comment went twice"
    assert {c.author_id for c in ticket.comments} == {user.id}
    headings = sorted(c.body.splitlines()[0].split(" via ")[1].split()[0] for c in ticket.comments)
    assert headings == ["mail", "sms", "voice", "wa", "web"]
    [call] = [c.body for c in ticket.comments if " via voice" in c.body]
    assert "Call completed, duration 1 min 3 s (63 s)" in call
    assert "Recording: https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1" in call
    kinds = ["sms", "voice", "whatsapp", "webchat", "email"]
    assert set(ticket.tags) == {"channel_gateway", *(f"gateway_{kind}" for kind in kinds)}


async def test_one_customer_on_five_channels_is_one_user_and_one_ticket_with_five_comments(
    gateway: GatewayProcess, crm: FakeZendesk
) -> None:
    await asyncio.to_thread(gateway.start)
    await JOURNEY.post_all(gateway)
    await JOURNEY.delivered(gateway)
    assert_one_history(crm)


async def test_faults_and_a_sigkill_still_write_each_comment_once(
    gateway: GatewayProcess, crm: FakeZendesk
) -> None:
    await asyncio.to_thread(gateway.start)
    crm.rate_limit(3, retry_after=1, path=DELIVERY_FAULTS)
    crm.fail_fraction(0.3, path=DELIVERY_FAULTS, seed=12)
    crm.lose_answers = 3  # writes that land but whose answers do not: retried, found, not redone
    await JOURNEY.post_all_with_sigkill(gateway, crm.all_comments)
    await JOURNEY.delivered(gateway, within_s=40)
    assert crm.faults_served >= 5, "the faults should have been served"
    assert_one_history(crm)
    assert crm.lose_answers == 0, "three writes should have lost their answers"
