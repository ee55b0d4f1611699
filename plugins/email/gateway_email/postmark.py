"""Postmark inbound webhooks: one JSON document per message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import PayloadError
from gateway_email.message import AttachmentInfo, Email, Headers
from gateway_email.sender_auth import postmark_auth

__all__ = ["postmark_email"]

_EXTRAS = {
    "MessageID": "postmark_message_id",
    "MailboxHash": "mailbox_hash",
    "MessageStream": "message_stream",
    "OriginalRecipient": "original_recipient",
    "Tag": "tag",
}
"""Fields kept in `metadata`, and their keys there."""


def _text(document: Mapping[str, Any], name: str) -> str | None:
    """Return string field `name` (None if absent, null or blank), else a 422 naming it."""
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError("expected a string", field=name, status=422)
    return value if value.strip() else None


def _objects(document: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """Return list-of-objects field `name` (empty if absent), else a 422 naming it."""
    value = document.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise PayloadError("expected a list of objects", field=name, status=422)
    return value


def postmark_email(document: Any) -> Email:
    """Return the e-mail of a Postmark inbound webhook body."""
    if not isinstance(document, Mapping):
        raise PayloadError("expected a JSON object: a Postmark inbound message", status=422)
    pairs = []
    for header in _objects(document, "Headers"):
        name, value = _text(header, "Name"), header.get("Value")
        if name is not None and isinstance(value, str):
            pairs.append((name, value))
    date = _text(document, "Date")
    if date is not None:
        pairs.append(("Date", date))
    recipients = [
        address
        for field in ("ToFull", "CcFull")
        for entry in _objects(document, field)
        if (address := _text(entry, "Email"))
    ]
    email = Email(
        headers=Headers(pairs),
        sender=_sender_address(document),
        sender_name=_sender_name(document),
        recipients=[*recipients, *filter(None, (_text(document, "OriginalRecipient"),))],
        to=_text(document, "To"),
        subject=_text(document, "Subject"),
        text=_text(document, "TextBody"),
        stripped_text=_text(document, "StrippedTextReply"),
        html=_text(document, "HtmlBody"),
        attachments=[_attachment(item) for item in _objects(document, "Attachments")],
        provider_id=_text(document, "MessageID"),
    )
    for field, key in _EXTRAS.items():
        value = _text(document, field)
        if value is not None:
            email.metadata[key] = value.strip()
    email.auth = postmark_auth(email.headers)
    return email


def _sender_address(document: Mapping[str, Any]) -> str | None:
    full = document.get("FromFull")
    address = _text(full, "Email") if isinstance(full, Mapping) else None
    return address or _text(document, "From")


def _sender_name(document: Mapping[str, Any]) -> str | None:
    full = document.get("FromFull")
    name = _text(full, "Name") if isinstance(full, Mapping) else None
    return name or _text(document, "FromName")


def _attachment(item: Mapping[str, Any]) -> AttachmentInfo:
    size = item.get("ContentLength")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise PayloadError("expected a non-negative integer", field="ContentLength", status=422)
    return AttachmentInfo(_text(item, "Name"), _text(item, "ContentType"), size)
