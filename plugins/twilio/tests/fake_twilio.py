"""A strict fake of Twilio's Messages API (create), on 127.0.0.1, for the sender's tests.

It refuses (and records as a problem) what Twilio would refuse: missing or wrong Basic auth,
another account's path, a `To` that is not E.164, neither or both of `From` and
`MessagingServiceSid`, no `Body`, and (the gateway's own rule) no http(s) `StatusCallback`.
Accepted creates answer 201 with a Message resource whose `sid` is `SM` + 32 hex digits.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.testing import FakeCRM

__all__ = ["ACCOUNT_SID", "FakeTwilio"]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


class FakeTwilio(FakeCRM):
    """Twilio's `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`."""

    def __init__(self, auth_token: str, *, account_sid: str = ACCOUNT_SID) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.created: list[dict[str, str]] = []
        """The form of every message created, in order."""

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the Messages API create route."""
        return [web.post("/2010-04-01/Accounts/{account}/Messages.json", self.create)]

    def error_body(self, status: int, message: str) -> Any:
        """Return Twilio's error document."""
        code = {401: 20003, 429: 20429}.get(status, 20500 if status >= 500 else 21000)
        return {"code": code, "message": message, "more_info": "", "status": status}

    def twilio_error(self, status: int, code: int, message: str) -> web.Response:
        """Answer the way Twilio refuses a create with `code`."""
        body = {"code": code, "message": message, "more_info": "", "status": status}
        return self.json_response(body, status=status)

    async def create(self, request: web.Request) -> web.Response:
        """Create a message, checking the request as Twilio does."""
        if request.headers.get("Authorization") != self._basic():
            return self.refuse("missing or wrong Basic credentials", status=401)
        if request.match_info["account"] != self.account_sid:
            return self.refuse(f"another account: {request.match_info['account']}", status=404)
        if request.content_type != "application/x-www-form-urlencoded":
            return self.refuse(f"not a form: {request.content_type}")
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not _E164.match(form.get("To", "")):
            return self.refuse(f"'To' is not E.164: {form.get('To')!r}")
        if ("From" in form) == ("MessagingServiceSid" in form):
            return self.refuse("exactly one of From and MessagingServiceSid")
        if not form.get("Body"):
            return self.refuse("no Body")
        callback = urlsplit(form.get("StatusCallback", ""))
        if callback.scheme not in ("http", "https") or not callback.hostname:
            return self.refuse(f"no usable StatusCallback: {form.get('StatusCallback')!r}")
        self.created.append(form)
        sid = f"SM{len(self.created):032x}"
        document = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "accepted" if "MessagingServiceSid" in form else "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
        }
        return self.json_response(document, status=201)

    def _basic(self) -> str:
        pair = f"{self.account_sid}:{self.auth_token}".encode()
        return "Basic " + base64.b64encode(pair).decode()
