"""A strict fake of the WhatsApp Cloud API's send endpoint, on 127.0.0.1, for the sender's tests.

It refuses (and records as a problem) what the Graph API would refuse: a missing or wrong Bearer
token, another phone number id or API version, a body that is not JSON, no
`messaging_product: whatsapp`, a `to` that is not a wa_id (international digits, no `+`), a
`type` other than `text` or `template`, a text without `body` (or over 4,096 characters), a
template without `name` or `language.code`, a `biz_opaque_callback_data` that is not a string of
at most 512 characters. Accepted sends answer 200 as the Cloud API does,
with `messages[0].id` a wamid.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from gateway.testing import FakeCRM

__all__ = ["ACCESS_TOKEN", "PHONE_NUMBER_ID", "FakeGraph", "graph_error", "json_body"]

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAKZB0test0token0ZDZD"
PHONE_NUMBER_ID = "106540352242922"
_WA_ID = re.compile(r"^[1-9][0-9]{6,14}$")


def graph_error(code: int, message: str, *, subcode: int | None = None) -> dict[str, Any]:
    """Return the Graph API's error document for `code`."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGh123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


async def json_body(fake: FakeCRM, request: web.Request) -> Any:
    """Return the JSON body of a Graph request, or `fake`'s refusal if it is not JSON."""
    if request.content_type != "application/json":
        return fake.refuse(f"not JSON: {request.content_type}")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return fake.refuse("the body is not JSON")


class FakeGraph(FakeCRM):
    """The Cloud API's `POST /{version}/{phone_number_id}/messages`."""

    def __init__(self, *, version: str = "v25.0", phone_number_id: str = PHONE_NUMBER_ID) -> None:
        super().__init__(token=ACCESS_TOKEN)
        self.version = version
        self.phone_number_id = phone_number_id
        self.sent: list[dict[str, Any]] = []
        """The body of every message accepted, in order."""

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the messages route."""
        return [web.post("/{version}/{phone_number_id}/messages", self.messages)]

    def error_body(self, status: int, message: str) -> Any:
        """Return the Graph API's error document."""
        code = {401: 190, 429: 130429}.get(status, 1 if status >= 500 else 100)
        return graph_error(code, message)

    async def messages(self, request: web.Request) -> web.Response:
        """Send a message, checking the request as the Cloud API does."""
        if request.match_info["version"] != self.version:
            return self.refuse(f"another API version: {request.match_info['version']}")
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return self.refuse(f"another phone number id: {request.match_info['phone_number_id']}")
        body = await json_body(self, request)
        if isinstance(body, web.Response):
            return body
        if problem := _problem(body):
            return self.refuse(problem)
        self.sent.append(body)
        wamid = "wamid." + base64.b64encode(f"HBgL{len(self.sent):020d}".encode()).decode()
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        }
        return self.json_response(answer)


def _problem(body: Any) -> str | None:
    """Return why the Cloud API would refuse `body`, or None."""
    if not isinstance(body, dict):
        return "the body is not an object"
    if body.get("messaging_product") != "whatsapp":
        return f"messaging_product must be 'whatsapp': {body.get('messaging_product')!r}"
    if body.get("recipient_type", "individual") != "individual":
        return f"recipient_type: {body.get('recipient_type')!r}"
    if not _WA_ID.match(str(body.get("to", ""))):
        return f"'to' is not a wa_id (digits, no '+'): {body.get('to')!r}"
    callback = body.get("biz_opaque_callback_data", "")
    if not isinstance(callback, str) or len(callback) > 512:
        return "biz_opaque_callback_data is a string of at most 512 characters"
    if "context" in body and not str(body["context"].get("message_id", "")).startswith("wamid."):
        return f"context.message_id is not a wamid: {body['context']!r}"
    kind = body.get("type")
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
            return "a text message needs text.body"
        if len(text["body"]) > 4096:
            return "text.body is over 4,096 characters"
        return None
    if kind == "template":
        template = body.get("template")
        if not isinstance(template, dict) or not template.get("name"):
            return "a template message needs template.name"
        language = template.get("language")
        if not isinstance(language, dict) or not language.get("code"):
            return "a template needs language.code"
        for component in template.get("components", []):
            parameters = component.get("parameters") if isinstance(component, dict) else None
            if component.get("type") not in ("header", "body", "button") or not parameters:
                return f"a template component needs a type and parameters: {component!r}"
            texts = [p.get("text") for p in parameters if p.get("type") == "text"]
            if len(texts) != len(parameters) or not all(isinstance(t, str) for t in texts):
                return f"a text parameter is {{type: text, text: str}}: {parameters!r}"
        return None
    return f"unsupported type: {kind!r}"
