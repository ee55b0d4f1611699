"""`WebhookReceiver`: the endpoint a `webhook` backend delivers to, for tests (via gateway.testing).

A `FakeCRM` that takes CloudEvents at `POST /hook` the way a careful receiver does: it checks the
Standard Webhooks signature with the backend's secret (a request that fails it is refused 401
and recorded as a problem, so the test fails at `assert_ok()`), answers 204, and keeps the
interaction (`data`) of every event in the order they arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gateway import standard_webhooks
from gateway.errors import SignatureError
from gateway.fake_crm import FakeCRM

__all__ = ["HOOK_SECRET", "WebhookReceiver"]

HOOK_SECRET = "whsec_d2ViaG9vay1yZWNlaXZlci1zaWduaW5nLWtleQ=="
"""The default secret a `WebhookReceiver` checks (and its `backends()` configures)."""
_EVENT_TYPES = frozenset({"application/cloudevents+json", "application/cloudevents-batch+json"})


class WebhookReceiver(FakeCRM):
    """A `webhook` backend's receiver on 127.0.0.1: verifies, answers 204, keeps `interactions`."""

    def __init__(self, secret: str = HOOK_SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.interactions: list[dict[str, Any]] = []
        """The `data` of every event received, in order (a batch's events one by one)."""

    def messages(self) -> list[dict[str, Any]]:
        """Return the interactions of type `message` received, in order (receipts left out)."""
        return [i for i in self.interactions if i.get("type") == "message"]

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the one route events arrive at."""
        return [web.post("/hook", self.receive)]

    def backends(self, name: str = "crm") -> dict[str, Any]:
        """Return the `backends` section of a gateway delivering to this receiver."""
        return {name: {"type": "webhook", "url": f"{self.url}/hook", "secret": self.secret}}

    async def receive(self, request: web.Request) -> web.Response:
        """Take one event or batch, signed by the backend's secret."""
        body = await request.read()
        keys = [standard_webhooks.decode_secret(self.secret)]
        try:
            standard_webhooks.verify(keys, request.headers, body, datetime.now(UTC))
        except SignatureError as exc:
            return self.refuse(f"bad signature: {exc}", status=401)
        if request.content_type not in _EVENT_TYPES:
            return self.refuse(f"not a CloudEvents content type: {request.content_type}")
        document = orjson.loads(body)
        events = document if isinstance(document, list) else [document]
        self.interactions.extend(event["data"] for event in events)
        return web.Response(status=204)
