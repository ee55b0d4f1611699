"""One customer's journey across five channels, as the providers post it (via gateway.testing).

For a backend's end-to-end tests through a running gateway (`GatewayProcess`): an SMS, a phone
call (two status callbacks of one call), a WhatsApp message, a web-chat message carrying the
phone and an e-mail address, and an e-mail, all from one person, each signed the provider's way
(Twilio's HMAC-SHA1 of the URL and sorted parameters, Meta's `X-Hub-Signature-256`, Standard
Webhooks, Postmark's Basic credentials). The signatures are computed here with `hmac`; the channel
types are the `gateway-twilio`, `gateway-meta` and `gateway-email` plugins', which must be
installed (`pytest.importorskip` each of `Journey.PLUGINS`)::

    journey = Journey()
    gateway = GatewayProcess.configure(tmp_path, {"channels": journey.channels(), "backends": ...})
    gateway.start()
    await journey.post_all(gateway)  # or: post_all_with_sigkill(gateway, lambda: crm.records)
    await journey.delivered(gateway)  # every delivery of the journey done (or AssertionError)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson

from gateway.process import GatewayProcess

__all__ = ["Journey", "Webhook"]

Webhook = Callable[[GatewayProcess], tuple[int, Any]]
"""Posts one signed provider webhook to a running gateway; returns the status and the answer."""

_ACCOUNT = "AC3e8f4a2b9c1d7e6f5a4b3c2d1e0f9a8b"
_WHATSAPP_NUMBER_ID = "106540352242922"
_WHATSAPP_ACCOUNT = "102290129340398"


@dataclass(frozen=True, slots=True)
class Journey:
    """One person (`phone`, `email`, `name`) reaching the company (`ours`) on five channels."""

    PLUGINS: ClassVar[tuple[str, ...]] = ("gateway_twilio", "gateway_meta", "gateway_email")
    """The plugin modules whose channel types the journey posts to."""
    RECORDS: ClassVar[int] = 5
    """Distinct interactions a CRM should hold: SMS, call, WhatsApp, web chat, e-mail."""

    phone: str = "+15551234567"
    email: str = "jane.doe@example.com"
    name: str = "Jane Doe"
    ours: str = "+15557654321"
    support_address: str = "support@shop.example"
    twilio_token: str = "twilio-auth-token-for-tests-0001"
    meta_secret: str = "meta-app-secret-for-tests-0001"
    web_secret: str = "whsec_dGhlLWh1YnNwb3QtZTJlLXdlYi1jaGFubmVsLXNlY3JldA=="
    mail_user: str = "postmark"
    mail_password: str = "inbound-password-0001"

    def channels(self) -> dict[str, dict[str, Any]]:
        """Return the `channels` block the journey posts to: `sms`, `voice`, `wa`, `web`, `mail`."""
        return {
            "sms": {"type": "twilio-sms", "auth_token": self.twilio_token},
            "voice": {"type": "twilio-voice", "auth_token": self.twilio_token},
            "wa": {"type": "whatsapp-cloud", "app_secret": self.meta_secret, "verify_token": "v"},
            "web": {"type": "generic", "kind": "webchat", "secret": self.web_secret},
            "mail": {
                "type": "postmark-inbound",
                "basic_auth": {"username": self.mail_user, "password": self.mail_password},
                "inbound_addresses": [self.support_address],
            },
        }

    def webhooks(self) -> list[Webhook]:
        """Return the journey's six webhooks in order; the call's two events are one call."""
        return [
            self.sms,
            partial(self.call, "ringing"),
            self.whatsapp,
            partial(
                self.call,
                "completed",
                CallDuration="63",
                RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
            ),
            self.web_chat,
            self.e_mail,
        ]

    async def post_all(
        self, gateway: GatewayProcess, webhooks: Sequence[Webhook] | None = None
    ) -> None:
        """Post `webhooks` (default: all of them) in order; each must be acknowledged 200."""
        for webhook in self.webhooks() if webhooks is None else webhooks:
            status, answer = await asyncio.to_thread(webhook, gateway)
            assert status == 200, (webhook, status, answer)

    async def post_all_with_sigkill(
        self, gateway: GatewayProcess, writing: Callable[[], object], within_s: float = 15.0
    ) -> None:
        """Post the first three webhooks, SIGKILL the gateway as soon as `writing()` is true
        (the CRM holds the first record: the backend is mid-delivery), start it again on the
        same database and post the other three."""
        webhooks = self.webhooks()
        await self.post_all(gateway, webhooks[:3])
        deadline = time.monotonic() + within_s
        while not writing():
            assert time.monotonic() < deadline, f"nothing written in {within_s:g}s\n{gateway.log()}"
            await asyncio.sleep(0.02)
        assert await asyncio.to_thread(gateway.stop, signal.SIGKILL) == -signal.SIGKILL
        await asyncio.to_thread(gateway.start)
        await self.post_all(gateway, webhooks[3:])

    async def delivered(
        self, gateway: GatewayProcess, backend: str | None = None, within_s: float = 25.0
    ) -> None:
        """Wait until `backend` (default: the only one) has delivered all six interactions."""
        deadline = time.monotonic() + within_s
        answer: Any = None
        while time.monotonic() < deadline:
            _, answer = await asyncio.to_thread(gateway.get, gateway.admin_port, "/admin/backends")
            backends = answer["backends"]
            [state] = [b for b in backends if backend is None or b["name"] == backend]
            counts = {k: n for k, n in state["deliveries"].items() if n}
            if counts == {"delivered": len(self.webhooks())}:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"not delivered in {within_s:g}s: {answer}\n{gateway.log()}")

    def sms(self, gateway: GatewayProcess) -> tuple[int, Any]:
        """Post an inbound SMS as Twilio does."""
        return self._twilio(
            gateway,
            "sms",
            {"MessageSid": "SM" + "1" * 32, "AccountSid": _ACCOUNT, "From": self.phone,
             "To": self.ours, "Body": "My order 1042 has not arrived", "NumMedia": "0",
             "ApiVersion": "2010-04-01"},
        )  # fmt: skip

    def call(self, status: str, gateway: GatewayProcess, **extra: str) -> tuple[int, Any]:
        """Post a Twilio Voice status callback of the journey's one call."""
        params = {"CallSid": "CA" + "4" * 32, "AccountSid": _ACCOUNT, "From": self.phone,
                  "To": self.ours, "CallStatus": status, "Direction": "inbound"}  # fmt: skip
        return self._twilio(gateway, "voice", params | extra)

    def whatsapp(self, gateway: GatewayProcess) -> tuple[int, Any]:
        """Post a WhatsApp Cloud API text message, signed like Meta (`X-Hub-Signature-256`)."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.ours[1:],
                "phone_number_id": _WHATSAPP_NUMBER_ID,
            },
            "contacts": [{"profile": {"name": self.name}, "wa_id": self.phone[1:]}],
            "messages": [
                {"from": self.phone[1:], "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUFCQ0RFRg==",
                 "timestamp": str(int(time.time())), "type": "text", "text": {"body": "Hello?"}}
            ],
        }  # fmt: skip
        change = {"field": "messages", "value": value}
        body = orjson.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": _WHATSAPP_ACCOUNT, "changes": [change]}],
            }
        )
        digest = hmac.new(self.meta_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
        return gateway.post("wa", body, headers)

    def web_chat(self, gateway: GatewayProcess) -> tuple[int, Any]:
        """Post a web-chat message carrying the phone and the e-mail, Standard Webhooks signed."""
        identities = [
            {"kind": "phone", "value": self.phone},
            {"kind": "email", "value": self.email},
        ]
        message = {
            "external_id": "chat-7",
            "type": "message",
            "direction": "inbound",
            "sender": {"display_name": self.name, "identities": identities},
            "content": {"text": "I'm the one who texted; here is my e-mail too."},
        }
        return gateway.post_signed("web", message, self.web_secret)

    def e_mail(self, gateway: GatewayProcess) -> tuple[int, Any]:
        """Post a Postmark inbound e-mail with the Basic credentials Postmark sends."""
        support = {"Email": self.support_address, "Name": "", "MailboxHash": ""}
        document = {
            "From": self.email,
            "FromName": self.name,
            "FromFull": {"Email": self.email, "Name": self.name, "MailboxHash": ""},
            "To": self.support_address,
            "ToFull": [support],
            "Subject": "Order 1042",
            "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
            "Date": formatdate(usegmt=True),  # now: the journey is one conversation
            "TextBody": "Third time asking: where is order 1042?",
            "HtmlBody": "<p>Third time asking: where is order 1042?</p>",
            "Headers": [
                {"Name": "Message-ID", "Value": "<CAF8ZkQ9=e2e@mail.example.com>"},
                {"Name": "Received-SPF", "Value": "pass (example.com: designates 192.0.2.1)"},
            ],
        }
        credentials = f"{self.mail_user}:{self.mail_password}".encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Basic {base64.b64encode(credentials).decode()}",
        }
        return gateway.post("mail", orjson.dumps(document), headers)

    def _twilio(
        self, gateway: GatewayProcess, channel: str, params: dict[str, str]
    ) -> tuple[int, Any]:
        """POST form params signed like Twilio: HMAC-SHA1 over the URL and the sorted params."""
        url = f"{gateway.url}/webhooks/{channel}"
        signed = url + "".join(key + params[key] for key in sorted(params))
        signature = hmac.digest(self.twilio_token.encode(), signed.encode(), hashlib.sha1)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": base64.b64encode(signature).decode(),
        }
        return gateway.post(channel, urlencode(params).encode(), headers)
