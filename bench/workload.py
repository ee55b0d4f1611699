"""The load: realistic generic-channel messages, pre-signed the Standard Webhooks way.

`write_signed` writes one request per line, `webhook-id TAB webhook-timestamp TAB
webhook-signature TAB body`, for `bench/signed.lua` to replay; `signed` returns them in memory
(for bench/instructions.py's own client). Every request carries its own
`external_id` (a counter that runs across the whole bench, so the gateway's dedupe never
short-circuits a request) and one of 1,000 sender phones, so per-customer delivery ordering sees
1,000 independent queues as a busy contact centre would. Bodies are about 400 bytes, like
`tests/payloads.message()` plus a recipient, a thread and metadata.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

__all__ = ["SENDERS", "Workload", "new_secret", "sender_phone"]

SENDERS = 1000
"""Distinct customers (sender phones) the load cycles through."""

_TEXTS = (
    "Hi, my order #{n} has not arrived yet and the tracking page has not changed since Monday.",
    "Can I change the delivery address for order #{n}? I am moving to a new flat this week.",
    "The parcel for order #{n} arrived damaged; the box was open. What should I do now?",
    "I was charged twice for order #{n}. Please refund the second payment to my card.",
    "Is the blue version of item {n} back in stock? The website says only a few days left.",
    "Thanks for the quick answer yesterday, the replacement for order #{n} works perfectly!",
    "I need an invoice with my company details for order #{n}, can you send it by e-mail?",
    "Please cancel order #{n}, I ordered the wrong size. I have not received it yet.",
)
_NAMES = ("Jane Doe", "Ana Silva", "Wei Zhang", "Omar Haddad", "Marta Kowalska", "Luis Garcia")
COMPANY_PHONE = "+15557654321"


def new_secret() -> tuple[str, bytes]:
    """Return a fresh `whsec_...` secret and its HMAC key."""
    key = secrets.token_bytes(24)
    return "whsec_" + base64.b64encode(key).decode(), key


def sender_phone(customer: int) -> str:
    """Return the E.164 phone of customer number `customer` (0 <= customer < SENDERS)."""
    return f"+1555{customer % SENDERS:07d}"


@dataclass
class Workload:
    """Signs batches of unique requests; `next_id` runs across every batch of one bench run."""

    key: bytes
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    next_id: int = 0
    _templates: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        # One body template per customer, with `%d` for the order number and `%s` for the ids:
        # formatting bytes is several times cheaper than serialising a dict per request.
        for customer in range(SENDERS):
            body = {
                "external_id": "@@EID@@",
                "occurred_at": "@@TS@@",
                "thread_external_id": f"thread-{customer:04d}",
                "sender": {
                    "display_name": _NAMES[customer % len(_NAMES)],
                    "identities": [{"kind": "phone", "value": sender_phone(customer)}],
                },
                "recipient": {"identities": [{"kind": "phone", "value": COMPANY_PHONE}]},
                "content": {"text": _TEXTS[customer % len(_TEXTS)].replace("{n}", "@@N@@")},
                "metadata": {"locale": "en-US"},
            }
            template = orjson.dumps(body).replace(b"%", b"%%")
            for marker, spec in ((b"@@EID@@", b"%s"), (b"@@TS@@", b"%s")):
                template = template.replace(marker, spec)
            self._templates.append(template.replace(b"@@N@@", b"%d"))

    def body(self, n: int, occurred_at: bytes) -> bytes:
        """Return the body of request number `n`."""
        external_id = f"bench-{self.run_id}-{n}".encode()
        return self._templates[n % SENDERS] % (external_id, occurred_at, 100000 + n)

    def signed(self, count: int) -> list[tuple[bytes, bytes, bytes, bytes]]:
        """Return `count` fresh requests signed now: (webhook-id, timestamp, signature, body)."""
        first, self.next_id = self.next_id, self.next_id + count
        now = int(time.time())
        occurred = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        ts = str(now).encode()
        key, run = self.key, self.run_id.encode()
        digest, b64 = hashlib.sha256, base64.b64encode
        requests = []
        for n in range(first, first + count):
            body = self.body(n, occurred)
            msg_id = b"msg_%s_%d" % (run, n)
            mac = hmac.digest(key, b"%s.%s.%s" % (msg_id, ts, body), digest)
            requests.append((msg_id, ts, b"v1," + b64(mac), body))
        return requests

    def write_signed(self, path: Path, count: int) -> None:
        """Write `count` fresh requests signed now, one tab-separated line each."""
        path.write_bytes(b"".join(b"\t".join(r) + b"\n" for r in self.signed(count)))
