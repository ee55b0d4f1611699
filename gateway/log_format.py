"""The log `gateway serve` writes to stderr: text lines, or one JSON object per line.

`logging: {format: json}` is for log shippers: every record is one line of JSON, its exception
included, with the ids the log call passed in `extra=` (`CONTEXT_FIELDS`). No secret of the
configuration is written in either format: every `SecretStr` of it and the storage URL's password
are scrubbed (`gateway.redaction`) from messages, exceptions and ids, and values of other types
are written as their `str()` (a `SecretStr` reads `**********`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson
from yarl import URL

from gateway.config import GatewayConfig, LoggingSettings
from gateway.redaction import RedactingFilter, Redactor, settings_secrets

__all__ = ["CONTEXT_FIELDS", "TEXT_FORMAT", "JsonFormatter", "config_secrets", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT_FIELDS = ("channel", "interaction_id", "delivery_id", "backend")
"""Attributes a log call may set with `extra=`; the JSON format writes those a record has."""


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON, every configured secret scrubbed."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """Return `record` as a JSON object on one line (newlines inside strings are escaped)."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value if type(value) is int else self._redact(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = self._redact(record.exc_text)
        if record.stack_info:
            line["stack"] = self._redact(self.formatStack(record.stack_info))
        return orjson.dumps(line).decode()


def config_secrets(config: GatewayConfig) -> set[str]:
    """Return every secret `config` holds: its `SecretStr` values and the storage URL's password."""
    found = settings_secrets(config)
    url = URL(config.storage.url)
    found |= {password for password in (url.password, url.raw_password) if password}
    return found


def configure_logging(settings: LoggingSettings, level: str, secrets: Iterable[str]) -> None:
    """Send every record of `level` and above to stderr in `settings.format`, secrets scrubbed."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler()
    if settings.format == "json":
        handler.setFormatter(JsonFormatter(redact))
        logging.captureWarnings(True)  # a warning too is one JSON line, not two lines of text
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        handler.addFilter(RedactingFilter(redact))
    logging.basicConfig(level=level, handlers=[handler])
