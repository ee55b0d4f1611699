"""Keep credentials out of failure reasons and log lines: find them, then scrub them from text.

Backends echo remote error bodies into reasons, and some remotes echo the credentials they were
sent ("token pat-123 is expired"). The core scrubs, so no backend has to remember to:
`raise_for_delivery_status` removes the request's own credentials from the excerpt it keeps,
and the delivery engine removes every `SecretStr` of a backend's settings from outcome reasons
and from the records its logger emits.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr
from yarl import URL

__all__ = [
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_QUERY_KEYS",
    "REDACTED",
    "RedactingFilter",
    "Redactor",
    "request_secrets",
    "settings_secrets",
]

REDACTED = "[redacted]"
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-auth-token", "cookie"}
)
"""Request headers whose values are credentials."""
CREDENTIAL_QUERY_KEYS = frozenset(
    {"access_token", "api_key", "apikey", "auth", "key", "token", "hapikey", "password"}
)
"""Query parameters whose values are credentials."""
_MIN_USER = 8
"""Basic-auth user names shorter than this are roles (`api`), not credentials, so stay."""


class Redactor:
    """Replaces each of a set of secret values in a text by `[redacted]`, longest first."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        """Return `text` with every secret replaced."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def settings_secrets(settings: BaseModel) -> set[str]:
    """Return every `SecretStr`/`SecretBytes` value in `settings`, nested models and lists too."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            found.add(value.get_secret_value().decode("utf-8", "replace"))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    walk(settings)
    found.discard("")
    return found


def request_secrets(headers: Mapping[str, str], url: URL | None = None) -> set[str]:
    """Return the credentials a request carried: credential headers (a bearer token, Basic's
    base64 and its decoded user and password) and credential query parameters of `url`."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() not in CREDENTIAL_HEADERS:
            continue
        found.add(value)
        scheme, _, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if not credentials:
            continue
        found.add(credentials)
        if scheme.lower() == "basic":
            found |= _basic_parts(credentials)
    if url is not None:
        found |= {v for k, v in url.query.items() if k.lower() in CREDENTIAL_QUERY_KEYS}
    found.discard("")
    return found


def _basic_parts(credentials: str) -> set[str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return set()
    user, _, password = decoded.partition(":")
    return {decoded, password} | ({user} if len(user) >= _MIN_USER else set())


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from a record's message and exception text."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub `record` in place; never drops it."""
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            clean = self.redact(record.exc_text)
            if clean != record.exc_text:
                # Formatters print `exc_text` when set; none may format the secret again.
                record.exc_text, record.exc_info = clean, None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True
