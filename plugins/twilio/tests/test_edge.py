"""Twilio webhooks at the gateway's edge: no work before verification beyond the limits, and
X-Forwarded-* honoured only from `server.trusted_proxies`."""

from __future__ import annotations

import asyncio
import io
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway_twilio import TwilioSmsChannel, signature
from recordings import FORM, TOKEN, fixture, pairs, sdk_signature

from gateway import bodies
from gateway.bodies import MAX_FORM_FIELDS
from gateway.testing import GatewayFactory, GatewayUnderTest

CONFIG: dict[str, Any] = {
    "channels": {
        "sms": {"type": "twilio-sms", "auth_token": TOKEN},
        "voice": {"type": "twilio-voice", "auth_token": TOKEN},
    },
    "backends": {},
}
LIMIT = TwilioSmsChannel.max_body_bytes or 0


@pytest.fixture
async def gut(gateway_factory: GatewayFactory) -> GatewayUnderTest:
    return await gateway_factory(CONFIG)


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every form parse and signature computation the gateway does."""
    done: list[str] = []
    parse, compute = urllib.parse.parse_qsl, signature.compute_signature

    def parse_spy(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        done.append("parse")
        return parse(*args, **kwargs)

    def compute_spy(*args: Any, **kwargs: Any) -> str:
        done.append("signature")
        return compute(*args, **kwargs)

    monkeypatch.setattr(bodies, "parse_qsl", parse_spy)
    monkeypatch.setattr(signature, "compute_signature", compute_spy)
    return done


def big_form(size: int, field: int) -> bytes:
    """Return an unsigned form of `size` bytes whose fields are about `field` bytes each."""
    unit = b"Body=" + b"x" * max(field - 6, 0) + b"&"
    return (unit * (size // len(unit) + 1))[:size]


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 65_536):
        yield body[start : start + 65_536]


@pytest.mark.parametrize("channel", ["sms", "voice"])
@pytest.mark.parametrize("size", [LIMIT + 1, 1_048_576, 4 * 1_048_576])
@pytest.mark.parametrize("field", [8, 1000, 100_000])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_an_oversized_unsigned_form_is_refused_before_any_work(
    gut: GatewayUnderTest, work: list[str], channel: str, size: int, field: int, framing: str
) -> None:
    body = big_form(size, field)
    data: Any = io.BytesIO(body) if framing == "content-length" else chunks(body)

    response = await gut.client.post(
        f"/webhooks/{channel}", data=data, headers={"Content-Type": FORM}
    )

    assert response.status == 413, await response.text()
    assert (await response.json())["error"]["code"] == "body_too_large"
    assert work == []


@pytest.mark.parametrize("fields", [MAX_FORM_FIELDS + 1, 5_000, LIMIT // 2])
async def test_a_form_with_too_many_fields_is_refused_before_any_work(
    gut: GatewayUnderTest, work: list[str], fields: int
) -> None:
    body = b"&".join([b"a=1"] * fields)[:LIMIT]
    response = await gut.client.post("/webhooks/sms", data=body, headers={"Content-Type": FORM})

    assert response.status == 413, await response.text()
    assert (await response.json())["error"]["code"] == "too_many_fields"
    assert work == []


async def test_a_form_within_the_limits_is_verified(gut: GatewayUnderTest, work: list[str]) -> None:
    body = b"&".join(b"F%d=v" % n for n in range(MAX_FORM_FIELDS))
    headers = {"Content-Type": FORM, "X-Twilio-Signature": "bm90IGl0"}
    response = await gut.client.post("/webhooks/sms", data=body, headers=headers)

    assert response.status == 401
    assert work[0] == "parse"
    assert "signature" in work


async def test_healthz_answers_while_big_unsigned_forms_arrive(
    gut: GatewayUnderTest, work: list[str]
) -> None:
    server = gut.client.server
    head = (
        "POST /webhooks/sms HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM + "\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    half = big_form(LIMIT // 2, 40)
    piece = b"%x\r\n%s\r\n" % (len(half), half)
    connections = [await asyncio.open_connection(server.host, server.port) for _ in range(8)]
    for _, writer in connections:
        writer.write(head + piece)
        await writer.drain()

    healthz = await gut.client.get("/healthz")  # eight bodies are half-way in

    assert healthz.status == 200
    for reader, writer in connections:
        writer.write(piece * 4 + b"0\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=15)
        assert answer.split(b" ", 2)[1] == b"413", answer[:200]
        writer.close()
    assert work == []


@pytest.mark.parametrize(
    ("trusted", "honoured"),
    [
        (None, True),  # the default: loopback, where the test client connects from
        (["127.0.0.1"], True),
        (["10.0.0.0/8", "::1"], False),
        ([], False),
    ],
)
async def test_forwarded_headers_are_honoured_only_from_trusted_proxies(
    gateway_factory: GatewayFactory,
    trusted: list[str] | None,
    honoured: bool,
) -> None:
    server: dict[str, Any] = {"trust_proxy": True}
    if trusted is not None:
        server["trusted_proxies"] = trusted
    gut = await gateway_factory({**CONFIG, "server": server})
    body = fixture("sms_inbound")
    forwarded = "https://gw.example.com/webhooks/sms"
    direct = str(gut.client.make_url("/webhooks/sms"))
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.com"}

    async def signed_for(url: str) -> int:
        offered = sdk_signature(url, pairs(body), TOKEN)
        sent = {**headers, "Content-Type": FORM, "X-Twilio-Signature": offered}
        response = await gut.client.post("/webhooks/sms", data=body, headers=sent)
        return response.status

    assert await signed_for(forwarded) == (200 if honoured else 401)
    assert await signed_for(direct) == (200 if not honoured else 401)
