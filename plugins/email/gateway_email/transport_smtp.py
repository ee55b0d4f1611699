"""Replies over SMTP with `aiosmtplib`: STARTTLS, implicit TLS, or plain text to a local relay.

One connection per reply: connect (TLS, then AUTH when `username` is set), `MAIL FROM`, one
`RCPT TO`, `DATA`, `QUIT`. What each failure means for the message:

- before `DATA` (refused connection, TLS or greeting failure, `MAIL` / `RCPT` refused or cut):
  nothing can have been delivered, so 4xx and cuts are `Retry`, 5xx `Rejected`; a refused AUTH
  raises `AuthenticationError`;
- during `DATA`: a 4xx or 5xx answer to the message is `Retry` / `Rejected`, but a cut or a
  timeout leaves the outcome unknown (the relay may have queued it before its answer was lost):
  `settings.unknown_outcome`, parked unless `on_unknown_outcome: resend`.

The provider message id is the reply's own `Message-ID`.
"""

from __future__ import annotations

import ssl

import aiosmtplib

from gateway.errors import AuthenticationError
from gateway.plugin import Delivered, Outcome, Rejected, Retry
from gateway_email.reply import Reply
from gateway_email.send_settings import EmailSendSettings

__all__ = ["send_smtp", "smtp_outcome", "tls_context"]


def smtp_outcome(code: int, text: str) -> Retry | Rejected:
    """Return the outcome of an SMTP reply `code`: 4xx later, anything else never."""
    detail = f"SMTP {code}: {' '.join(text.split())}"[:500]
    return Retry(detail) if 400 <= code < 500 else Rejected(detail)


def tls_context(send: EmailSendSettings) -> ssl.SSLContext | None:
    """Return the TLS context of the relay (certificates verified; `ca_file` trusted), or None
    for `tls: none`. Built once per sender: it reads the trust store."""
    return None if send.tls == "none" else ssl.create_default_context(cafile=send.ca_file)


def _client(send: EmailSendSettings, context: ssl.SSLContext | None) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=send.host,
        port=send.smtp_port,
        username=send.username,
        password=send.password.get_secret_value() if send.password else None,
        use_tls=send.tls == "implicit",
        start_tls=send.tls == "starttls",
        tls_context=context,
        timeout=send.timeout.total_seconds(),
    )


async def send_smtp(
    reply: Reply, send: EmailSendSettings, context: ssl.SSLContext | None
) -> Outcome:
    """Send `reply` through the relay of `send`, over TLS with `context`."""
    smtp = _client(send, context)
    try:
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise AuthenticationError(
                f"the SMTP relay refused AUTH as {send.username}: {exc.code}"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            return Retry(f"the SMTP relay refused the session: {exc.code} {exc.message}"[:500])
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Retry(f"cannot reach the SMTP relay {send.host}: {exc}"[:500])
        try:
            await smtp.mail(send.address)
            await smtp.rcpt(reply.to)
        except aiosmtplib.SMTPResponseException as exc:
            return smtp_outcome(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Retry(f"SMTP session cut before DATA: {exc}"[:500])
        try:
            await smtp.data(reply.data)
        except aiosmtplib.SMTPResponseException as exc:
            return smtp_outcome(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return send.unknown_outcome(
                f"SMTP session cut during DATA ({type(exc).__name__}: {exc}); "
                "the relay may or may not have the message"
            )
        return Delivered(provider_message_id=reply.message_id)
    finally:
        if smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
