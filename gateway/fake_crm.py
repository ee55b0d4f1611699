"""`FakeCRM`: a real aiohttp server on 127.0.0.1 for backend tests (via gateway.testing).

A backend's tests subclass it per vendor: `routes()` adds the vendor's endpoints, handlers
call `refuse()` for any request the vendor would refuse (the test then fails at `assert_ok()`),
and the fault injectors (`fail_next`, `fail_fraction`, `rate_limit`, `hang`, `reset`) make the
next matching requests fail the ways a real remote does, before the route handler runs.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["FakeCRM", "RecordedRequest"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Action = Literal["answer", "hang", "reset"]
_SHUTDOWN_S = 1.0
"""How long `close()` waits for handlers still running (a hung one is released first)."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it reached the fake: method, path, query, headers and the raw body."""

    method: str
    path: str
    query: Mapping[str, str]
    """The first value of each query parameter."""
    headers: Mapping[str, str]
    """Case-insensitive."""
    body: bytes

    def json(self) -> Any:
        """Return the body decoded as JSON."""
        return orjson.loads(self.body)


@dataclass(slots=True)
class _Fault:
    """One injected fault: what it answers, to which paths, how many more times."""

    action: _Action
    path: re.Pattern[str] | None
    remaining: int | None
    """None: until `clear_faults()` (then `fraction` of matching requests, drawn from `rng`)."""
    status: int = 503
    body: Any = None
    headers: Mapping[str, str] | None = None
    fraction: float = 1.0
    rng: random.Random | None = None

    def takes(self, path: str) -> bool:
        """Return True if this fault answers a request to `path` (and count it)."""
        if self.path is not None and not self.path.search(path):
            return False
        if self.remaining is None:
            assert self.rng is not None
            return self.rng.random() < self.fraction
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class FakeCRM:
    """A fake CRM: a real aiohttp server on 127.0.0.1 with a request log and fault injection.

    Subclass it per vendor and add the vendor's routes in `routes()`; a handler that sees a
    request the vendor would refuse calls `self.refuse(...)`, which records a problem (the test
    fails at `assert_ok()`, called by the suite's fixtures, or by `close()` if `strict`) and
    answers the vendor's error. With `token` set, every request must carry
    `Authorization: Bearer <token>`; one without it is answered 401 and recorded as a problem.
    A request no route matches is a problem too.
    """

    def __init__(self, *, token: str | None = None, strict: bool = False) -> None:
        self.token = token
        self.strict = strict
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self.faults_served = 0
        self._faults: list[_Fault] = []
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the vendor's routes (`web.post(path, handler)`, ...); none by default."""
        return ()

    def error_body(self, status: int, message: str) -> Any:
        """Return the JSON the vendor answers an error with; `{"message": message}` by default."""
        return {"message": message}

    def json_response(self, document: Any, *, status: int = 200) -> web.Response:
        """Return `document` as a JSON response (orjson-encoded)."""
        return web.Response(
            body=orjson.dumps(document), status=status, content_type="application/json"
        )

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port; `url` says where."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(list(self.routes()))
        self._released.clear()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_S)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Release hung requests, stop the server; with `strict`, then `assert_ok()`."""
        self._released.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self.strict:
            self.assert_ok()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def refuse(self, message: str, *, status: int = 400) -> web.Response:
        """Record `message` as a problem and answer `error_body(status, message)`."""
        self.problems.append(message)
        return self.json_response(self.error_body(status, message), status=status)

    def assert_ok(self) -> None:
        """Raise `AssertionError` naming every problem recorded so far."""
        if self.problems:
            listed = "\n".join(f"- {problem}" for problem in self.problems)
            raise AssertionError(f"the fake CRM saw {len(self.problems)} problem(s):\n{listed}")

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Return the recorded requests with this method whose path `path_regex` matches."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and pattern.search(r.path)]

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next `n` matching requests `status` with `body` (default: an error body)."""
        self._add(_Fault("answer", _compile(path), n, status, body, headers))

    def fail_fraction(
        self, fraction: float, *, status: int = 503, seed: int = 0, path: str | None = None
    ) -> None:
        """Until `clear_faults()`, answer `fraction` of matching requests `status` (by `seed`)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must lie between 0 and 1")
        fault = _Fault("answer", _compile(path), None, status, fraction=fraction)
        fault.rng = random.Random(seed)
        self._add(fault)

    def rate_limit(
        self,
        n: int = 1,
        *,
        retry_after: float | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next `n` matching requests 429, with `Retry-After` if `retry_after`."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(math.ceil(retry_after))
        self._add(_Fault("answer", _compile(path), n, 429, headers=extra))

    def hang(self, n: int = 1, *, path: str | None = None) -> None:
        """Never answer the next `n` matching requests (until `close()`)."""
        self._add(_Fault("hang", _compile(path), n))

    def reset(self, n: int = 1, *, path: str | None = None) -> None:
        """Drop the connection of the next `n` matching requests without answering."""
        self._add(_Fault("reset", _compile(path), n))

    def clear_faults(self) -> None:
        """Forget every fault not yet served (and stop `fail_fraction`)."""
        self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("n must be at least 1")
        self._faults.append(fault)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        body = await request.read()
        query = {key: request.query[key] for key in dict.fromkeys(request.query)}
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        self.requests.append(RecordedRequest(request.method, request.path, query, headers, body))
        where = f"{request.method} {request.path}"
        if self.token is not None and not self._authorized(request):
            return self.refuse(f"{where}: no valid bearer token", status=401)
        unmatched = request.match_info.http_exception
        if unmatched is not None:
            return self.refuse(f"{where}: no such endpoint", status=unmatched.status)
        fault = next((f for f in self._faults if f.takes(request.path)), None)
        if fault is None:
            return await handler(request)
        self.faults_served += 1
        if fault.action == "hang":
            await self._released.wait()
        elif fault.action == "answer":
            document = self.error_body(fault.status, f"injected {fault.status}")
            response = self.json_response(
                document if fault.body is None else fault.body, status=fault.status
            )
            response.headers.update(fault.headers or {})
            return response
        _drop(request)
        return web.Response()  # never sent: the connection is gone

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and credentials == self.token


def _compile(path: str | None) -> re.Pattern[str] | None:
    return None if path is None else re.compile(path)


def _drop(request: web.Request) -> None:
    """Close the request's connection at once, answering nothing."""
    if request.transport is not None:
        request.transport.abort()
