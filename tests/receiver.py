"""A webhook consumer on 127.0.0.1 for delivery tests.

It verifies every request the way a real consumer would — the Standard Webhooks signature with
the reference `standardwebhooks` library, the CloudEvents 1.0 envelope — records what arrived, and
answers as the test scripts it. A request that is wrong in any way is recorded in `problems`
(and answered 400): tests assert `problems == []`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.schema import Interaction

EVENT_TYPE = "com.channel-gateway.interaction.v1"
CUSTOMER_EVENT_PREFIX = "com.channel-gateway.customer."

Behaviour = Callable[[Interaction, int], Awaitable[web.Response]]
"""Decides the answer to one event: given the interaction and how often it arrived so far."""


async def accept(interaction: Interaction, arrival: int) -> web.Response:
    """Answer 200: the healthy receiver."""
    return web.json_response({"ok": True})


async def report_record_refs(interaction: Interaction, arrival: int) -> web.Response:
    """Answer 200 naming a record per interaction (`contact <external id>`), as a CRM would."""
    return web.json_response({"record_refs": [f"contact {interaction.external_id}"]})


@dataclass(frozen=True, slots=True)
class Arrival:
    """One event as it arrived."""

    interaction: Interaction
    webhook_id: str
    at: float
    record_refs: list[str] = field(default_factory=list)
    """The `recordrefs` extension attribute: records reported for this customer before."""
    sender: str = ""
    """The `from` query parameter of the URL it was posted to (which gateway sent it)."""


@dataclass
class Receiver:
    """The fake consumer; `behaviour` can be swapped at any time."""

    secret: str
    url: str = ""
    """Where it listens, once started."""
    behaviour: Behaviour = accept
    arrivals: list[Arrival] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    customer_events: list[dict[str, Any]] = field(default_factory=list)
    """Merge, unmerge and erasure events (CloudEvents), in arrival order."""
    customer_status: int = 200
    """The answer to customer events."""

    def app(self) -> web.Application:
        """Return the aiohttp app serving `POST /events`."""
        app = web.Application()
        app.router.add_post("/events", self._handle)
        return app

    @property
    def delivered_ids(self) -> list[str]:
        """Return interaction ids in arrival order (repeats included)."""
        return [arrival.interaction.id for arrival in self.arrivals]

    def external_ids(self) -> list[str]:
        """Return external ids in arrival order (repeats included)."""
        return [arrival.interaction.external_id for arrival in self.arrivals]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            return self._problem(f"signature: {exc}")
        if request.content_type != "application/cloudevents+json":
            return self._problem(f"content type {request.content_type}")
        event: dict[str, Any] = orjson.loads(body)
        if str(event.get("type", "")).startswith(CUSTOMER_EVENT_PREFIX):
            return self._customer_event(event, request.headers["webhook-id"])
        interaction = Interaction.model_validate(event.get("data"))
        expected = {
            "specversion": "1.0",
            "id": interaction.id,
            "source": f"/channels/{interaction.channel.id}",
            "type": EVENT_TYPE,
        }
        if wrong := {k: event.get(k) for k, v in expected.items() if event.get(k) != v}:
            return self._problem(f"envelope: {wrong}")
        if request.headers["webhook-id"] != interaction.id:
            return self._problem("webhook-id is not the interaction id")
        arrival = self.counts.get(interaction.id, 0) + 1
        self.counts[interaction.id] = arrival
        refs = orjson.loads(event["recordrefs"]) if "recordrefs" in event else []
        sender = request.query.get("from", "")
        self.arrivals.append(
            Arrival(interaction, request.headers["webhook-id"], time.monotonic(), refs, sender)
        )
        return await self.behaviour(interaction, arrival)

    def _customer_event(self, event: dict[str, Any], webhook_id: str) -> web.Response:
        if event.get("specversion") != "1.0" or event.get("source") != "/customers":
            return self._problem(f"customer event envelope: {event}")
        if webhook_id != event.get("id") or not event.get("subject"):
            return self._problem("customer event: webhook-id or subject is wrong")
        self.customer_events.append(event)
        return web.json_response({"ok": True}, status=self.customer_status)

    def _problem(self, problem: str) -> web.Response:
        self.problems.append(problem)
        return web.json_response({"problem": problem}, status=400)
