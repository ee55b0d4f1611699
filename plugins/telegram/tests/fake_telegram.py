"""A strict fake of the Bot API's `sendMessage`, on 127.0.0.1, for the sender's tests.

It refuses (and records as a problem) what Telegram would refuse: another bot's token in the
path (401 Unauthorized), a body that is not JSON, no `chat_id`, a `text` empty or over 4096
characters, a `message_thread_id` or `reply_parameters.message_id` that is not an integer, and
(strict beyond Telegram) any parameter the sender has no business sending. Accepted sends answer
`{"ok": true, "result": Message}` with `message_id`s counting up from 100 in each chat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from gateway.testing import FakeCRM

__all__ = ["BOT_TOKEN", "FakeTelegram", "telegram_error"]

BOT_TOKEN = "7012345678:AAH8kz-Qx2Lp_9vWmN4rTs6YbC3dEfGhIjK"
"""Shaped like a @BotFather token: `<bot id>:<35 characters>`."""
_PARAMETERS = frozenset({"chat_id", "text", "message_thread_id", "reply_parameters"})
_REPLY = frozenset({"message_id", "allow_sending_without_reply"})


def telegram_error(code: int, description: str, **parameters: int) -> dict[str, Any]:
    """Return the Bot API's error document, with `parameters` (e.g. `retry_after`) if any."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


class FakeTelegram(FakeCRM):
    """The Bot API's `POST /bot{token}/sendMessage`."""

    def __init__(self, token: str = BOT_TOKEN) -> None:
        super().__init__()
        self.bot_token = token
        self.sent: list[dict[str, Any]] = []
        """The parameters of every message sent, in order."""

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the `sendMessage` route."""
        return [web.post("/bot{token}/sendMessage", self.send_message)]

    def error_body(self, status: int, message: str) -> Any:
        """Return the Bot API's error document."""
        return telegram_error(status, message)

    async def send_message(self, request: web.Request) -> web.Response:
        """Send a message, checking the request as the Bot API does."""
        if request.match_info["token"] != self.bot_token:
            return self.refuse("Unauthorized: another bot token", status=401)
        if request.content_type != "application/json":
            return self.refuse(f"Bad Request: not JSON: {request.content_type}")
        body = await request.json()
        if not isinstance(body, dict) or (extra := set(body) - _PARAMETERS):
            return self.refuse(f"Bad Request: unexpected parameters {sorted(extra or [])}")
        chat_id = body.get("chat_id")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            return self.refuse(f"Bad Request: chat_id is not an integer: {chat_id!r}")
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 4096:
            return self.refuse("Bad Request: message text is empty or too long")
        if "message_thread_id" in body and not isinstance(body["message_thread_id"], int):
            return self.refuse("Bad Request: message_thread_id is not an integer")
        reply = body.get("reply_parameters", {"message_id": 0})
        if (
            not isinstance(reply, dict)
            or set(reply) - _REPLY
            or not isinstance(reply.get("message_id"), int)
        ):
            return self.refuse(f"Bad Request: unusable reply_parameters: {reply!r}")
        self.sent.append(body)
        in_chat = [m for m in self.sent if m["chat_id"] == chat_id]
        message = {
            "message_id": 99 + len(in_chat),
            "from": {"id": int(self.bot_token.split(":")[0]), "is_bot": True, "first_name": "Acme"},
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": 1764756000,
            "text": text,
        }
        if "message_thread_id" in body:
            message["message_thread_id"] = body["message_thread_id"]
        return self.json_response({"ok": True, "result": message})
