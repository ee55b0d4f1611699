"""An inbound e-mail as canonical interaction fields: who wrote, what, and in which thread.

- `external_id` is the `Message-ID` (without angle brackets), so a provider's retry of the same
  message is stored once; without one, the provider's id, else a digest of the headers.
- `thread_external_id` is the root of the thread: the first id of `References`, else
  `In-Reply-To`, else the message's own id. A reply joins its thread whatever its subject.
- The sender's address is an `email` identity and its display name the sender's; an address of
  ours (`inbound_addresses`, or a recipient of the message itself) never names a customer. The
  address is verified only when the provider's SPF or DKIM check passed aligned with its domain
  (`sender_auth`); otherwise it is asserted: anyone can write any `From`.
- `content.text` is the reply without quoted history when the provider strips it (Mailgun's
  `stripped-text`, Postmark's `StrippedTextReply`); the full text then goes in `full_text`
  metadata when it fits, and always in `raw` with `include_raw`; `content.html` stays whole.
- Auto-replies and bounces are flagged `automated` in metadata, which the core reads: they
  never count as a repeat contact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any, Final

from gateway.plugin import normalize_email
from gateway.schema import (
    AUTOMATED,
    MAX_ATTACHMENTS,
    MAX_ID,
    MAX_IDENTITIES,
    MAX_METADATA,
    MAX_SHORT,
    MAX_TEXT,
    in_range,
)
from gateway_email.message import Email, Headers

__all__ = ["automated_reason", "email_fields", "message_ids", "thread_root"]

_ID = re.compile(r"<([^<>\s]+)>")
_BULK = frozenset({"bulk", "junk", "list"})
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_AUTOREPLY_HEADERS: Final = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")


def message_ids(value: str | None) -> list[str]:
    """Return the message ids in a `Message-ID`, `In-Reply-To` or `References` value, in order.

    Ids are written `<id>`; a value without brackets is read as whitespace-separated ids.
    """
    if not value or not value.strip():
        return []
    found = _ID.findall(value) or value.split()
    return [_bounded(found_id) for found_id in found]


def _bounded(message_id: str) -> str:
    """Return `message_id`, or a digest of it when longer than the schema's ids."""
    if len(message_id) <= MAX_ID:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def thread_root(headers: Headers, own_id: str) -> str:
    """Return the id of the thread's first message: References[0], In-Reply-To, or `own_id`."""
    for name in ("References", "In-Reply-To"):
        ids = message_ids(headers.get(name))
        if ids:
            return ids[0]
    return own_id


def automated_reason(email: Email, sender_address: str | None) -> str | None:
    """Return why `email` was sent by a machine (an auto-reply, a bounce, a list), or None."""
    headers = email.headers
    auto = headers.get("Auto-Submitted")
    if auto is not None and auto.strip().lower() != "no":
        return f"auto-submitted: {auto.strip().lower()[:64]}"
    precedence = (headers.get("Precedence") or "").strip().lower()
    if precedence in _BULK:
        return f"precedence: {precedence}"
    for name in _AUTOREPLY_HEADERS:
        if headers.get(name) is not None:
            return name.lower()
    if sender_address is not None and _DAEMONS.match(sender_address):
        return "bounce: " + sender_address.partition("@")[0]
    content_type = (headers.get("Content-Type") or "").lower()
    if "multipart/report" in content_type:
        return "bounce: multipart/report"
    return None


def _own_addresses(email: Email, configured: Iterable[str]) -> set[str]:
    own = set(configured)
    for _, address in getaddresses(email.recipients):
        normalized = normalize_email(address) if address else None
        if normalized:
            own.add(normalized)
    return own


def _recipient(email: Email) -> dict[str, Any]:
    identities: dict[str, None] = {}
    names = []
    for name, address in getaddresses([email.to] if email.to else []):
        normalized = normalize_email(address) if address else None
        if normalized and len(identities) < MAX_IDENTITIES:
            identities[normalized] = None
            names.append(name)
    return {
        "display_name": (names[0][:MAX_SHORT] or None) if names else None,
        "identities": [{"kind": "email", "value": value} for value in identities],
    }


