"""The `send:` block of the e-mail channels: the address replies come from and how they leave.

One block for the three channel types: `transport` picks SMTP or one provider's send API, and
only that transport's keys may be set (a key of another transport is a configuration error, so
a typo cannot silently send through the wrong path).
"""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.plugin import SenderSettings, normalize_email

__all__ = ["TRANSPORT_KEYS", "EmailSendSettings", "is_loopback"]

Transport = Literal["smtp", "postmark", "sendgrid", "mailgun"]
TRANSPORT_KEYS: dict[str, tuple[str, ...]] = {
    "smtp": ("host", "port", "username", "password", "tls", "ca_file"),
    "postmark": ("server_token", "message_stream"),
    "sendgrid": ("api_key",),
    "mailgun": ("api_key", "domain"),
}
"""The keys each transport takes; set ones of another transport are refused."""
_REQUIRED: dict[str, tuple[str, ...]] = {
    "smtp": ("host",),
    "postmark": ("server_token",),
    "sendgrid": ("api_key",),
    "mailgun": ("api_key", "domain"),
}


def is_loopback(host: str) -> bool:
    """Return True if `host` names this machine (`localhost`, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailSendSettings(SenderSettings):
    """The `send:` block of `sendgrid-inbound`, `mailgun-inbound` and `postmark-inbound`."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", min_length=3, max_length=320)
    """The address replies come from, optionally with a name: `Acme Support
    <support@acme.example>`. Its domain is the domain of every reply's `Message-ID`."""
    transport: Transport
    """How replies leave: `smtp` (any relay), or the `postmark`, `sendgrid` or `mailgun` API."""
    host: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    """smtp: the relay's host name."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """smtp: the relay's port; default 587 for `starttls`, 465 for `implicit`, 25 for `none`."""
    username: str | None = Field(default=None, max_length=320)
    """smtp: the user to AUTH as (after TLS is up); unset: no AUTH."""
    password: SecretStr | None = None
    """smtp: the password of `username`."""
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    """smtp: `starttls` (upgrade required, the relay must offer it), `implicit` (TLS from the
    first byte, port 465) or `none`, which is accepted only for a relay on this machine
    (`localhost`, 127.0.0.1, ::1): a plain-text hop over a network exposes the mail and the
    password."""
    ca_file: Path | None = None
    """smtp: a PEM file of the CA certificates to trust for the relay (a private relay's CA);
    default: the system's trust store. Certificates are always verified."""
    server_token: SecretStr | None = None
    """postmark: the Server API token (`X-Postmark-Server-Token`)."""
    message_stream: str = Field(default="outbound", max_length=100)
    """postmark: the transactional message stream the replies go through."""
    api_key: SecretStr | None = None
    """sendgrid: an API key with Mail Send access (Bearer). mailgun: the API key (HTTP Basic
    `api:KEY`)."""
    domain: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
    """mailgun: the sending domain (`POST /v3/{domain}/messages`)."""

    @field_validator("from_")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if normalize_email(parseaddr(value)[1]) is None or "\n" in value or "\r" in value:
            raise ValueError(
                "from must be an e-mail address, optionally with a name: "
                "'Acme Support <support@acme.example>'"
            )
        return value.strip()

    @model_validator(mode="after")
    def _transport_keys(self) -> Self:
        taken = TRANSPORT_KEYS[self.transport]
        others = {key for keys in TRANSPORT_KEYS.values() for key in keys} - set(taken)
        stray = sorted(key for key in others if key in self.model_fields_set)
        if stray:
            raise ValueError(
                f"{', '.join(stray)}: not a key of transport {self.transport}"
                f" (it takes {', '.join(taken)})"
            )
        missing = [key for key in _REQUIRED[self.transport] if getattr(self, key) is None]
        if missing:
            raise ValueError(f"transport {self.transport} needs {', '.join(missing)}")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.tls == "none" and self.host is not None and not is_loopback(self.host):
            raise ValueError(
                f"tls: none only to a relay on this machine, not {self.host}: "
                "use starttls or implicit"
            )
        return self

    @property
    def address(self) -> str:
        """Return the bare address of `from`."""
        return parseaddr(self.from_)[1]

    @property
    def domain_of_from(self) -> str:
        """Return the domain of `from`, which names the replies' `Message-ID`s."""
        return self.address.rpartition("@")[2]

    @property
    def smtp_port(self) -> int:
        """Return `port`, or the usual port of `tls`."""
        return self.port or {"starttls": 587, "implicit": 465, "none": 25}[self.tls]
