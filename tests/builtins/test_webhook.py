"""The `webhook` backend against a real receiver that checks every request independently.

The receiver verifies signatures with the reference `standardwebhooks` library and rebuilds the
CloudEvents envelope it expects from the event's `data`; any mismatch is recorded in `problems`
(and answered 500), and every test asserts that there are none.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from multidict import CIMultiDictProxy
from pydantic import ValidationError
from pytest_aiohttp import AiohttpServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.builtins.webhook import WebhookBackend, WebhookSettings
from gateway.errors import AuthenticationError
from gateway.plugin import BackendContext, Delivered, Delivery, Rejected, Retry
from gateway.plugins import load_plugins
from gateway.schema import ChannelRef, Content, Identity, Interaction, Party, new_interaction_id
from tests.payloads import SECRET
from tests.raw_http import answer, chunked, raw_server

NEW_SECRET = "whsec_" + "C" * 32
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def interaction(n: int = 1, customer_id: str | None = None) -> Interaction:
    return Interaction(
        type="message",
        direction="inbound",
        channel=ChannelRef(id="web", kind="webchat", provider="generic"),
        external_id=f"m-{n}",
        occurred_at=datetime(2026, 11, 22, 10, n, tzinfo=UTC),
        received_at=datetime(2026, 11, 22, 10, n, tzinfo=UTC),
        sender=Party(identities=[Identity(kind="email", value="jane@example.com")]),
        content=Content(text=f"hello {n}"),
        customer_id=customer_id,
    )


def deliveries(count: int) -> list[Delivery]:
    return [Delivery(n, interaction(n), 1) for n in range(1, count + 1)]


def expected_event(data: dict[str, Any]) -> dict[str, Any]:
    """Return the envelope the receiver expects around `data`, built from the spec's rules."""
    event = {
        "specversion": "1.0",
        "id": data["id"],
        "source": f"/channels/{data['channel']['id']}",
        "type": "com.channel-gateway.interaction.v1",
        "time": data["occurred_at"],
        "datacontenttype": "application/json",
        "data": data,
    }
    return event | ({"subject": data["customer_id"]} if data["customer_id"] else {})


