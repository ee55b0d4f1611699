"""Strict fakes of the Postmark, SendGrid and Mailgun send APIs, on 127.0.0.1.

Each refuses (and records as a problem, failing the test at `assert_ok()`) what its provider
would refuse: missing or wrong credentials, a body of the wrong type, a missing required field,
an address that is not one, a field it does not know. Accepted sends answer as the provider
does and are kept in `sent`.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from gateway.testing import FakeCRM

__all__ = [
    "MAILGUN_DOMAIN",
    "MAILGUN_KEY",
    "POSTMARK_TOKEN",
    "SENDGRID_KEY",
    "FakeMailgun",
    "FakePostmark",
    "FakeSendGrid",
]

POSTMARK_TOKEN = "0f5e4c2a-8b1d-4e6f-9a3c-7d2b1e0f4a5c"
SENDGRID_KEY = "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"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxte000"
MAILGUN_DOMAIN = "mg.acme.example"
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAMED = re.compile(r"^(?:[^<>]*<)?([^@\s<>]+@[^@\s<>]+)>?$")
_POSTMARK_FIELDS = frozenset(
    {"From", "To", "Subject", "TextBody", "HtmlBody", "Headers", "MessageStream"}
)
_SENDGRID_FIELDS = frozenset({"personalizations", "from", "subject", "content", "headers"})
_MAILGUN_FIELDS = frozenset({"from", "to", "subject", "text", "html"})


def _is_address(value: Any, *, named: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    match = _NAMED.match(value.strip()) if named else None
    return bool(_ADDRESS.match(match[1] if match else value))


class FakePostmark(FakeCRM):
    """Postmark's `POST /email`."""

    def __init__(self, token: str = POSTMARK_TOKEN, sender: str = "support@acme.example") -> None:
        super().__init__()
        self.server_token = token
        self.sender = sender
        """The confirmed Sender Signature: any other From is ErrorCode 400."""
        self.sent: list[dict[str, Any]] = []

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the send route."""
        return [web.post("/email", self.email)]

    def error_body(self, status: int, message: str) -> Any:
        """Return Postmark's `{ErrorCode, Message}` (a 5xx has no code: the API did not run)."""
        if status >= 500:
            return {"Message": message}
        return {"ErrorCode": {401: 10, 429: 429}.get(status, 300), "Message": message}

    def postmark_error(self, code: int, message: str, status: int = 422) -> web.Response:
        """Return Postmark's refusal with `ErrorCode` `code`."""
        return self.json_response({"ErrorCode": code, "Message": message}, status=status)

    async def email(self, request: web.Request) -> web.Response:
        """Send one message, checking the request as Postmark does."""
        if request.headers.get("X-Postmark-Server-Token") != self.server_token:
            self.problems.append("missing or wrong X-Postmark-Server-Token")
            return self.postmark_error(10, "Bad or missing API token", status=401)
        if "application/json" not in request.headers.get("Accept", ""):
            return self.refuse("Accept: application/json is required")
        if request.content_type != "application/json":
            return self.refuse(f"not JSON: {request.content_type}", status=415)
        body = await request.json()
        problem = self._problem(body)
        if problem is not None:
            return self.refuse(problem, status=422)
        if not body["From"].endswith(f"<{self.sender}>") and body["From"] != self.sender:
            return self.postmark_error(400, "The 'From' address has no sender signature")
        self.sent.append(body)
        message_id = str(uuid.UUID(int=len(self.sent)))
        return self.json_response(
            {
                "To": body["To"],
                "SubmittedAt": "2026-11-22T10:05:00.0000000Z",
                "MessageID": message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
        )

    def _problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or (extra := set(body) - _POSTMARK_FIELDS):
            return f"unexpected fields {sorted(extra or [])}"
        if not _is_address(body.get("From"), named=True) or not _is_address(body.get("To")):
            return f"From / To are not addresses: {body.get('From')!r} {body.get('To')!r}"
        if not body.get("Subject") or not (body.get("TextBody") or body.get("HtmlBody")):
            return "Subject and TextBody or HtmlBody are required"
        headers = body.get("Headers", [])
        if not isinstance(headers, list) or not all(
            isinstance(h, dict) and set(h) == {"Name", "Value"} for h in headers
        ):
            return f"Headers must be a list of {{Name, Value}}: {headers!r}"
        if body.get("MessageStream") != "outbound":
            return f"no such message stream: {body.get('MessageStream')!r}"
        return None


class FakeSendGrid(FakeCRM):
    """SendGrid's `POST /v3/mail/send`."""

    def __init__(self, key: str = SENDGRID_KEY) -> None:
        super().__init__(token=key)
        self.sent: list[dict[str, Any]] = []

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the send route."""
        return [web.post("/v3/mail/send", self.send)]

    def error_body(self, status: int, message: str) -> Any:
        """Return SendGrid's `{"errors": [{message, field}]}`."""
        return {"errors": [{"message": message, "field": None, "help": None}]}

    async def send(self, request: web.Request) -> web.Response:
        """Queue one message, checking the request as SendGrid does (auth: `FakeCRM`)."""
        if request.content_type != "application/json":
            return self.refuse(f"not JSON: {request.content_type}", status=415)
        body = await request.json()
        problem = self._problem(body)
        if problem is not None:
            return self.refuse(problem)
        self.sent.append(body)
        response = web.Response(status=202)
        response.headers["X-Message-Id"] = f"W{len(self.sent):021d}"
        return response

    def _problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or (extra := set(body) - _SENDGRID_FIELDS):
            return f"unexpected fields {sorted(extra or [])}"
        people = body.get("personalizations")
        if not (isinstance(people, list) and len(people) == 1 and isinstance(people[0], dict)):
            return "personalizations must hold one object"
        if extra := set(people[0]) - {"to", "custom_args"}:
            return f"unexpected personalization fields {sorted(extra)}"
        custom = people[0].get("custom_args", {})
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            return f"custom_args must map names to strings: {custom!r}"
        to = people[0].get("to")
        if not (isinstance(to, list) and to and all(_is_address(t.get("email")) for t in to)):
            return f"personalizations[0].to needs e-mail addresses: {to!r}"
        sender = body.get("from")
        if not isinstance(sender, dict) or not _is_address(sender.get("email")):
            return f"from.email is required: {sender!r}"
        content = body.get("content")
        if not body.get("subject") or not isinstance(content, list) or not content:
            return "subject and content are required"
        types = [part.get("type") for part in content]
        if types[0] != "text/plain" or not all(part.get("value") for part in content):
            return f"content must start with text/plain, every value non-empty: {types}"
        headers = body.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            return f"headers must map names to strings: {headers!r}"
        return None


class FakeMailgun(FakeCRM):
    """Mailgun's `POST /v3/{domain}/messages`."""

    def __init__(self, key: str = MAILGUN_KEY, domain: str = MAILGUN_DOMAIN) -> None:
        super().__init__()
        self.api_key = key
        self.domain = domain
        self.sent: list[dict[str, str]] = []

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the send route."""
        return [web.post("/v3/{domain}/messages", self.messages)]

    async def messages(self, request: web.Request) -> web.Response:
        """Queue one message, checking the request as Mailgun does."""
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self.refuse("Forbidden", status=401)
        if request.match_info["domain"] != self.domain:
            return self.refuse(f"Domain not found: {request.match_info['domain']}", status=404)
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return self.refuse(f"not a form: {request.content_type}")
        form = {key: str(value) for key, value in (await request.post()).items()}
        problem = self._problem(form)
        if problem is not None:
            return self.refuse(problem)
        self.sent.append(form)
        sent_id = f"<20261122100500.{len(self.sent)}@{self.domain}>"
        return self.json_response({"id": sent_id, "message": "Queued. Thank you."})

    def _problem(self, form: Mapping[str, str]) -> str | None:
        unknown = [k for k in form if k not in _MAILGUN_FIELDS and not k.startswith("h:")]
        if unknown:
            return f"unexpected fields {unknown}"
        for name in ("from", "to", "subject"):
            if not form.get(name):
                return f"'{name}' parameter is missing"
        if not (form.get("text") or form.get("html")):
            return "Need at least one of 'text', 'html' parameters specified"
        if not _is_address(form["from"], named=True) or not _is_address(form["to"]):
            return f"from / to are not addresses: {form['from']!r} {form['to']!r}"
        return None
