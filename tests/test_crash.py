"""The promise: an interaction the gateway acknowledged is never lost, even to SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from gateway.testing import GatewayProcess, free_port, standard_webhook_headers
from tests.payloads import HOOK_SECRET, SECRET, message, webhook_backend
from tests.process import configure
from tests.receiver import Receiver

TOTAL = 1000


async def acknowledge_all(gateway: GatewayProcess) -> set[str]:
    """Post TOTAL messages from 50 customers, 20 at a time; return the acknowledged ids."""
    url = f"http://127.0.0.1:{gateway.port}/webhooks/web"
    limit = asyncio.Semaphore(20)

    async def one(session: aiohttp.ClientSession, n: int) -> str:
        body = orjson.dumps(message(f"m-{n}", phone=f"+1555{n % 50:07d}"))
        headers = {**standard_webhook_headers(SECRET, body), "Content-Type": "application/json"}
        async with limit, session.post(url, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["ids"][0])

    async with aiohttp.ClientSession() as session:
        return set(await asyncio.gather(*(one(session, n) for n in range(TOTAL))))


async def test_sigkill_while_the_receiver_is_down_loses_nothing(
    tmp_path: Path, record_property: Any
) -> None:
    receiver_port = free_port()  # nothing listens there yet: the receiver is down
    receiver = Receiver(HOOK_SECRET, url=f"http://127.0.0.1:{receiver_port}/events")
    gateway = configure(
        tmp_path,
        backends={
            "hook": webhook_backend(
                receiver.url,
                retry={"initial_backoff": "50ms", "max_backoff": "500ms", "max_attempts": 1000},
                circuit={"failure_threshold": 5, "reset_timeout": "300ms"},
            )
        },
    )
    await asyncio.to_thread(gateway.start)
    try:
        acknowledged = await acknowledge_all(gateway)
        assert len(acknowledged) == TOTAL

        assert await asyncio.to_thread(gateway.stop, signal.SIGKILL) == -signal.SIGKILL
        await asyncio.to_thread(gateway.start)

        runner = web.AppRunner(receiver.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", receiver_port).start()
        try:
            deadline = time.monotonic() + 90
            while not acknowledged <= set(receiver.delivered_ids):
                assert time.monotonic() < deadline, (
                    f"{len(acknowledged - set(receiver.delivered_ids))} never delivered"
                )
                await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()
    finally:
        if gateway.process and gateway.process.poll() is None:
            gateway.process.kill()
            await asyncio.to_thread(gateway.process.wait)

    duplicates = len(receiver.delivered_ids) - len(set(receiver.delivered_ids))
    record_property("duplicates", duplicates)
    print(f"\n{TOTAL} acknowledged, all delivered after SIGKILL; duplicates: {duplicates}")
    assert set(receiver.delivered_ids) == acknowledged
    assert receiver.problems == []
