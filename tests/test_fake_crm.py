"""FakeCRM: every fault, the request log and the problems, seen by a real aiohttp client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.testing import FakeCRM, RecordedRequest

TOKEN = "pat-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeNotes(FakeCRM):
    """A tiny vendor: `POST /notes` stores a note, refusing one without `text`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.notes: list[str] = []

    def routes(self) -> Iterable[web.RouteDef]:
        return [web.post("/notes", self._create), web.get("/notes", self._list)]

    def error_body(self, status: int, message: str) -> Any:
        return {"status": "error", "category": str(status), "message": message}

    async def _create(self, request: web.Request) -> web.Response:
        note = await request.json()
        if not isinstance(note.get("text"), str):
            return self.refuse("POST /notes without text", status=422)
        self.notes.append(note["text"])
        return self.json_response({"id": len(self.notes)}, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        return self.json_response({"notes": self.notes})


@pytest.fixture
async def crm() -> AsyncIterator[FakeNotes]:
    async with FakeNotes(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, crm: FakeCRM, path: str = "/notes", **options: Any
) -> tuple[int, Any, Any]:
    options.setdefault("json", {"text": "hello"})
    options.setdefault("headers", AUTH)
    async with http.post(crm.url + path, **options) as response:
        return response.status, await response.json(), response.headers


async def test_it_listens_on_loopback_and_routes_to_the_vendor_handlers(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    assert crm.url.startswith("http://127.0.0.1:")
    status, body, _ = await post(http, crm)
    assert (status, body, crm.notes) == (201, {"id": 1}, ["hello"])
    crm.assert_ok()


async def test_every_request_is_recorded_as_it_arrived(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    await post(http, crm, "/notes?a=1&a=2&b=x", headers={**AUTH, "X-Trace": "t1"})
    crm.fail_next()
    await post(http, crm, json={"text": "again"})
    async with http.get(crm.url + "/notes", headers=AUTH) as response:
        assert response.status == 200
    first = crm.requests[0]
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, dict(first.query)) == ("POST", "/notes", {"a": "1", "b": "x"})
    assert first.headers["x-trace"] == "t1"  # case-insensitive
    assert first.json() == {"text": "hello"}
    assert first.body == b'{"text": "hello"}'
    assert [r.json() for r in crm.requests_to("post", "^/notes$")] == [
        {"text": "hello"},
        {"text": "again"},  # faulted requests are recorded too
    ]
    assert [r.method for r in crm.requests_to("GET", "notes")] == ["GET"]


async def test_a_request_without_the_bearer_token_is_refused_and_a_problem(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, body, _ = await post(http, crm, headers=headers)
        assert status == 401
        assert body["category"] == "401"  # the vendor's error body
    assert crm.notes == []
    assert len(crm.problems) == 3
    with pytest.raises(AssertionError, match="3 problem") as caught:
        crm.assert_ok()
    assert "POST /notes: no valid bearer token" in str(caught.value)
    assert TOKEN not in str(caught.value)


async def test_no_token_configured_accepts_any_request(http: aiohttp.ClientSession) -> None:
    async with FakeNotes() as crm:
        status, _, _ = await post(http, crm, headers={})
        assert status == 201
        crm.assert_ok()


async def test_refuse_and_unknown_endpoints_are_problems(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await post(http, crm, json={"txt": "typo"})
    assert (status, body["message"]) == (422, "POST /notes without text")
    status, _, _ = await post(http, crm, "/nope")
    assert status == 404
    async with http.delete(crm.url + "/notes", headers=AUTH) as response:
        assert response.status == 405
    assert crm.problems == [
        "POST /notes without text",
        "POST /nope: no such endpoint",
        "DELETE /notes: no such endpoint",
    ]


async def test_strict_close_fails_on_problems(http: aiohttp.ClientSession) -> None:
    crm = FakeNotes(token=TOKEN, strict=True)
    await crm.start()
    await post(http, crm, headers={})
    with pytest.raises(AssertionError, match="no valid bearer token"):
        await crm.close()


async def test_fail_next_answers_the_next_requests_then_lets_them_through(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    crm.fail_next(2)
    assert [(await post(http, crm))[:2] for _ in range(3)] == [
        (503, {"status": "error", "category": "503", "message": "injected 503"}),
        (503, {"status": "error", "category": "503", "message": "injected 503"}),
        (201, {"id": 1}),
    ]
    assert crm.faults_served == 2
    assert len(crm.requests) == 3
    crm.fail_next(status=400, body={"errors": ["bad"]}, headers={"X-Request-Id": "r1"})
    status, body, headers = await post(http, crm)
    assert (status, body, headers["X-Request-Id"]) == (400, {"errors": ["bad"]}, "r1")
    crm.assert_ok()  # injected faults are not problems


async def test_faults_select_paths_by_regex_and_queue_in_call_order(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    crm.fail_next(status=500, path="^/notes$")
    crm.rate_limit(path="notes")
    async with http.get(crm.url + "/notes?x", headers=AUTH) as response:
        assert response.status == 500  # the first fault matches GET too: paths, not methods
    assert (await post(http, crm))[0] == 429
    assert (await post(http, crm))[0] == 201
    crm.fail_next(path="^/other")
    assert (await post(http, crm))[0] == 201  # not matched: the fault waits
    crm.clear_faults()
    assert crm.faults_served == 2


async def test_fail_fraction_is_deterministic_by_seed_until_cleared(
    http: aiohttp.ClientSession,
) -> None:
    async def pattern(seed: int) -> list[int]:
        async with FakeNotes() as crm:
            crm.fail_fraction(0.3, status=502, seed=seed)
            statuses = [(await post(http, crm))[0] for _ in range(60)]
            crm.clear_faults()
            assert (await post(http, crm))[0] == 201
            assert crm.faults_served == statuses.count(502)
            return statuses

    first, again, other = await pattern(1), await pattern(1), await pattern(2)
    assert first == again
    assert first != other
    assert set(first) == {201, 502}
    assert 8 <= first.count(502) <= 30
    with pytest.raises(ValueError, match="fraction"):
        FakeNotes().fail_fraction(1.5)


async def test_rate_limit_sends_retry_after_only_when_given(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    crm.rate_limit(retry_after=6.2, headers={"X-RateLimit-Remaining": "0"})
    crm.rate_limit()
    status, body, headers = await post(http, crm)
    assert (status, headers["Retry-After"], headers["X-RateLimit-Remaining"]) == (429, "7", "0")
    assert body["category"] == "429"
    status, _, headers = await post(http, crm)
    assert status == 429
    assert "Retry-After" not in headers


async def test_hang_never_answers_and_close_releases_it_quickly(
    http: aiohttp.ClientSession,
) -> None:
    crm = FakeNotes()
    await crm.start()
    crm.hang(2)
    with pytest.raises(TimeoutError):
        await post(http, crm, timeout=aiohttp.ClientTimeout(total=0.3))
    waiting = asyncio.create_task(post(http, crm))  # no client timeout: waits for close()
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    await crm.close()
    assert time.monotonic() - started < 1.0
    with pytest.raises(aiohttp.ClientConnectionError):
        await waiting
    assert crm.faults_served == 2
    assert crm.notes == []


async def test_reset_drops_the_connection_without_an_answer(
    crm: FakeNotes, http: aiohttp.ClientSession
) -> None:
    crm.reset(path="^/notes$")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, crm)
    assert crm.notes == []
    assert (await post(http, crm))[0] == 201  # the next connection is served
    assert crm.faults_served == 1
    crm.assert_ok()


def test_counts_must_be_positive() -> None:
    crm = FakeNotes()
    for inject in (crm.fail_next, crm.rate_limit, crm.hang, crm.reset):
        with pytest.raises(ValueError, match="at least 1"):
            inject(0)
