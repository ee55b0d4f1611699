"""Run an aiohttp app on the event loop the benchmark asks for (`asyncio` or `uvloop`)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Literal

from aiohttp import web

__all__ = ["LOOPS", "LoopName", "serve"]

LoopName = Literal["asyncio", "uvloop"]
LOOPS: tuple[LoopName, ...] = ("asyncio", "uvloop")


def _loop_factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def serve(app: web.Application, host: str, port: int, loop: LoopName) -> None:
    """Serve `app` the way `gateway serve` does (AppRunner, no access log) until SIGTERM/SIGINT."""

    async def run() -> None:
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            stop = asyncio.Event()
            running = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                running.add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        runner.run(run())
