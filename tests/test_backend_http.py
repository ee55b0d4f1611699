"""Backends classify HTTP answers the same way: delivered, transient or permanent."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from gateway.backend_http import MAX_ANSWER_BYTES
from gateway.errors import AuthenticationError, PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import parse_retry_after, raise_for_delivery_status
from tests.raw_http import Hangup, answer, chunked, raw_server

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Sun, 22 Nov 2026 10:02:00 GMT", 120.0),
        ("Sun, 22 Nov 2026 10:02:00 -0000", 120.0),
        ("Sunday, 22-Nov-26 10:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),
        ("Sun, 99 Nov 2026 10:02:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


async def classify(
    aiohttp_server: AiohttpServer,
    response: web.Response,
    *,
    path: str = "/",
    headers: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
) -> bytes:
    async def handler(request: web.Request) -> web.Response:
        return response

    app = web.Application()
    app.router.add_post("/", handler)
    server = await aiohttp_server(app)
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.make_url(path), allow_redirects=False, headers=headers) as sent,
    ):
        return await raise_for_delivery_status(sent, secrets=secrets)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_2xx_is_delivered(aiohttp_server: AiohttpServer, status: int) -> None:
    await classify(aiohttp_server, web.Response(status=status))


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
async def test_transient_statuses(aiohttp_server: AiohttpServer, status: int) -> None:
    response = web.Response(status=status, text="slow down", headers={"Retry-After": "3"})
    with pytest.raises(TransientDeliveryError) as caught:
        await classify(aiohttp_server, response)
    assert str(caught.value) == f"HTTP {status}: slow down"
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 404, 409, 410, 413, 422])
async def test_other_4xx_are_permanent(aiohttp_server: AiohttpServer, status: int) -> None:
    response = web.json_response({"message": "email is invalid"}, status=status)
    with pytest.raises(PermanentDeliveryError) as caught:
        await classify(aiohttp_server, response)
    assert str(caught.value) == f'HTTP {status}: {{"message": "email is invalid"}}'


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_raise_authentication_error(
    aiohttp_server: AiohttpServer, status: int
) -> None:
    response = web.json_response({"message": "token expired"}, status=status)
    with pytest.raises(AuthenticationError) as caught:
        await classify(aiohttp_server, response)
    assert str(caught.value) == (
        f'HTTP {status}: {{"message": "token expired"}} '
        "(the remote refused the backend's credentials)"
    )


TOKEN = "pat-na1-11112222-3333"
BASIC = base64.b64encode(b"jane.doe@example.com/token:s3cr3t-pw").decode()


@pytest.mark.parametrize(
    ("headers", "echoed"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, [TOKEN]),
        ({"Authorization": f"Basic {BASIC}"}, [BASIC, "s3cr3t-pw", "jane.doe@example.com/token"]),
        ({"X-Api-Key": TOKEN}, [TOKEN]),
        ({"Authorization": f"Token token={TOKEN}"}, [f"token={TOKEN}"]),
    ],
    ids=["bearer", "basic", "api-key", "token"],
)
@pytest.mark.parametrize("status", [400, 401, 429, 503])
async def test_echoed_credentials_are_scrubbed(
    aiohttp_server: AiohttpServer, headers: dict[str, str], echoed: list[str], status: int
) -> None:
    body = f"refused {' and '.join(echoed)} for this request"
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each status has its own class
        await classify(aiohttp_server, web.Response(status=status, text=body), headers=headers)
    reason = str(caught.value)
    assert " and ".join(["[redacted]"] * len(echoed)) in reason
    for value in echoed:
        assert value not in reason


async def test_a_basic_role_name_stays_readable(aiohttp_server: AiohttpServer) -> None:
    basic = base64.b64encode(b"api:key-0123456789").decode()
    response = web.Response(status=400, text="api key key-0123456789 is not valid for api")
    with pytest.raises(PermanentDeliveryError) as caught:
        await classify(aiohttp_server, response, headers={"Authorization": f"Basic {basic}"})
    assert str(caught.value) == "HTTP 400: api key [redacted] is not valid for api"


async def test_query_credentials_and_given_secrets_are_scrubbed(
    aiohttp_server: AiohttpServer,
) -> None:
    response = web.Response(status=404, text=f"no such key {TOKEN}; signed with whsec_abc")
    with pytest.raises(PermanentDeliveryError) as caught:
        await classify(aiohttp_server, response, path=f"/?api_key={TOKEN}", secrets=("whsec_abc",))
    assert str(caught.value) == "HTTP 404: no such key [redacted]; signed with [redacted]"


async def test_a_redirect_location_is_scrubbed(aiohttp_server: AiohttpServer) -> None:
    response = web.Response(status=302, headers={"Location": f"https://x.example/?token={TOKEN}"})
    with pytest.raises(PermanentDeliveryError) as caught:
        await classify(aiohttp_server, response, headers={"Authorization": f"Bearer {TOKEN}"})
    assert "https://x.example/?token=[redacted] not followed" in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_permanent(aiohttp_server: AiohttpServer, status: int) -> None:
    response = web.Response(status=status, headers={"Location": "https://new.example.com/in"})
    with pytest.raises(PermanentDeliveryError, match="update the backend's URL") as caught:
        await classify(aiohttp_server, response)
    assert str(caught.value).startswith(
        f"HTTP {status}: redirect to https://new.example.com/in not followed"
    )


async def test_long_bodies_are_cut_to_one_short_line(aiohttp_server: AiohttpServer) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await classify(aiohttp_server, web.Response(status=400, text="bad\n" * 1000))
    reason = str(caught.value)
    assert reason.startswith("HTTP 400: bad bad")
    assert "\n" not in reason
    assert len(reason) == len("HTTP 400: ") + 500
    assert reason.endswith("…")


async def test_2xx_returns_the_whole_body(aiohttp_server: AiohttpServer) -> None:
    assert await classify(aiohttp_server, web.Response(body=b"x" * 300_000)) == b"x" * 300_000


async def test_a_huge_2xx_body_is_read_to_its_end_and_its_start_kept(
    aiohttp_server: AiohttpServer,
) -> None:
    body = b"y" * (MAX_ANSWER_BYTES + 100_000)
    assert await classify(aiohttp_server, web.Response(body=body)) == body[:MAX_ANSWER_BYTES]


CUT_OFF = [
    pytest.param(answer(200, b'{"record', declared=100), id="content-length-short"),
    pytest.param(answer(201, b"", declared=10), id="content-length-nothing"),
    pytest.param(chunked(200, b'{"record', last=False), id="chunked-no-last-chunk"),
    pytest.param(chunked(202, b"ok", last=False)[:-3], id="chunked-cut-in-a-chunk"),
]


@pytest.mark.parametrize("hangup", ["close", "reset"])
@pytest.mark.parametrize("data", CUT_OFF)
async def test_2xx_cut_off_before_its_end_is_transient(data: bytes, hangup: Hangup) -> None:
    async with (
        raw_server(lambda n: (data, hangup)) as server,
        aiohttp.ClientSession() as http,
        http.post(server.url, data=b"{}") as sent,
    ):
        with pytest.raises(TransientDeliveryError, match="answer cut off before its end"):
            await raise_for_delivery_status(sent)


@pytest.mark.parametrize(
    "data",
    [answer(200, b'{"ok": true}'), chunked(200, b'{"ok"', b": true}")],
    ids=["content-length", "chunked"],
)
async def test_2xx_complete_before_a_reset_is_delivered(data: bytes) -> None:
    async with (
        raw_server(lambda n: (data, "reset")) as server,
        aiohttp.ClientSession() as http,
        http.post(server.url, data=b"{}") as sent,
    ):
        assert await raise_for_delivery_status(sent) == b'{"ok": true}'
