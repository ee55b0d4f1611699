"""The HTTP edge before verification: per-channel body limits, form caps, hang-ups, bad HTTP, and
one rate-limited WARNING line per refused webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway import bodies
from gateway.app import create_public_app
from gateway.bodies import MAX_FORM_FIELDS, BodyError, parse_form
from gateway.builtins.generic import GenericChannel
from gateway.rejections import RejectionLog
from gateway.request import WebhookRequest, WebhookResponse
from gateway.server import JsonErrorRunner
from gateway.testing import GatewayFactory, GatewayUnderTest, standard_webhook_headers
from tests.payloads import SECRET, message
from tests.test_ingest import error_of, metric, stored_count
from tests.waiting import eventually


def signed(payload: Any, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(payload)
    return body, {**standard_webhook_headers(secret, body), "Content-Type": "application/json"}


async def raw_exchange(host: str, port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection and return everything the server answers."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=15)
    writer.close()
    return answer


# --- per-channel body limits ---------------------------------------------------------------


@pytest.mark.parametrize(("limit", "size", "status"), [(200, 201, 413), (200, 200, 200)])
async def test_a_channel_limit_below_the_server_limit_is_enforced(
    gateway_factory: GatewayFactory, limit: int, size: int, status: int
) -> None:
    gut = await gateway_factory(
        {"channels": {"web": {"type": "generic", "secret": SECRET, "max_body_bytes": limit}}}
    )
    payload = message()
    padding = size - len(orjson.dumps(payload))
    payload["content"]["text"] += "x" * padding
    body, headers = signed(payload)
    assert len(body) == size

    for framing in ("content-length", "chunked"):

        async def chunks(data: bytes = body) -> AsyncIterator[bytes]:
            for start in range(0, len(data), 64):
                yield data[start : start + 64]

        data: Any = body if framing == "content-length" else chunks()
        response = await gut.client.post("/webhooks/web", data=data, headers=headers)
        assert response.status == status, (framing, await response.text())
        if status == 413:
            assert (await error_of(response, 413))["code"] == "body_too_large"
            assert f"{limit}-byte" in (await response.json())["error"]["message"]
    assert stored_count(gut) == (0 if status == 413 else 1)


async def test_a_channel_limit_never_exceeds_the_server_limit(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(
        {
            "server": {"max_body_bytes": 100},
            "channels": {"web": {"type": "generic", "secret": SECRET, "max_body_bytes": 10_000}},
        }
    )
    body, headers = signed(message(text="x" * 200))
    response = await gut.client.post("/webhooks/web", data=body, headers=headers)
    assert "100-byte" in (await error_of(response, 413))["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data; boundary=x"])
async def test_a_body_of_the_wrong_media_type_is_415_before_reading(
    gut: GatewayUnderTest, content_type: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    original = bodies.BodyReader.read

    async def spy(self: bodies.BodyReader, content: Any, limit: int) -> bytes:
        reads.append(limit)
        return await original(self, content, limit)

    monkeypatch.setattr(bodies.BodyReader, "read", spy)
    body, headers = signed(message())
    del headers["Content-Type"]
    if content_type:
        headers["Content-Type"] = content_type
    response = await gut.client.post("/webhooks/web", data=body, headers=headers)

    assert (await error_of(response, 415))["code"] == "unsupported_media_type"
    assert reads == []


@pytest.fixture
async def gut(gateway_factory: GatewayFactory, config: dict[str, Any]) -> GatewayUnderTest:
    return await gateway_factory(config)


# --- form bodies: counted before they are parsed -------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"&" * MAX_FORM_FIELDS,
        b"a=1&" * MAX_FORM_FIELDS,
        b"&".join(b"k%d=v" % n for n in range(MAX_FORM_FIELDS + 1)),
        b"x=" + b"&" * 50_000,
    ],
    ids=["separators", "pairs", "distinct", "huge"],
)
def test_a_form_with_too_many_fields_is_413_without_parsing(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[bytes] = []

    def spy(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        parsed.append(body)
        return []

    monkeypatch.setattr(bodies, "parse_qsl", spy)

    with pytest.raises(BodyError) as refused:
        parse_form(body)

    assert (refused.value.outcome, refused.value.status) == ("too_many_fields", 413)
    assert parsed == []


@pytest.mark.parametrize("fields", [0, 1, 30, MAX_FORM_FIELDS])
def test_a_form_up_to_the_cap_is_parsed(fields: int) -> None:
    body = b"&".join(b"k%d=v%d" % (n, n) for n in range(fields))
    form = parse_form(body)
    assert len(form) == fields


@pytest.mark.parametrize("body", [b"\xff=1", b"k=\xc3", b"a=1&&b", b"noequals"])
def test_a_malformed_form_is_400(body: bytes) -> None:
    with pytest.raises(BodyError) as refused:
        parse_form(body)
    assert (refused.value.outcome, refused.value.status) == ("bad_payload", 400)


# --- served as `gateway serve` serves it (aiohttp's test server cancels handlers on hang-up) ---


@pytest.fixture
async def served(gut: GatewayUnderTest) -> AsyncIterator[tuple[str, int]]:
    """Serve the public app through the runner `gateway serve` uses, on 127.0.0.1."""
    runner = JsonErrorRunner(create_public_app(gut.gateway), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port, *_ = runner.addresses[0]
    yield host, port
    await runner.cleanup()


# --- a client that hangs up mid-body ------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_client_hanging_up_mid_body_is_no_error(
    gut: GatewayUnderTest,
    served: tuple[str, int],
    caplog: pytest.LogCaptureFixture,
    framing: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    head = (
        "POST /webhooks/web HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + ("Content-Length: 5000\r\n\r\n" if framing == "content-length" else "")
        + ("Transfer-Encoding: chunked\r\n\r\n10\r\n" if framing == "chunked" else "")
    )
    _, writer = await asyncio.open_connection(*served)
    writer.write(head.encode() + b'{"external_id":')
    await writer.drain()
    await asyncio.sleep(0.1)  # let the handler start reading the body
    writer.close()

    async def counted() -> bool:
        outcome = "client_disconnected"
        return metric(gut, "gateway_webhook_requests_total", channel="web", outcome=outcome) == 1

    await eventually(counted)
    assert (
        metric(gut, "gateway_webhook_requests_total", channel="web", outcome="internal_error") == 0
    )
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "Traceback" not in caplog.text


# --- malformed HTTP gets the gateway's JSON error ------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
        b"POST /webhooks/web HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /webhooks/web HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
    ],
    ids=[
        "garbage",
        "request-line",
        "version",
        "header",
        "long-header",
        "length",
        "two-lengths",
        "tls",
    ],
)
async def test_malformed_http_is_a_json_400(
    served: tuple[str, int], data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await raw_exchange(*served, data)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", answer[:200]
    assert b"Content-Type: application/json" in head
    error = orjson.loads(body)["error"]
    assert error["code"] == "bad_request"
    assert error["message"].startswith("malformed HTTP request")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_well_formed_http_is_still_served(served: tuple[str, int]) -> None:
    answer = await raw_exchange(
        *served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'"ok"}')


# --- refused webhooks are logged, once per kind per interval --------------------------------


async def test_a_bad_signature_is_logged_without_secrets(
    gut: GatewayUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    body, headers = signed(message(text="private words"), secret=wrong)

    response = await gut.client.post("/webhooks/web", data=body, headers=headers)

    assert response.status == 401
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = line.getMessage()
    assert "channel web" in text
    assert "bad_signature" in text
    assert "no webhook-signature matches" in text
    offered = headers["webhook-signature"].partition(",")[2]
    for secret in (SECRET, wrong, wrong.removeprefix("whsec_"), offered, "private words"):
        assert secret not in text


@pytest.mark.parametrize(
    ("outcome", "status", "payload"),
    [
        ("bad_payload", 422, {**message(), "occurred_at": "not a date"}),
        ("bad_payload", 400, b"{not json"),
        ("body_too_large", 413, {**message(), "x": "y" * 2_000}),
    ],
)
async def test_every_refusal_kind_is_logged_once_per_burst(
    gateway_factory: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    outcome: str,
    status: int,
    payload: Any,
) -> None:
    channel = {"type": "generic", "secret": SECRET, "max_body_bytes": 1000}
    gut = await gateway_factory({"channels": {"web": channel}})
    for _ in range(100):
        response = await gut.post_signed("web", payload, SECRET)
        assert response.status == status

    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(lines) <= 3, lines
    assert f"{status} {outcome}" in lines[0]


def test_the_rejection_log_reports_what_it_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rejections = RejectionLog(interval=10.0, clock=lambda: now[0])
    for _ in range(100):
        rejections.rejected("sms", "bad_signature", 401, "no match")
        rejections.rejected("whatsapp", "bad_signature", 401, "no match")
        now[0] += 0.05  # 100 attempts in 5 s: one window
    rejections.rejected("sms", "bad_payload", 422, "From: invalid")
    now[0] = 11.0
    rejections.rejected("sms", "bad_signature", 401, "no match")

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "channel sms refused a webhook: 401 bad_signature: no match",
        "channel whatsapp refused a webhook: 401 bad_signature: no match",
        "channel sms refused a webhook: 422 bad_payload: From: invalid",
        "channel sms refused a webhook: 401 bad_signature: no match"
        " (99 more like it in the last 11s)",
    ]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            WebhookResponse.json(
                {"error": {"code": "bad_verify_token", "message": "no match"}}, 403
            ),
            "handshake refused: no match",
        ),
        (WebhookResponse.text("forbidden", 403), "handshake refused"),
        (WebhookResponse.json(["odd"], 400), "handshake refused"),
    ],
)
async def test_a_refused_handshake_is_logged(
    gut: GatewayUnderTest,
    caplog: pytest.LogCaptureFixture,
    answer: WebhookResponse,
    reason: str,
) -> None:
    original = gut.gateway.channels["web"]

    class Refusing(GenericChannel):
        def handshake(self, req: WebhookRequest) -> WebhookResponse | None:
            return answer

    gut.gateway.channels["web"] = Refusing(original.ctx, original.settings)

    response = await gut.client.get("/webhooks/web?hub.verify_token=guess")

    assert response.status == answer.status
    assert await response.read() == answer.body
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line == f"channel web refused a webhook: {answer.status} handshake: {reason}"
    assert "guess" not in line
    assert metric(gut, "gateway_webhook_requests_total", channel="web", outcome="handshake") == 1
