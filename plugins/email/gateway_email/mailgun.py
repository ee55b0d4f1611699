"""Mailgun route posts (`forward("https://...")`): parsed fields, or `body-mime` for a URL
ending in `mime`."""

from __future__ import annotations

import re

from gateway.errors import PayloadError
from gateway_email.forms import FormData
from gateway_email.message import AttachmentInfo, Email, Headers, from_mime
from gateway_email.sender_auth import mailgun_auth

__all__ = ["mailgun_email"]

_ATTACHMENT = re.compile(r"attachment-[0-9]{1,4}")
_TOP_LEVEL_HEADERS = ("Message-Id", "In-Reply-To", "References", "Date", "Auto-Submitted")
"""Headers Mailgun also posts as fields of their own, read when `message-headers` is absent."""
_VERDICTS = ("X-Mailgun-Spf", "X-Mailgun-Dkim-Check-Result")
"""Mailgun's SPF and DKIM results: fields of the post, and headers of the message."""


def mailgun_email(form: FormData) -> Email:
    """Return the e-mail of a Mailgun route post."""
    raw = form.raw.get("body-mime")
    if raw:
        email = from_mime(raw[0], source="body-mime")
    else:
        headers = _headers(form)
        email = Email(
            headers=headers,
            sender=form.get("from") or headers.get("From"),
            recipients=[*headers.all("To"), *headers.all("Cc")],
            to=form.get("To") or headers.get("To"),
            subject=form.get("subject") or headers.get("Subject"),
            text=form.get("body-plain"),
            stripped_text=form.get("stripped-text"),
            html=form.get("body-html"),
            attachments=[
                AttachmentInfo(part.filename, part.content_type, len(part.content))
                for name, part in form.files.items()
                if _ATTACHMENT.fullmatch(name)
            ],
        )
    recipient = form.get("recipient")
    if recipient is not None:
        email.recipients.extend(recipient.split(","))
        email.metadata["recipient"] = recipient.strip()
    envelope_from = form.get("sender")
    if envelope_from is not None:
        email.metadata["envelope_from"] = envelope_from.strip()
    spf, dkim = (form.get(name) or email.headers.get(name) for name in _VERDICTS)
    signatures = [*email.headers.all("DKIM-Signature"), *filter(None, [form.get("Dkim-Signature")])]
    email.auth = mailgun_auth(spf, dkim, signatures, envelope_from)
    return email


def _headers(form: FormData) -> Headers:
    listed = form.json("message-headers")
    if listed is None:
        return Headers((name, value) for name in _TOP_LEVEL_HEADERS if (value := form.get(name)))
    if not isinstance(listed, list):
        raise PayloadError("expected a list of [name, value]", field="message-headers", status=422)
    pairs = []
    for item in listed:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            raise PayloadError(
                "expected a list of [name, value]", field="message-headers", status=422
            )
        pairs.append((item[0], item[1]))
    return Headers(pairs)
