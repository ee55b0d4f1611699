"""A strict fake of Twilio's Messages API (create), on 127.0.0.1, for the senders' tests.

It refuses (and records as a problem) what Twilio would refuse: missing or wrong Basic auth,
another account's path, a `To` that is not E.164 (or `whatsapp:` + E.164), a `To` and a `From`
not both `whatsapp:` + E.164 or neither, neither or both of `From` and `MessagingServiceSid`,
none of `Body`, `MediaUrl` and `ContentSid`, a `ContentSid` that is not `HX` + 32 hex digits or
comes with `Body` or `MediaUrl`, `ContentVariables` without a `ContentSid` or that is no JSON
object of strings, more than 10 `MediaUrl`s (more than one on WhatsApp, which Twilio would
drop silently) or one that is no absolute http(s) URL, and (the gateway's own rule) no http(s)
`StatusCallback`. Accepted creates answer 201 with a Message resource whose `sid` is `SM` + 32
hex digits.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from multidict import MultiDictProxy

from gateway.testing import FakeCRM

__all__ = ["ACCOUNT_SID", "CONTENT_SID", "FakeTwilio"]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
CONTENT_SID = "HX" + "b5c2f8a1d4e7" * 2 + "0a1b2c3d"
"""A Content template's SID, as the Content Template Builder shows it."""
_E164 = r"\+[1-9][0-9]{1,14}"
_ADDRESS = re.compile(rf"^(whatsapp:)?{_E164}$")
_WHATSAPP = re.compile(rf"^whatsapp:{_E164}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_MAX_MEDIA = 10


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class FakeTwilio(FakeCRM):
    """Twilio's `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`."""

    def __init__(self, auth_token: str, *, account_sid: str = ACCOUNT_SID) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.created: list[dict[str, Any]] = []
        """The form of every message created, in order: a string per field, `MediaUrl` a list."""

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
        posted = await request.post()
        problem = self._problem(posted)
        if problem is not None:
            return self.refuse(problem)
        form: dict[str, Any] = {k: str(v) for k, v in posted.items() if k != "MediaUrl"}
        if "MediaUrl" in posted:
            form["MediaUrl"] = [str(url) for url in posted.getall("MediaUrl")]
        self.created.append(form)
        sid = f"SM{len(self.created):032x}"
        document = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "accepted" if "MessagingServiceSid" in form else "queued",
            "num_segments": "1",
            "num_media": str(len(form.get("MediaUrl", []))),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
        }
        return self.json_response(document, status=201)

    def _problem(self, posted: MultiDictProxy[Any]) -> str | None:
        """Return why Twilio would refuse the create `posted`, or None."""
        if any(not isinstance(value, str) for value in posted.values()):
            return "a form field that is not text"
        if any(len(posted.getall(k)) > 1 for k in posted if k != "MediaUrl"):
            return "a field other than MediaUrl given twice"
        to, sender = posted.get("To", ""), posted.get("From")
        if not _ADDRESS.match(to):
            return f"'To' is neither E.164 nor whatsapp:E.164: {to!r}"
        if (sender is None) == ("MessagingServiceSid" not in posted):
            return "exactly one of From and MessagingServiceSid"
        whatsapp = to.startswith("whatsapp:")
        if sender is not None and bool(_WHATSAPP.match(sender)) != whatsapp:
            return f"'To' {to!r} and 'From' {sender!r} are not on the same channel"
        media = posted.getall("MediaUrl", [])
        if not (posted.get("Body") or media or posted.get("ContentSid")):
            return "none of Body, MediaUrl and ContentSid (21619)"
        if len(media) > (1 if whatsapp else _MAX_MEDIA):
            return f"{len(media)} MediaUrls on {'WhatsApp' if whatsapp else 'MMS'}"
        if not all(_http_url(url) for url in media):
            return f"a MediaUrl that is no absolute http(s) URL: {media}"
        problem = self._template_problem(posted)
        if problem is not None:
            return problem
        if not _http_url(posted.get("StatusCallback", "")):
            return f"no usable StatusCallback: {posted.get('StatusCallback')!r}"
        return None

    @staticmethod
    def _template_problem(posted: MultiDictProxy[Any]) -> str | None:
        """Return why Twilio would refuse the request's `ContentSid` / `ContentVariables`."""
        sid, variables = posted.get("ContentSid"), posted.get("ContentVariables")
        if sid is None:
            return None if variables is None else "ContentVariables without ContentSid (21654)"
        if not _CONTENT_SID.match(sid):
            return f"ContentSid is not HX + 32 hex digits (21655): {sid!r}"
        if "Body" in posted or "MediaUrl" in posted:
            return "a ContentSid with Body or MediaUrl: drop them with a template (63016)"
        if variables is None:
            return None
        try:
            decoded = orjson.loads(variables)
        except orjson.JSONDecodeError:
            return f"ContentVariables is not JSON (21656): {variables!r}"
        if not isinstance(decoded, dict) or not all(
            isinstance(v, str) and k.isdigit() for k, v in decoded.items()
        ):
            return f"ContentVariables is not an object of numbered strings (21656): {variables!r}"
        return None

    def _basic(self) -> str:
        pair = f"{self.account_sid}:{self.auth_token}".encode()
        return "Basic " + base64.b64encode(pair).decode()