@dataclass
class Receiver:
    """A webhook receiver that checks each request and answers from a script."""

    server: TestServer | None = None
    secrets: list[str] = field(default_factory=lambda: [SECRET])
    answers: list[web.Response] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    headers: list[CIMultiDictProxy[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hold: asyncio.Event | None = None

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def hook(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.headers.append(request.headers)
        try:
            self.bodies.append(orjson.loads(body))
            problems = self.check(request.headers, body, self.bodies[-1])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
            problems = [f"unreadable request: {exc!r}"]
        if problems:
            self.problems += problems
            return web.Response(status=500, text="; ".join(problems))
        if self.hold:
            await self.hold.wait()
        return self.answers.pop(0) if self.answers else web.Response(status=204)

    async def moved(self, request: web.Request) -> web.StreamResponse:
        self.problems.append(f"the redirect target was called: {request.method} {request.path}")
        return web.Response(status=500)

    def check(self, headers: CIMultiDictProxy[str], body: bytes, payload: Any) -> list[str]:
        problems = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, dict(headers))
            except WebhookVerificationError as exc:
                problems.append(f"signature does not verify with {secret[:9]}...: {exc}")
        content_type = headers.get("Content-Type")
        if content_type == "application/cloudevents+json":
            events = [payload]
            if headers.get("webhook-id") != payload["id"]:
                problems.append(f"webhook-id {headers.get('webhook-id')} is not the event id")
        elif content_type == "application/cloudevents-batch+json" and isinstance(payload, list):
            events = payload
            if not headers.get("webhook-id", "").startswith("batch_"):
                problems.append(f"batch webhook-id {headers.get('webhook-id')}")
        else:
            return [*problems, f"unexpected content type {content_type} for {type(payload)}"]
        for event in events:
            Interaction.model_validate(event["data"])
            if event != expected_event(event["data"]):
                problems.append(f"envelope {event} != {expected_event(event['data'])}")
            if not RFC3339_UTC.match(event["time"]):
                problems.append(f"time {event['time']} is not RFC 3339 UTC")
        return problems


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    app.router.add_route("*", "/moved", receiver.moved)
    receiver.server = await aiohttp_server(app)
    return receiver


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def webhook(http: aiohttp.ClientSession, url: str, **settings: Any) -> WebhookBackend:
    config = {"type": "webhook", "url": url, "secret": SECRET, **settings}
    return WebhookBackend(BackendContext("hook", http), WebhookSettings.model_validate(config))


@pytest.mark.parametrize("customer_id", [None, "cus_" + new_interaction_id()])
async def test_single_event_is_delivered(
    receiver: Receiver, http: aiohttp.ClientSession, customer_id: str | None
) -> None:
    sent = interaction(customer_id=customer_id)
    assert await webhook(http, receiver.url()).deliver([Delivery(1, sent, 1)]) == [Delivered()]
    assert receiver.problems == []
    assert receiver.bodies == [expected_event(orjson.loads(sent.model_dump_json()))]
    assert ("subject" in receiver.bodies[0]) == (customer_id is not None)
    assert receiver.headers[0]["webhook-id"] == sent.id


async def test_single_mode_sends_one_request_per_delivery_in_order(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    batch = deliveries(3)
    assert await webhook(http, receiver.url()).deliver(batch) == [Delivered()] * 3
    assert receiver.problems == []
    assert [body["id"] for body in receiver.bodies] == [d.interaction.id for d in batch]


async def test_each_secret_adds_a_signature(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.secrets = [SECRET, NEW_SECRET]  # the receiver checks that each one verifies alone
    backend = webhook(http, receiver.url(), secret=[SECRET, NEW_SECRET])
    assert await backend.deliver(deliveries(1)) == [Delivered()]
    assert receiver.problems == []
    assert len(receiver.headers[0]["webhook-signature"].split()) == 2


async def test_batch_mode_sends_one_array_with_one_outcome(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    backend = webhook(http, receiver.url(), batch_size=3)
    batch = deliveries(3)
    receiver.answers = [web.Response(status=204), web.Response(status=503, text="busy")]
    assert await backend.deliver(batch) == [Delivered()] * 3
    assert await backend.deliver(batch) == [Retry("HTTP 503: busy")] * 3
    assert receiver.problems == []
    assert len(receiver.bodies) == 2
    assert [event["id"] for event in receiver.bodies[0]] == [d.interaction.id for d in batch]
    first, again = (headers["webhook-id"] for headers in receiver.headers)
    assert first == again, "a batch sent again keeps its webhook-id"
    assert backend.batch_limit() == 3


async def test_batch_mode_chunks_by_batch_size(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    backend = webhook(http, receiver.url(), batch_size=2)
    assert await backend.deliver(deliveries(3)) == [Delivered()] * 3
    assert receiver.problems == []
    assert [len(body) for body in receiver.bodies] == [2, 1]


@pytest.mark.parametrize(
    ("status", "outcomes"),
    [
        (500, [Retry("HTTP 500: oops, later"), Delivered()]),
        (
            503,
            [
                Retry("HTTP 503: oops, later"),
                Retry("not attempted: HTTP 503: oops, later", attempted=False),
            ],
        ),
    ],
)
async def test_server_errors_are_retried(
    receiver: Receiver, http: aiohttp.ClientSession, status: int, outcomes: list[Retry]
) -> None:
    receiver.answers = [web.Response(status=status, text="oops,\n  later")]
    assert await webhook(http, receiver.url()).deliver(deliveries(2)) == outcomes
    assert receiver.problems == []


async def test_too_many_requests_honours_retry_after_and_stops(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.answers = [web.Response(status=429, headers={"Retry-After": "7"})]
    outcomes = await webhook(http, receiver.url()).deliver(deliveries(2))
    assert outcomes == [
        Retry("HTTP 429: ", after_s=7.0),
        Retry("not attempted: HTTP 429: ", after_s=7.0, attempted=False),
    ]
    assert receiver.problems == []
    assert len(receiver.bodies) == 1


async def test_retry_after_as_an_http_date(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    receiver.answers = [web.Response(status=503, headers={"Retry-After": later})]
    [outcome] = await webhook(http, receiver.url()).deliver(deliveries(1))
    assert isinstance(outcome, Retry)
    assert outcome.after_s is not None
    assert 110 <= outcome.after_s <= 120
    assert receiver.problems == []


async def test_client_error_is_rejected_with_the_remote_text(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.answers = [web.json_response({"error": "unknown field 'raw'"}, status=400)]
    outcomes = await webhook(http, receiver.url()).deliver(deliveries(2))
    assert outcomes == [Rejected("""HTTP 400: {"error": "unknown field 'raw'"}"""), Delivered()]
    assert receiver.problems == []


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("batch_size", [1, 2])
async def test_a_refused_signature_raises_authentication_error(
    receiver: Receiver, http: aiohttp.ClientSession, status: int, batch_size: int
) -> None:
    """The receiver refused our signature: a credentials problem, so no event is dead-lettered."""
    echoed = f"signature refused; expected secret {SECRET} or {SECRET.removeprefix('whsec_')}"
    receiver.answers = [web.json_response({"error": echoed}, status=status)]
    backend = webhook(http, receiver.url(), batch_size=batch_size)
    with pytest.raises(AuthenticationError) as caught:
        await backend.deliver(deliveries(2))
    assert str(caught.value).startswith(f"HTTP {status}: ")
    assert "expected secret [redacted] or [redacted]" in str(caught.value)
    assert SECRET.removeprefix("whsec_") not in str(caught.value)
    assert len(receiver.bodies) == 1  # nothing more was sent
    assert receiver.problems == []


async def test_redirect_is_rejected_not_followed(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    moved = receiver.url("/moved")
    receiver.answers = [web.Response(status=301, headers={"Location": moved})]
    [outcome] = await webhook(http, receiver.url()).deliver(deliveries(1))
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith(f"HTTP 301: redirect to {moved} not followed")
    assert receiver.problems == []


async def test_timeout_is_retried_and_stops_the_batch(
    receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.hold = asyncio.Event()
    outcomes = await webhook(http, receiver.url(), timeout="50ms").deliver(deliveries(2))
    receiver.hold.set()
    reason = "timeout: no answer within 0.05s"
    assert outcomes == [Retry(reason), Retry(f"not attempted: {reason}", attempted=False)]
    assert receiver.problems == []
    assert len(receiver.bodies) == 1


async def test_refused_connection_is_retried_and_stops_the_batch(
    http: aiohttp.ClientSession,
) -> None:
    closed = f"http://127.0.0.1:{unused_port()}/hook"
    first, *rest = await webhook(http, closed).deliver(deliveries(3))
    assert isinstance(first, Retry)
    assert first.reason.startswith("ClientConnectorError")
    assert rest == [Retry(f"not attempted: {first.reason}", attempted=False)] * 2


@pytest.mark.parametrize(
    "cut_off",
    [
        answer(200, b'{"record_refs": ["contact', declared=500, Content_Type="application/json"),
        chunked(202, b"accepted", last=False),
    ],
    ids=["content-length", "chunked"],
)
async def test_a_2xx_cut_off_is_retried_and_the_batch_goes_on(
    http: aiohttp.ClientSession, cut_off: bytes
) -> None:
    whole = answer(200, b'{"record_refs": ["contact 2"]}', Content_Type="application/json")
    async with raw_server(lambda n: (cut_off if n == 1 else whole, "reset")) as server:
        first, second = await webhook(http, server.url).deliver(deliveries(2))
    assert isinstance(first, Retry)
    assert first.attempted
    assert first.reason.startswith("HTTP 2")
    assert "answer cut off before its end" in first.reason
    assert second == Delivered(("contact 2",))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": None}, "Field required"),
        ({"secret": ""}, "non-empty secret"),
        ({"secret": ["", ""]}, "non-empty secret"),
        ({"secret": "whsec_c2hvcnQ="}, "at least 16 bytes"),
        ({"url": "ftp://example.com/hook"}, "URL scheme should be 'http' or 'https'"),
        ({"batch_size": 101}, "less than or equal to 100"),
    ],
)
def test_invalid_settings_are_refused(change: dict[str, Any], message: str) -> None:
    config = {"type": "webhook", "url": "https://example.com/hook", "secret": SECRET, **change}
    config = {key: value for key, value in config.items() if value is not None}
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        WebhookSettings.model_validate(config)
    assert SECRET.removeprefix("whsec_") not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        ("http://hooks.example.com/in", True),
        ("https://hooks.example.com/in", False),
        ("http://127.0.0.1:9000/in", False),
        ("http://[::1]:9000/in", False),
        ("http://localhost/in", False),
    ],
)
async def test_start_warns_about_plain_http_to_another_host(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, url: str, warns: bool
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.backend"):
        await webhook(http, url).start()
    assert ("over plain http" in caplog.text) == warns
    assert SECRET not in caplog.text


def test_is_a_builtin_plugin() -> None:
    assert load_plugins(disabled=()).backends["webhook"].cls is WebhookBackend
