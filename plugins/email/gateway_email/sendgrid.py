"""SendGrid Inbound Parse posts: the parsed fields, or the raw MIME message in `email`."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import PayloadError
from gateway_email.forms import FormData
from gateway_email.message import (
    AttachmentInfo,
    Email,
    decoded_header,
    from_mime,
    headers_from_block,
)
from gateway_email.sender_auth import sendgrid_auth

__all__ = ["sendgrid_email"]

_EXTRAS = {
    "spam_score": "spam_score",
    "SPF": "spf",
    "dkim": "dkim",
    "sender_ip": "sender_ip",
}
"""Form fields kept in `metadata`, and their keys there."""


def sendgrid_email(form: FormData) -> Email:
    """Return the e-mail of a parsed or raw-mode Inbound Parse post."""
    charsets = form.json("charsets")
    if isinstance(charsets, Mapping):
        form.charsets.update({k: v for k, v in charsets.items() if isinstance(v, str)})
    raw = form.raw.get("email")
    email = from_mime(raw[0], source="email") if raw else _parsed(form)
    envelope = form.json("envelope")
    if isinstance(envelope, Mapping):
        recipients = envelope.get("to")
        if isinstance(recipients, list):
            email.recipients.extend(r for r in recipients if isinstance(r, str))
        if isinstance(envelope.get("from"), str):
            email.metadata["envelope_from"] = envelope["from"]
    for field, key in _EXTRAS.items():
        value = form.get(field)
        if value is not None:
            email.metadata[key] = value.strip()
    email.auth = sendgrid_auth(
        form.get("SPF"), form.get("dkim"), email.metadata.get("envelope_from")
    )
    return email


def _parsed(form: FormData) -> Email:
    block = form.get("headers")
    if block is None:
        raise PayloadError("required field is missing or blank", field="headers", status=422)
    headers = headers_from_block(block)
    to, cc = decoded_header("to", form.get("to")), decoded_header("cc", form.get("cc"))
    return Email(
        headers=headers,
        sender=decoded_header("from", form.get("from")) or headers.get("From"),
        recipients=[address for address in (to, cc) if address],
        to=to or headers.get("To"),
        subject=decoded_header("subject", form.get("subject")) or headers.get("Subject"),
        text=form.get("text"),
        html=form.get("html"),
        attachments=_attachments(form),
    )


def _attachments(form: FormData) -> list[AttachmentInfo]:
    """Return `attachment1..N` with the names and types `attachment-info` gives them."""
    info = form.json("attachment-info")
    described = info if isinstance(info, Mapping) else {}
    found = []
    for name, part in form.files.items():
        if not name.startswith("attachment"):
            continue
        entry = described.get(name)
        details = entry if isinstance(entry, Mapping) else {}
        filename = details.get("filename") or details.get("name") or part.filename
        content_type = details.get("type") or part.content_type
        found.append(
            AttachmentInfo(
                filename if isinstance(filename, str) else part.filename,
                content_type if isinstance(content_type, str) else part.content_type,
                len(part.content),
            )
        )
    return found
