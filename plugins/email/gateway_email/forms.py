"""Form bodies as e-mail providers post them: URL-encoded, or `multipart/form-data` read with
the standard library's `email` parser (the parts of a form are MIME parts)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import cast
from urllib.parse import parse_qsl

import orjson

from gateway.errors import PayloadError
from gateway.plugin import WebhookRequest

__all__ = ["FORM", "JSON", "MULTIPART", "FilePart", "FormData", "decode", "digest", "read_form"]

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
MAX_PARTS = 1000
"""Most parts one form may have (a message with many attachments has a few dozen)."""
PARSE_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError, AssertionError)
"""What the standard library's `email` package raises on some malformed input."""


@dataclass(frozen=True, slots=True)
class FilePart:
    """An uploaded file of a form: an attachment."""

    filename: str | None
    content_type: str
    content: bytes


@dataclass(slots=True)
class FormData:
    """Every field of a form (repeated names kept, as bytes until decoded) and its files."""

    raw: dict[str, list[bytes]] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)
    charsets: dict[str, str] = field(default_factory=dict)
    """The charset of each field, when the provider names one (SendGrid's `charsets`)."""

    def get(self, name: str) -> str | None:
        """Return the first value of `name` decoded, or None if absent or blank."""
        values = self.raw.get(name)
        if not values:
            return None
        text = decode(values[0], self.charsets.get(name))
        return text if text.strip() else None

    def json(self, name: str) -> object:
        """Return field `name` decoded as JSON (None if absent), or raise a 422 naming it."""
        text = self.get(name)
        if text is None:
            return None
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise PayloadError("expected JSON", field=name, status=422) from None

    def fields(self) -> dict[str, str]:
        """Return every field's first value, decoded (for `raw`)."""
        return {
            name: decode(values[0], self.charsets.get(name)) for name, values in self.raw.items()
        }


def decode(data: bytes, charset: str | None) -> str:
    """Return `data` decoded from `charset` (UTF-8 when unnamed or unknown), never raising."""
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def read_form(req: WebhookRequest) -> FormData:
    """Return the fields and files of a URL-encoded or multipart body."""
    if req.content_type == MULTIPART:
        return _multipart(req.headers.get("Content-Type", ""), req.body)
    form = FormData()
    if req.content_type == FORM:
        # Read from the bytes, not `req.form`: a field's bytes may be in any charset, and
        # Latin-1 maps every byte to one character and back.
        text = req.body.decode("latin-1")
        try:
            pairs = parse_qsl(
                text, keep_blank_values=True, encoding="latin-1", max_num_fields=MAX_PARTS
            )
        except ValueError:
            raise PayloadError(f"form has over {MAX_PARTS} fields") from None
        for name, value in pairs:
            key = name.encode("latin-1").decode("utf-8", "replace")
            form.raw.setdefault(key, []).append(value.encode("latin-1"))
    return form


def _multipart(content_type: str, body: bytes) -> FormData:
    head = b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode("utf-8", "surrogateescape")
    try:
        message = BytesParser(policy=policy.default).parsebytes(head + b"\r\n\r\n" + body)
        if not message.is_multipart() or not message.get_boundary():
            raise PayloadError("expected a multipart/form-data body with a boundary")
        parts = cast("list[EmailMessage]", message.get_payload())
        if len(parts) > MAX_PARTS:
            raise PayloadError(f"form has over {MAX_PARTS} parts")
        form = FormData()
        for part in parts:
            _add_part(form, part)
    except PARSE_ERRORS:
        raise PayloadError("malformed multipart/form-data body") from None
    return form


def _add_part(form: FormData, part: EmailMessage) -> None:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str) or part.is_multipart():
        return
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes):
        return
    filename = part.get_filename()
    if filename is not None:
        form.files[name] = FilePart(filename or None, part.get_content_type(), content)
    else:
        form.raw.setdefault(name, []).append(content)
        charset = part.get_content_charset()
        if charset:
            form.charsets.setdefault(name, charset)


def digest(form: FormData) -> bytes:
    """Return a SHA-256 of every field and file of `form`, whatever its encoding on the wire."""
    hashed = hashlib.sha256()
    for name in sorted(form.raw):
        for value in form.raw[name]:
            hashed.update(
                b"F%d:%s=%d:%s"
                % (len(name), name.encode("utf-8", "surrogatepass"), len(value), value)
            )
    for name in sorted(form.files):
        content = form.files[name].content
        hashed.update(
            b"A%d:%s=%d:%s"
            % (len(name), name.encode("utf-8", "surrogatepass"), len(content), content)
        )
    return hashed.digest()
