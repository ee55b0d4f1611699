"""One inbound e-mail, whichever provider posted it: headers, addresses, bodies, attachments.

Full MIME messages (SendGrid's raw mode, Mailgun's `body-mime`) and header blocks are read with
the standard library's `email` package, policy `default`: encoded words (RFC 2047) and every
part's charset are decoded by it, a charset it does not know falls back to UTF-8 with
replacement characters rather than refusing the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser

from gateway.errors import PayloadError
from gateway_email.forms import PARSE_ERRORS, decode
from gateway_email.sender_auth import SenderAuth

__all__ = [
    "AttachmentInfo",
    "Email",
    "Headers",
    "decoded_header",
    "from_mime",
    "headers_from_block",
]

MAX_MIME_ATTACHMENTS = 1000
"""Most attachment parts read from one MIME message."""


class Headers:
    """A message's header fields in order, looked up case-insensitively."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.pairs = [(name.strip().lower(), value) for name, value in pairs]

    def get(self, name: str) -> str | None:
        """Return the first non-blank value of `name`, or None."""
        wanted = name.lower()
        return next((v for n, v in self.pairs if n == wanted and v.strip()), None)

    def all(self, name: str) -> Iterator[str]:
        """Yield every value of `name`."""
        wanted = name.lower()
        return (value for header, value in self.pairs if header == wanted)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What the canonical interaction keeps of an attachment: never its bytes."""

    filename: str | None
    content_type: str | None
    size: int | None


@dataclass(slots=True, kw_only=True)
class Email:
    """An inbound e-mail as the provider described it, before mapping."""

    headers: Headers
    sender: str | None = None
    """The `From` header as written (`Jane Doe <jane@example.com>`), or the bare address."""
    sender_name: str | None = None
    """The sender's display name, when the provider gives it apart from the address."""
    recipients: list[str] = field(default_factory=list)
    """`To` and `Cc` and the SMTP envelope's recipients: all our addresses for this message."""
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    stripped_text: str | None = None
    """The reply without quoted history or signature, where the provider computes one."""
    html: str | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)
    provider_id: str | None = None
    """The provider's own id of the message, used when it has no `Message-ID`."""
    metadata: dict[str, str] = field(default_factory=dict)
    auth: SenderAuth = field(default_factory=SenderAuth)
    """What the provider's SPF and DKIM checks passed for: whether `sender` is verified."""


def _parse(data: bytes, *, headersonly: bool = False) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data, headersonly=headersonly)
    assert isinstance(message, EmailMessage)
    return message


def _header_pairs(message: EmailMessage) -> list[tuple[str, str]]:
    pairs = []
    for name in message:
        for value in message.get_all(name, ()):
            pairs.append((name, str(value)))
    return list(dict.fromkeys(pairs))


def headers_from_block(block: str) -> Headers:
    """Return the headers of a raw header block (SendGrid's `headers` field)."""
    data = block.replace("\r\n", "\n").strip("\n").encode("utf-8", "surrogateescape")
    try:
        return Headers(_header_pairs(_parse(data + b"\n\n", headersonly=True)))
    except PARSE_ERRORS:
        raise PayloadError(
            "headers are not a readable header block", field="headers", status=422
        ) from None


def from_mime(data: bytes, *, source: str) -> Email:
    """Return the e-mail in the full MIME message `data` (field `source` of the form)."""
    try:
        message = _parse(data)
        headers = Headers(_header_pairs(message))
        email = Email(
            headers=headers,
            sender=headers.get("From"),
            recipients=[*headers.all("To"), *headers.all("Cc")],
            to=headers.get("To"),
            subject=headers.get("Subject"),
            text=_body(message, "plain"),
            html=_body(message, "html"),
            attachments=list(_attachments(message)),
        )
    except PARSE_ERRORS:
        raise PayloadError("not a readable MIME message", field=source, status=422) from None
    if not headers.pairs:
        raise PayloadError("a MIME message needs headers", field=source, status=422)
    return email


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    return _text(part)


def _text(part: MIMEPart) -> str:
    """Return a text part decoded from its charset (UTF-8 with replacements if unknown)."""
    try:
        content = part.get_content()
    except LookupError:
        content = None
    if isinstance(content, str):
        return content
    payload = part.get_payload(decode=True)
    return decode(payload if isinstance(payload, bytes) else b"", part.get_content_charset())


def _attachments(message: MIMEPart) -> Iterator[AttachmentInfo]:
    for count, part in enumerate(message.iter_attachments()):
        if count >= MAX_MIME_ATTACHMENTS:
            return
        payload = part.get_payload(decode=True)
        yield AttachmentInfo(
            part.get_filename(),
            part.get_content_type(),
            len(payload) if isinstance(payload, bytes) else None,
        )


def decoded_header(name: str, value: str | None) -> str | None:
    """Return a header value a provider passed on as written, its encoded words decoded."""
    if value is None or "=?" not in value:
        return value
    try:
        return str(policy.default.header_factory(name, value))
    except PARSE_ERRORS:
        return value
