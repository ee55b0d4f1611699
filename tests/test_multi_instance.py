"""Three gateway processes on one PostgreSQL database, one of them SIGKILLed under load.

3,000 interactions of 300 customers are posted round-robin across the instances, each
customer's one after the other (the next once the previous was acknowledged), as a provider
sends one conversation. Mid-run one instance is killed; a post it could not answer goes, like a
provider's retry, to the next instance, with the same id. Then every acknowledged interaction
must reach the receiver, each customer's in the order they were acknowledged, every person must
be one customer, and an interaction may arrive twice only if the killed instance was sending
it: the receiver knows who sent what (each instance's backend URL names it), and that is the
ledger that explains a duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.testing import GatewayProcess, standard_webhook_headers
from tests.payloads import HOOK_SECRET, SECRET, message, webhook_backend
from tests.receiver import Receiver
from tests.waiting import eventually

CUSTOMERS = 300
PER_CUSTOMER = 10
NAMES = ("a", "b", "c")
VICTIM = "b"


def configure(folder: Path, name: str, storage_url: str, receiver: Receiver) -> GatewayProcess:
    folder.mkdir()
    return GatewayProcess.configure(
        folder,
        {
            "storage": {"url": storage_url},
            "channels": {"web": {"type": "generic", "secret": SECRET}},
            "backends": {
                "hook": webhook_backend(
                    f"{receiver.url}?from={name}",
                    timeout="2s",
                    retry={"initial_backoff": "50ms", "max_backoff": "500ms", "max_attempts": 1000},
                )
            },
        },
    )


class Poster:
    """Posts each customer's interactions in order, round-robin over the instances."""

    def __init__(self, gateways: dict[str, GatewayProcess]) -> None:
        self._gateways = gateways
        self._turn = itertools.cycle(NAMES)
        self.acknowledged: dict[int, list[str]] = defaultdict(list)
        """Per customer, the stored interaction ids in the order they were acknowledged."""
        self.refused = 0
        """Posts an instance could not answer (it was down), each sent again to the next."""

    async def customer(self, session: aiohttp.ClientSession, number: int) -> None:
        for n in range(PER_CUSTOMER):
            body = orjson.dumps(message(f"c{number}-{n}", phone=f"+1555{number:07d}"))
            self.acknowledged[number].append(await self._post(session, body))

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> str:
        while True:
            gateway = self._gateways[next(self._turn)]
            headers = {**standard_webhook_headers(SECRET, body), "Content-Type": "application/json"}
            try:
                async with session.post(
                    f"{gateway.url}/webhooks/web", data=body, headers=headers
                ) as response:
                    if response.status == 200:
                        return str((await response.json())["ids"][0])
                    assert response.status == 503, await response.text()
            except aiohttp.ClientError:
                pass  # the killed instance: the provider retries elsewhere
            self.refused += 1
            await asyncio.sleep(0.01)


async def test_three_instances_one_killed_deliver_everything_in_order(
    tmp_path: Path, postgres_url: str, aiohttp_server: Any
) -> None:
    receiver = Receiver(HOOK_SECRET)
    server = await aiohttp_server(receiver.app())
    receiver.url = str(server.make_url("/events"))
    gateways = {name: configure(tmp_path / name, name, postgres_url, receiver) for name in NAMES}
    try:
        await asyncio.gather(*(asyncio.to_thread(g.start) for g in gateways.values()))
        poster = Poster(gateways)
        async with aiohttp.ClientSession() as session:
            posting = asyncio.gather(*(poster.customer(session, c) for c in range(CUSTOMERS)))

            async def a_third_acknowledged() -> bool:
                return sum(map(len, poster.acknowledged.values())) >= 1000

            await eventually(a_third_acknowledged, within=60)
            assert await asyncio.to_thread(gateways[VICTIM].stop, signal.SIGKILL) == -9
            await posting
        acknowledged = {i for ids in poster.acknowledged.values() for i in ids}
        assert len(acknowledged) == CUSTOMERS * PER_CUSTOMER
        assert poster.refused > 0  # the kill did land mid-run

        async def all_delivered() -> bool:
            return acknowledged <= set(receiver.delivered_ids)

        await eventually(all_delivered, within=120)
    finally:
        for gateway in gateways.values():
            gateway.close()

    assert receiver.problems == []
    assert set(receiver.delivered_ids) == acknowledged  # nothing unacknowledged either
    by_id = {arrival.interaction.id: arrival.interaction for arrival in receiver.arrivals}
    for number, ids in poster.acknowledged.items():
        # Each customer's first arrivals are in acknowledgement order, and one customer id
        # (an interaction's own, since no merge happened) is the person's.
        first_seen = list(dict.fromkeys(i for i in receiver.delivered_ids if i in set(ids)))
        assert first_seen == ids, f"customer {number} out of order"
        assert len({by_id[i].customer_id for i in ids}) == 1, f"customer {number} split"
    assert len({by_id[i].customer_id for i in acknowledged}) == CUSTOMERS
    senders: dict[str, list[str]] = defaultdict(list)
    for arrival in receiver.arrivals:
        senders[arrival.interaction.id].append(arrival.sender)
    unexplained = {i: who for i, who in senders.items() if len(who) > 1 and VICTIM not in who[:-1]}
    assert unexplained == {}, "duplicates the kill does not explain"
