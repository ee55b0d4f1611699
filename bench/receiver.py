"""A fast webhook consumer for the delivery benchmark: accepts everything, measures arrivals.

`POST /events` takes one CloudEvent (`application/cloudevents+json`) or an array of them
(`application/cloudevents-batch+json`), answers 200 without checking signatures, and records for
each event its arrival time (CLOCK_MONOTONIC, which every process on the machine shares) and its
receipt-to-delivered latency: now minus `data.received_at`, the moment the gateway took the
webhook.

- `GET /stats` counts: `{"requests", "events", "unique"}`.
- `GET /stats?since=T` adds the events that arrived after monotonic time T and the last arrival.
- `GET /stats?latency=1` adds latency percentiles (ms) and the arrival window.
- `POST /reset` forgets everything (between phases).
- `POST /pause` holds every request unanswered until `POST /resume`: a receiver outage that
  lets the gateway build a backlog without failing anything (its backend timeout must be longer
  than the pause).

    python bench/receiver.py --port 8091 [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import time
from array import array
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from loops import LOOPS, serve

_JSON = "application/json"
_OK = b'{"ok":true}'


class Arrivals:
    """What arrived since the last reset."""

    def __init__(self) -> None:
        self.requests = 0
        self.at = array("d")
        """Monotonic arrival time of each event, in arrival order."""
        self.latency_s = array("d")
        self.ids: set[str] = set()

    def add(self, events: list[dict[str, Any]]) -> None:
        """Record one request's events."""
        self.requests += 1
        mono, wall = time.monotonic(), time.time()
        for event in events:
            received = datetime.fromisoformat(event["data"]["received_at"]).timestamp()
            self.at.append(mono)
            self.latency_s.append(wall - received)
            self.ids.add(event["id"])

    def stats(self, since: float | None, latency: bool) -> dict[str, Any]:
        """Return the counts, and optionally the window after `since` and the latencies."""
        result: dict[str, Any] = {
            "requests": self.requests,
            "events": len(self.at),
            "unique": len(self.ids),
        }
        if since is not None:
            result["since"] = len(self.at) - bisect.bisect_right(self.at, since)
            result["last_at"] = self.at[-1] if self.at else None
        if latency:
            result["first_at"] = self.at[0] if self.at else None
            result["last_at"] = self.at[-1] if self.at else None
            result["latency_ms"] = _percentiles(self.latency_s)
        return result


def _percentiles(samples_s: array[float]) -> dict[str, float] | None:
    if not samples_s:
        return None
    ordered = sorted(samples_s)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0), "n": len(ordered)}


def create_app() -> web.Application:
    """Return the receiver app."""
    arrivals = [Arrivals()]
    running = asyncio.Event()
    running.set()

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        if not running.is_set():
            await running.wait()
        payload = orjson.loads(body)
        arrivals[0].add(payload if isinstance(payload, list) else [payload])
        return web.Response(body=_OK, content_type=_JSON)

    async def stats(request: web.Request) -> web.Response:
        since = request.query.get("since")
        result = arrivals[0].stats(
            float(since) if since else None, bool(request.query.get("latency"))
        )
        return web.Response(body=orjson.dumps(result), content_type=_JSON)

    async def reset(request: web.Request) -> web.Response:
        arrivals[0] = Arrivals()
        return web.Response(body=_OK, content_type=_JSON)

    async def pause(request: web.Request) -> web.Response:
        running.clear()
        return web.Response(body=_OK, content_type=_JSON)

    async def resume(request: web.Request) -> web.Response:
        running.set()
        return web.Response(body=_OK, content_type=_JSON)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(body=_OK, content_type=_JSON)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/events", events)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_post("/pause", pause)
    app.router.add_post("/resume", resume)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    """Parse the command line and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=LOOPS, default="uvloop")
    args = parser.parse_args()
    serve(create_app(), args.host, args.port, args.loop)


if __name__ == "__main__":
    main()
