"""A strict fake of the Messenger Platform's Send API (Messenger and Instagram), on 127.0.0.1.

It refuses (and records as a problem) what the Send API would refuse: a missing or wrong Bearer
token, another account id or API version, a body that is not JSON or has unknown keys, a
`recipient.id` that is not one of the account's customers, a `messaging_type` other than
`RESPONSE` / `UPDATE` / `MESSAGE_TAG` (Messenger requires one), `MESSAGE_TAG` without a tag the
product takes or a tag without `MESSAGE_TAG`, a `message` with both or neither of `text` and
`attachment` (or over the text limit), an attachment that is not `{type, payload: {url}}` with
a known type and an http(s) URL, and a `metadata` string on Instagram or over 1,000 characters.
Accepted sends answer 200 `{"recipient_id", "message_id"}` as the Send API does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from fake_graph import graph_error, json_body

from gateway.testing import FakeCRM

__all__ = ["INSTAGRAM", "MESSENGER", "FakeSendAPI", "Product"]


@dataclass(frozen=True, slots=True)
class Product:
    """What differs between Messenger's and Instagram's Send API."""

    name: str
    token: str
    account_id: str
    customer: str
    """The one customer id (PSID or IGSID) the account may message."""
    max_text: int
    tags: frozenset[str]
    needs_messaging_type: bool
    takes_metadata: bool
    reusable_field: bool


MESSENGER = Product(
    name="messenger",
    token="EAAPageTokenZCZBtest0messenger0ZDZD",
    account_id="682498302938465",
    customer="1254459154682919",
    max_text=2000,
    tags=frozenset({"HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE"}),
    needs_messaging_type=True,
    takes_metadata=True,
    reusable_field=True,
)
INSTAGRAM = Product(
    name="instagram",
    token="IGAAtestInstagramUserToken0ZDZD",
    account_id="17841405793187218",
    customer="1914819265308137",
    max_text=1000,
    tags=frozenset({"HUMAN_AGENT"}),
    needs_messaging_type=False,
    takes_metadata=False,
    reusable_field=False,
)
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
ATTACHMENT_TYPES = frozenset({"image", "video", "audio", "file"})


class FakeSendAPI(FakeCRM):
    """`POST /{version}/{account_id}/messages` of one product."""

    def __init__(self, product: Product, *, version: str = "v25.0") -> None:
        super().__init__(token=product.token)
        self.product = product
        self.version = version
        self.sent: list[dict[str, Any]] = []
        """The body of every message accepted, in order."""
        self.attachment_error: dict[str, Any] | None = None
        """Set: a well-formed attachment is answered 400 with this Graph error (too big)."""

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the messages route."""
        return [web.post("/{version}/{account_id}/messages", self.messages)]

    def error_body(self, status: int, message: str) -> Any:
        """Return the Graph API's error document."""
        code = {401: 190, 429: 613}.get(status, 2 if status >= 500 else 100)
        return graph_error(code, message)

    def mid(self, n: int) -> str:
        """Return the message id the `n`-th accepted send (from 1) answers."""
        return f"m_{self.product.name}_{n:06d}_AbCdEf"

    async def messages(self, request: web.Request) -> web.Response:
        """Send a message, checking the request as the Send API does."""
        if request.match_info["version"] != self.version:
            return self.refuse(f"another API version: {request.match_info['version']}")
        if request.match_info["account_id"] != self.product.account_id:
            return self.refuse(f"another account id: {request.match_info['account_id']}")
        if "access_token" in request.query:
            return self.refuse("the token travels in the URL (logged by proxies)")
        body = await json_body(self, request)
        if isinstance(body, web.Response):
            return body
        if problem := self._problem(body):
            return self.refuse(problem)
        if self.attachment_error is not None and "attachment" in body["message"]:
            return self.json_response(self.attachment_error, status=400)
        self.sent.append(body)
        return self.json_response(
            {"recipient_id": body["recipient"]["id"], "message_id": self.mid(len(self.sent))}
        )

    def _problem(self, body: Any) -> str | None:
        """Return why the Send API would refuse `body`, or None."""
        product = self.product
        if not isinstance(body, dict):
            return "the body is not an object"
        if unknown := set(body) - {"recipient", "messaging_type", "tag", "message"}:
            return f"unknown keys: {sorted(unknown)}"
        if body.get("recipient") != {"id": product.customer}:
            return f"recipient is not {{id: {product.customer}}}: {body.get('recipient')!r}"
        kind = body.get("messaging_type")
        if kind is None and product.needs_messaging_type:
            return "messaging_type is required"
        if kind is not None and kind not in MESSAGING_TYPES:
            return f"messaging_type: {kind!r}"
        tag = body.get("tag")
        if (kind == "MESSAGE_TAG") != (tag is not None):
            return f"a tag goes with messaging_type MESSAGE_TAG: {kind!r}, tag {tag!r}"
        if tag is not None and tag not in product.tags:
            return f"{product.name} does not take the tag {tag!r}"
        return self._message_problem(body.get("message"))

    def _message_problem(self, message: Any) -> str | None:
        product = self.product
        if not isinstance(message, dict):
            return "message is not an object"
        keys = (
            {"text", "attachment", "metadata"} if product.takes_metadata else {"text", "attachment"}
        )
        if unknown := set(message) - keys:
            return f"unknown message keys: {sorted(unknown)}"
        metadata = message.get("metadata", "")
        if not isinstance(metadata, str) or len(metadata) > 1000:
            return "message.metadata is a string of at most 1,000 characters"
        if ("text" in message) == ("attachment" in message):
            return "a message has text or an attachment, exactly one"
        if "text" in message:
            text = message["text"]
            if not isinstance(text, str) or not text or len(text) > product.max_text:
                return f"message.text is 1 to {product.max_text} characters: {text!r}"
            return None
        attachment = message["attachment"]
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        if not isinstance(payload, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            return f"an attachment is {{type, payload}}: {attachment!r}"
        fields = {"url", "is_reusable"} if product.reusable_field else {"url"}
        if set(payload) - fields or not str(payload.get("url", "")).startswith("http"):
            return f"an attachment payload is {{url}} (http or https): {payload!r}"
        return None
