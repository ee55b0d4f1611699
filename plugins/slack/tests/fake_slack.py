"""A strict fake of Slack's Web API `chat.postMessage`, on 127.0.0.1, for the sender's tests.

It refuses (and records as a problem) what the gateway must never send: no or another Bearer
token, a body that is not a JSON object, keys other than `channel`, `text`, `thread_ts`, a
blank `channel` or `text`, a `thread_ts` that is not a Slack timestamp. What Slack itself
refuses in-band it answers as Slack does, HTTP 200 `{"ok": false, "error": ...}`: an unknown
channel is `channel_not_found`, a `thread_ts` of no message in the channel `thread_not_found`.
A user ID posts into the app's IM with that user. Accepted posts answer `{"ok": true, "channel",
"ts", "message"}` with a new `ts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from gateway.testing import FakeCRM

__all__ = ["BOT_TOKEN", "FakeSlack"]

BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
_TS = re.compile(r"^[0-9]{10}\.[0-9]{6}$")
_KEYS = frozenset({"channel", "text", "thread_ts"})


class FakeSlack(FakeCRM):
    """`POST /chat.postMessage` of a workspace with some channels and IMs."""

    def __init__(self, channels: Iterable[str], ims: dict[str, str]) -> None:
        super().__init__()
        self.channels = set(channels) | set(ims.values())
        self.ims = ims
        """User ID -> the app's IM channel with that user."""
        self.messages: dict[str, list[str]] = {c: [] for c in self.channels}
        """The `ts` of every message of each channel, in order."""
        self.posted: list[dict[str, str]] = []
        """The body of every message posted, in order."""
        self.revoked = False
        """Answer every call `token_revoked`, as Slack does once the token is revoked."""

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the `chat.postMessage` route."""
        return [
            web.post("/chat.postMessage", self.post_message),
            web.post("/auth.test", self.auth_test),
        ]

    def error_body(self, status: int, message: str) -> Any:
        """Return Slack's error document."""
        return {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}

    def seed(self, channel: str, ts: str) -> None:
        """Record an existing message `ts` of `channel` (one that can be replied in thread)."""
        self.messages[channel].append(ts)

    async def auth_test(self, request: web.Request) -> web.Response:
        """Check the token: who the app is, or `token_revoked`."""
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if body:
            return self.refuse(f"auth.test takes no arguments: {body!r}")
        if self.revoked:
            return self.json_response({"ok": False, "error": "token_revoked"})
        document = {"ok": True, "team_id": "T024BE7LD", "user_id": "U0BOT7HC3", "bot_id": "B0BOT"}
        return self.json_response(document)

    async def _body(self, request: web.Request) -> Any:
        """Return the JSON body of an authorized call, or the refusal."""
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return self.refuse("missing or wrong Bearer token", status=401)
        if request.content_type != "application/json":
            return self.refuse(f"not JSON: {request.content_type}")
        try:
            return orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return self.refuse("the body is not JSON")

    async def post_message(self, request: web.Request) -> web.Response:
        """Post a message, checking the request as Slack (and the gateway's contract) does."""
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if self.revoked:
            return self.json_response({"ok": False, "error": "token_revoked"})
        if not isinstance(body, dict) or not set(body) <= _KEYS:
            return self.refuse(f"unexpected body: {body!r}")
        if not all(isinstance(v, str) and v for v in body.values()):
            return self.refuse(f"blank or non-string values: {body!r}")
        if "channel" not in body or "text" not in body:
            return self.refuse("channel and text are required")
        thread = body.get("thread_ts")
        if thread is not None and not _TS.match(thread):
            return self.refuse(f"thread_ts is not a Slack ts: {thread!r}")
        channel = self.ims.get(body["channel"], body["channel"])
        if channel not in self.channels:
            return self.json_response({"ok": False, "error": "channel_not_found"})
        if thread is not None and thread not in self.messages[channel]:
            return self.json_response({"ok": False, "error": "thread_not_found"})
        self.posted.append(body)
        ts = f"1795400000.{len(self.posted):06d}"
        self.messages[channel].append(ts)
        message = {"type": "message", "text": body["text"], "user": "U0BOT7HC3", "ts": ts}
        if thread is not None:
            message["thread_ts"] = thread
        return self.json_response({"ok": True, "channel": channel, "ts": ts, "message": message})
