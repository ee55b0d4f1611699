"""One e-mail reply, built once with the standard library's `email` package for every transport.

- From is `send.from`, To the customer's e-mail identity the core chose (a verified or
  operator-linked one, DESIGN §4), Subject the request's `content.subject`, with one `Re: `
  where it had several (`Re: Re: Order` → `Re: Order`), else `Re: ` and the answered e-mail's
  subject (`metadata.reply_subject`, from the channel's `reply_metadata`).
- `Message-ID` is `<{interaction id}@{domain of from}>`: the gateway's own, known before the
  send, and the same on every attempt of one reply (a resend under `on_unknown_outcome: resend`
  is the same message to the customer's mail client).
- `In-Reply-To` is the answered e-mail's `Message-ID` (`metadata.reply_to`); `References` is the
  thread's first message (`thread_external_id`) followed by it: the chain shortened to its first
  and last ids, as RFC 5322 §3.6.4 builds it when the middle is not known (mail clients thread
  on either end).
- The text is `content.text`, with `content.html` as the `text/html` alternative. Attachments
  are never fetched: their http(s) URLs are listed at the end of the text (and the html), so the
  gateway never downloads what a request points it at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from urllib.parse import urlsplit

from gateway.plugin import Delivery, Rejected
from gateway_email.send_settings import EmailSendSettings

__all__ = ["REPLY_SUBJECT", "REPLY_TO", "Reply", "build_reply", "message_id", "reply_subject"]

REPLY_TO = "reply_to"
"""Outbound metadata naming the `Message-ID` (without `<>`) of the e-mail a reply answers."""
REPLY_SUBJECT = "reply_subject"
"""Outbound metadata: the subject of the e-mail a reply answers (`reply_metadata`)."""
_RE = re.compile(r"^(\s*(re|aw|sv|antw)\s*:\s*)+", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply ready for any transport: the MIME message and the parts the APIs take apart."""

    message: EmailMessage
    data: bytes
    """The message as the SMTP transport sends it (CRLF line ends, 7-bit headers)."""
    message_id: str
    """The `Message-ID` without `<>`: the provider message id of an SMTP (or SendGrid) send."""
    to: str
    """The customer's address, its domain in ASCII (IDNA)."""
    subject: str
    text: str
    html: str | None
    threading: dict[str, str]
    """`In-Reply-To` and `References`, when the reply answers an e-mail."""


def reply_subject(subject: str) -> str:
    """Return `subject` with at most one leading `Re: ` (`Re: Re: x` and `RE:AW: x` → `Re: x`)."""
    stripped = _RE.sub("", subject).strip()
    return f"Re: {stripped}" if _RE.match(subject) else stripped


def message_id(value: str | None) -> str | None:
    """Return `value` if it is a message id (`left@right`, no `<>`), else None."""
    if value and _MESSAGE_ID.match(value):
        return value
    return None


def _attachment_lines(delivery: Delivery) -> list[tuple[str, str]] | Rejected:
    content = delivery.interaction.content
    links = []
    for attachment in content.attachments if content else []:
        url = attachment.url or ""
        if urlsplit(url).scheme not in ("http", "https"):
            return Rejected(f"an attachment needs an http(s) url to link to, not {url[:80]!r}")
        links.append((attachment.filename or url.rsplit("/", 1)[-1] or url, url))
    return links


def build_reply(delivery: Delivery, send: EmailSendSettings, now: datetime) -> Reply | Rejected:
    """Return the reply of `delivery`, or why it cannot be sent."""
    interaction = delivery.interaction
    content = interaction.content
    text = content.text if content else None
    if not text:
        return Rejected("an e-mail reply needs content.text")
    subject = _subject(content.subject if content else None, interaction.metadata)
    if content is None or subject is None:
        return Rejected(
            "an e-mail reply needs a subject: content.subject, or an answered e-mail with one"
        )
    emails = [i.value for i in interaction.recipient.identities if i.kind == "email"]
    if not emails:
        return Rejected("the recipient has no e-mail address")
    links = _attachment_lines(delivery)
    if isinstance(links, Rejected):
        return links
    text, html = _with_links(text, content.html, links)
    own_id = f"{interaction.id}@{send.domain_of_from}"
    threading = _threading(delivery)
    try:
        to = _ascii_domain(emails[0])
        message = EmailMessage(policy=policy.SMTP)
        message["From"] = send.from_
        message["To"] = Address(addr_spec=to)
        message["Subject"] = subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = f"<{own_id}>"
        for name, value in threading.items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        data = message.as_bytes()
    except (ValueError, TypeError) as exc:  # a CR/LF in the subject, a non-ASCII local part
        return Rejected(f"the reply cannot be written as an e-mail: {exc}"[:500])
    subject = str(message["Subject"])
    return Reply(message, data, own_id, to, subject, text, html, threading)


def _subject(own: str | None, metadata: dict[str, str]) -> str | None:
    """Return the request's subject (one `Re:` at most), else `Re:` and the answered one's."""
    if own and own.strip():
        return reply_subject(own)
    answered = metadata.get(REPLY_SUBJECT, "").strip()
    return reply_subject(f"Re: {answered}") if answered else None


def _ascii_domain(address: str) -> str:
    """Return `address` with its domain in IDNA (`ana@exämple.com` → `ana@xn--exmple-cua.com`)."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _with_links(
    text: str, html: str | None, links: list[tuple[str, str]]
) -> tuple[str, str | None]:
    """Return `text` and `html` with the attachments' links listed at their end."""
    if not links:
        return text, html
    text += "\n\nAttachments:\n" + "".join(f"- {name}: {url}\n" for name, url in links)
    if html is not None:
        items = "".join(
            f'<li><a href="{escape(url)}">{escape(name)}</a></li>' for name, url in links
        )
        html += f"<p>Attachments:</p><ul>{items}</ul>"
    return text, html


def _threading(delivery: Delivery) -> dict[str, str]:
    interaction = delivery.interaction
    parent = message_id(interaction.metadata.get(REPLY_TO))
    if parent is None:
        return {}
    chain = dict.fromkeys(i for i in (message_id(interaction.thread_external_id), parent) if i)
    return {"In-Reply-To": f"<{parent}>", "References": " ".join(f"<{i}>" for i in chain)}
