"""Whether the inbound provider authenticated an e-mail's sender (identity trust).

A `From` address is verified when SPF or DKIM passed for a domain **aligned** with the `From`
domain, as the provider that received the message reports it; otherwise it is asserted (anyone
can write any `From`). Aligned, kept simple: the checked domain (the SPF-checked envelope
sender's, a DKIM signature's `d=`) equals the `From` domain or one is a subdomain of the other
(`mail.example.com` and `example.com`); sibling subdomains do not align, and a bare top-level
domain aligns with nothing. What each provider reports:

- SendGrid Inbound Parse: the `SPF` field (`pass`, ...) for the envelope sender (`envelope.from`)
  and the `dkim` field, one `@domain : result` per signature (`{@example.com : pass}`).
- Mailgun: `X-Mailgun-Spf` (`Pass`, ...) for the envelope sender (`sender`), and
  `X-Mailgun-Dkim-Check-Result` (`Pass`/`Fail`), which names no domain: it counts only when
  every `DKIM-Signature` of the message has the same `d=`, so the one that passed is known.
- Postmark: the topmost `Received-SPF` header (Postmark's own; `envelope-from=`, else the
  address in its comment) and the topmost `Authentication-Results` header's passing `spf`
  (`smtp.mailfrom=`) and `dkim` results (`header.d=`, else `header.i=`). Lower ones were
  written by earlier hops, or by the sender.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING

from gateway.plugin import normalize_email

if TYPE_CHECKING:
    from gateway_email.message import Headers

__all__ = [
    "SenderAuth",
    "aligned",
    "mailgun_auth",
    "postmark_auth",
    "sendgrid_auth",
]

_SENDGRID_DKIM = re.compile(r"@?([^\s@{},:]+)\s*:\s*([a-z]+)", re.IGNORECASE)
_TAG = re.compile(r"(?:^|;)\s*d\s*=\s*([^\s;]+)", re.IGNORECASE)
_ENVELOPE_FROM = re.compile(r"envelope-from\s*=\s*\"?<?([^\s;\">]+)", re.IGNORECASE)
_DOMAIN_OF = re.compile(r"domain of\s+(?:[^\s@]+@)?([^\s@()]+)", re.IGNORECASE)
_RESULT = re.compile(r"\b(spf|dkim)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
"""One result of an `Authentication-Results` header (RFC 8601): method, result, properties."""
_CHECKED = {
    "spf": re.compile(r"\bsmtp\.mailfrom\s*=\s*([^\s;]+)", re.IGNORECASE),
    "dkim": re.compile(r"\bheader\.(?:d\s*=\s*|i\s*=\s*[^@\s;]*@)([^\s;]+)", re.IGNORECASE),
}
"""Where a passing result names the domain it checked."""


@dataclass(frozen=True, slots=True)
class SenderAuth:
    """The domains a provider's SPF and DKIM checks passed for."""

    spf: tuple[str, ...] = ()
    """The envelope sender's domain, when SPF passed for it."""
    dkim: tuple[str, ...] = ()
    """The `d=` domains of DKIM signatures that passed."""

    def verifies(self, address: str) -> bool:
        """Return True if SPF or DKIM passed for a domain aligned with `address`'s."""
        domain = address.rpartition("@")[2]
        return any(aligned(checked, domain) for checked in (*self.spf, *self.dkim))


def _domain(text: str) -> str | None:
    """Return the canonical (lower-case, IDNA) domain of an address or a bare domain."""
    address = (parseaddr(text)[1] or text).strip().rstrip(".")
    found = normalize_email(address if "@" in address else f"postmaster@{address}")
    return found.rpartition("@")[2] if found else None


def aligned(checked: str, from_domain: str) -> bool:
    """Return True if `checked` equals `from_domain` or one is a subdomain of the other."""
    ours, theirs = _domain(checked), _domain(from_domain)
    if not ours or not theirs or "." not in ours or "." not in theirs:
        return False
    return ours == theirs or ours.endswith("." + theirs) or theirs.endswith("." + ours)


def _passed(verdict: str | None) -> bool:
    return verdict is not None and verdict.strip().split(" ", 1)[0].lower() == "pass"


def _domains(found: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(domain for domain in found if domain))


def sendgrid_auth(spf: str | None, dkim: str | None, envelope_from: str | None) -> SenderAuth:
    """Return what SendGrid's `SPF` and `dkim` fields say, `envelope_from` being SPF's domain."""
    spf_domains = _domains([_domain(envelope_from)] if envelope_from and _passed(spf) else [])
    results = _SENDGRID_DKIM.findall(dkim or "")
    dkim_domains = _domains(_domain(d) for d, result in results if result.lower() == "pass")
    return SenderAuth(spf_domains, dkim_domains)


def mailgun_auth(
    spf: str | None, dkim: str | None, signatures: Iterable[str], envelope_from: str | None
) -> SenderAuth:
    """Return what Mailgun's `X-Mailgun-Spf` and `X-Mailgun-Dkim-Check-Result` say, given the
    message's `DKIM-Signature` values and the envelope sender."""
    spf_domains = _domains([_domain(envelope_from)] if envelope_from and _passed(spf) else [])
    signers = _domains(
        _domain(match[1]) if (match := _TAG.search(signature)) else None for signature in signatures
    )
    return SenderAuth(spf_domains, signers if _passed(dkim) and len(signers) == 1 else ())


def postmark_auth(headers: Headers) -> SenderAuth:
    """Return what the topmost `Received-SPF` and `Authentication-Results` headers say."""
    received_spf = headers.get("Received-SPF")
    spf_domains: tuple[str, ...] = ()
    if received_spf is not None and _passed(received_spf):
        found = _ENVELOPE_FROM.search(received_spf) or _DOMAIN_OF.search(received_spf)
        spf_domains = _domains([_domain(found[1])] if found else [])
    passed: dict[str, list[str | None]] = {"spf": [], "dkim": []}
    for method, result, props in _RESULT.findall(headers.get("Authentication-Results") or ""):
        if result.lower() == "pass" and (found := _CHECKED[method.lower()].search(props)):
            passed[method.lower()].append(_domain(found[1]))
    spf_domains = _domains([*spf_domains, *passed["spf"]])
    dkim_domains = _domains(passed["dkim"])
    return SenderAuth(spf_domains, dkim_domains)
