"""The `webhook` backend passes BackendConformance against a Standard Webhooks receiver."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.builtins.webhook import EVENT_CONTENT_TYPE, EVENT_TYPE, WebhookBackend
from gateway.schema import Interaction
from gateway.testing import BackendConformance, FakeCRM

SECRET = "whsec_" + base64.b64encode(b"conformance-signing-key-0").decode()


class FakeReceiver(FakeCRM):
    """A Standard Webhooks consumer of CloudEvents: it verifies the signature (with the reference
    `standardwebhooks` library) and the envelope of every request, keeps each `webhook-id` once
    and answers 422 for the ids it was told to refuse."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.verifier = Webhook(secret)
        self.events: dict[str, dict[str, Any]] = {}
        self.refused_ids: set[str] = set()

    def routes(self) -> Iterable[web.RouteDef]:
        return [web.post("/events", self._receive)]

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = self.verifier.verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            return self.refuse(f"signature does not verify: {exc}", status=401)
        msg_id = request.headers["webhook-id"]
        if request.content_type != EVENT_CONTENT_TYPE:
            return self.refuse(f"{msg_id}: content type {request.content_type}")
        if (event.get("specversion"), event.get("type"), event.get("id")) != (
            "1.0",
            EVENT_TYPE,
            msg_id,
        ):
            return self.refuse(f"{msg_id}: not an interaction CloudEvent: {event}")
        try:
            Interaction.model_validate(event["data"])
        except (KeyError, ValidationError) as exc:
            return self.refuse(f"{msg_id}: data is no interaction: {exc}")
        if msg_id in self.refused_ids:
            document = self.error_body(422, f"event {msg_id} refused: unsupported content")
            return self.json_response(document, status=422)
        self.events.setdefault(msg_id, event)
        return self.json_response({"record_refs": [f"event {msg_id}"]})


class TestWebhookConformance(BackendConformance):
    backend_type = WebhookBackend
    secret = SECRET
    rejection = (422, {"message": "data.content: unsupported"}, "data.content: unsupported")
    checks_health = False  # Standard Webhooks defines no ping: `health_check` sends nothing

    def make_crm(self) -> FakeCRM:
        return FakeReceiver(self.secret)

    def settings(self, crm: FakeCRM) -> dict[str, Any]:
        return {"type": "webhook", "url": f"{crm.url}/events", "secret": self.secret}

    def records(self, crm: FakeCRM) -> int:
        assert isinstance(crm, FakeReceiver)
        return len(crm.events)

    def fail_item(self, crm: FakeCRM, interaction: Interaction) -> None:
        assert isinstance(crm, FakeReceiver)
        crm.refused_ids.add(interaction.id)  # batch_size 1: webhook-id is the interaction id