def _occurred(headers: Headers, received_at: datetime) -> datetime:
    """Return the `Date` header in UTC, or `received_at` if it is missing or unreadable."""
    value = headers.get("Date")
    if value is None:
        return received_at
    try:
        moment = parsedate_to_datetime(value)
        return in_range(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except (TypeError, ValueError, IndexError, OverflowError):
        return received_at


def _text(email: Email, metadata: dict[str, str], truncated: list[str]) -> str | None:
    stripped = email.stripped_text
    text = email.text
    if stripped and stripped.strip() and stripped.strip() != (text or "").strip():
        metadata["text_stripped"] = "true"
        if text and len(text) <= MAX_SHORT:
            metadata["full_text"] = text
        text = stripped
    if text is not None and len(text) > MAX_TEXT:
        truncated.append("text")
        text = text[:MAX_TEXT]
    return text


def _attachments(email: Email, metadata: dict[str, str]) -> list[dict[str, Any]]:
    if len(email.attachments) > MAX_ATTACHMENTS:
        metadata["attachments_omitted"] = str(len(email.attachments) - MAX_ATTACHMENTS)
    return [
        {
            "filename": info.filename[:MAX_SHORT] if info.filename else None,
            "content_type": info.content_type[:MAX_SHORT] if info.content_type else None,
            "size": info.size,
        }
        for info in email.attachments[:MAX_ATTACHMENTS]
    ]


def _external_id(email: Email) -> str:
    ids = message_ids(email.headers.get("Message-ID"))
    if ids:
        return ids[0]
    if email.provider_id and email.provider_id.strip():
        return _bounded(email.provider_id.strip())
    digest = hashlib.sha256()
    for name, value in email.headers.pairs:
        digest.update(f"{name}:{value}\n".encode("utf-8", "surrogatepass"))
    return "sha256:" + digest.hexdigest()


def email_fields(
    email: Email, inbound_addresses: Iterable[str], received_at: datetime
) -> dict[str, Any]:
    """Return the interaction fields of the inbound `email`."""
    metadata: dict[str, str] = {}
    name, address = parseaddr(email.sender or "")
    name = email.sender_name if email.sender_name is not None else name
    sender = normalize_email(address) if address else None
    identities = []
    if sender is None:
        if email.sender:
            metadata["sender_unusable"] = email.sender.strip()[:MAX_SHORT]
    elif sender in _own_addresses(email, inbound_addresses):
        metadata["sender_is_ours"] = sender
    else:
        identities.append(
            {"kind": "email", "value": sender, "verified": email.auth.verifies(sender)}
        )
    reason = automated_reason(email, sender)
    if reason is not None:
        metadata[AUTOMATED] = reason
    external_id = _external_id(email)
    in_reply_to = message_ids(email.headers.get("In-Reply-To"))
    if in_reply_to:
        metadata["in_reply_to"] = in_reply_to[0]
    truncated: list[str] = []
    text = _text(email, metadata, truncated)
    html = email.html
    if html is not None and len(html) > MAX_TEXT:
        truncated.append("html")
        html = html[:MAX_TEXT]
    if truncated:
        metadata["truncated"] = ",".join(truncated)
    content = {
        "subject": (email.subject or "").strip()[:MAX_SHORT] or None,
        "text": text,
        "html": html,
        "attachments": _attachments(email, metadata),
    }
    for key, value in email.metadata.items():
        if len(metadata) >= MAX_METADATA:
            break
        metadata.setdefault(key, value[:MAX_SHORT])
    return {
        "type": "message",
        "direction": "inbound",
        "external_id": external_id,
        "thread_external_id": thread_root(email.headers, external_id),
        "occurred_at": _occurred(email.headers, received_at),
        "sender": {"display_name": name.strip()[:MAX_SHORT] or None, "identities": identities},
        "recipient": _recipient(email),
        "content": content,
        "metadata": metadata,
    }
