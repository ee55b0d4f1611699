"""A strict SMTP relay on 127.0.0.1 (`aiosmtpd`, real TCP), for the SMTP transport's tests.

TLS is real: a throwaway CA (`trustme`) issues the relay's certificate for 127.0.0.1, and the
client trusts it through `ca_file`. With `tls="starttls"` the relay refuses every command but
EHLO / STARTTLS / QUIT before the upgrade; with `tls="implicit"` it speaks TLS from the first
byte; AUTH (PLAIN) is required and checked whenever `username` is set. It records the
exact bytes of every message and notes as a problem (the test fails at `assert_ok()`) a message
whose envelope and headers disagree or that lacks the headers a reply must have.
Faults: `answer_next(command, code)` answers the next RCPT or DATA with `code`; `hang_data()`
never answers the next DATA (the client times out after writing the message).
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["FakeSMTP", "Received"]

REQUIRED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")


@dataclass(frozen=True, slots=True)
class Received:
    """One message the relay accepted: its envelope and its exact bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    authenticated: bool

    def parsed(self) -> EmailMessage:
        """Return the message parsed the way a mail client reads it."""
        message = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class _Handler:
    relay: FakeSMTP
    faults: dict[str, list[str]] = field(default_factory=dict)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if fault := self._fault("RCPT"):
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.relay.data_commands += 1
        if self.relay.hanging:
            self.relay.hanging = False
            await self.relay.released.wait()
            return "451 released"
        if fault := self._fault("DATA"):
            return fault
        content = envelope.original_content or b""
        received = Received(
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            content,
            tls=session.ssl is not None or self.relay.tls == "implicit",
            authenticated=bool(session.authenticated),
        )
        self.relay.check(received)
        self.relay.received.append(received)
        return "250 2.0.0 Ok: queued"

    def _fault(self, command: str) -> str | None:
        waiting = self.faults.get(command)
        return waiting.pop(0) if waiting else None


class FakeSMTP:
    """An SMTP relay on 127.0.0.1 with a throwaway CA; use `async with`."""

    def __init__(
        self,
        directory: Path,
        *,
        tls: Literal["starttls", "implicit", "none"] = "starttls",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.tls = tls
        self.username = username
        self.password = password
        self.ca = trustme.CA()
        self.ca_file = directory / "relay-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.port = 0
        self.received: list[Received] = []
        self.problems: list[str] = []
        self.auth_attempts = 0
        self.data_commands = 0
        self.hanging = False
        self.released = asyncio.Event()
        self._handler = _Handler(self)
        self._server: asyncio.Server | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        return context

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.auth_attempts += 1
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            (self.username or "").encode(),
            (self.password or "").encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    def _protocol(self, context: ssl.SSLContext | None) -> SMTP:
        with warnings.catch_warnings():  # AUTH without STARTTLS: the socket itself is TLS
            warnings.simplefilter("ignore", UserWarning)
            return self._smtp(context)

    def _smtp(self, context: ssl.SSLContext | None) -> SMTP:
        return SMTP(
            self._handler,
            hostname="relay.test",
            tls_context=context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            auth_required=self.username is not None,
            auth_require_tls=self.tls == "starttls",
            authenticator=self._authenticate if self.username is not None else None,
            auth_exclude_mechanism=["LOGIN"],  # aiosmtpd's LOGIN takes no initial response
            loop=asyncio.get_running_loop(),
        )

    async def __aenter__(self) -> Self:
        context = self._context() if self.tls != "none" else None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(context),
            "127.0.0.1",
            0,
            ssl=context if self.tls == "implicit" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.released.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def answer_next(self, command: Literal["RCPT", "DATA"], reply: str) -> None:
        """Answer the next `command` with `reply` (e.g. `451 4.7.1 Try again later`)."""
        self._handler.faults.setdefault(command, []).append(reply)

    def hang_data(self) -> None:
        """Take the next message and never answer it (until the relay stops)."""
        self.hanging = True

    def check(self, received: Received) -> None:
        """Note a problem for each way `received` is not a well-formed reply."""
        message = received.parsed()
        for name in REQUIRED_HEADERS:
            if message[name] is None:
                self.problems.append(f"no {name} header")
        if parseaddr(str(message["From"]))[1] != received.mail_from:
            self.problems.append(f"MAIL FROM {received.mail_from} is not From {message['From']}")
        if [parseaddr(str(message["To"]))[1]] != received.rcpt_tos:
            self.problems.append(f"RCPT TO {received.rcpt_tos} is not To {message['To']}")
        if self.tls != "none" and not received.tls:
            self.problems.append("a message over a connection without TLS")
        if self.username is not None and not received.authenticated:
            self.problems.append("a message without AUTH")

    def assert_ok(self) -> None:
        """Raise `AssertionError` naming every problem noted so far."""
        assert not self.problems, f"the SMTP relay saw problems: {self.problems}"
