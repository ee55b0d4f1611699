"""Identity values in one canonical form, so one person matches across every channel.

Phones become E.164 (`+14155550100`) whatever the provider wrote: `(415) 555-0100` in the
configured default region, a Twilio `whatsapp:+1...` address, a WhatsApp `wa_id` or Vonage
`msisdn` (international digits without `+`). E-mails become lower case, trimmed, with an IDNA
(punycode) domain. Provider-scoped ids keep their value, trimmed.
"""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache

import phonenumbers

from gateway.schema import Identity

__all__ = ["canonical_identity", "normalize_email", "normalize_identity", "normalize_phone"]

_PHONE_PREFIXES = ("whatsapp:", "tel:", "sms:")
_TWILIO_CLIENT = "client:"
_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE


MAX_PHONE_INPUT = 64
"""Longest value read as a phone (prefix, punctuation and spaces included); longer is none."""
MAX_EMAIL_INPUT = 512


def normalize_phone(value: str, default_region: str, *, international: bool = False) -> str | None:
    """Return `value` as E.164, or None if it cannot be a phone number (cached: customers write
    again, and parsing costs ~12 µs).

    `international=True` reads bare digits as including the country code (WhatsApp `wa_id`,
    Vonage `msisdn`) instead of as a national number of `default_region`. A value longer than
    `MAX_PHONE_INPUT` is refused before any work, so the cache holds only short keys.
    """
    if len(value) > MAX_PHONE_INPUT or len(default_region) > 3:
        return None
    return _normalize_phone(value, default_region, international)


@lru_cache(maxsize=16_384)
def _normalize_phone(value: str, default_region: str, international: bool) -> str | None:
    text = value.strip()
    for prefix in _PHONE_PREFIXES:
        text = text.removeprefix(prefix)
    if international and text.isdigit():
        text = "+" + text
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    # Possible, not "valid": validity follows carriers' allocations, which lag behind reality.
    # A number possible only locally (555-1234) has no country code to give it.
    if phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str | None:
    """Return the address in `value` (`Jane <Jane@Example.COM>` too) lower-cased, or None."""
    if len(value) > MAX_EMAIL_INPUT:
        return None
    _, address = parseaddr(value.strip().removeprefix("mailto:"))
    local, at, domain = address.strip().rpartition("@")
    if not (local and at and domain) or " " in address:
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}@{ascii_domain}".lower()


def normalize_identity(
    kind: str, value: str, *, default_region: str, international: bool = False
) -> Identity | None:
    """Return the canonical identity for a provider's (kind, value), or None if it names nobody.

    A `phone` that is a Twilio Client address (`client:alice`) becomes a `twilio_client`.
    """
    found = canonical_identity(kind, value, default_region, international=international)
    return Identity(kind=found[0], value=found[1]) if found else None


def canonical_identity(
    kind: str, value: str, default_region: str, *, international: bool = False
) -> tuple[str, str] | None:
    """Return `normalize_identity`'s answer as a plain (kind, value): no model built."""
    text = value.strip()
    if kind == "phone":
        if text.startswith(_TWILIO_CLIENT):
            name = text.removeprefix(_TWILIO_CLIENT).strip()
            return ("twilio_client", name) if name else None
        phone = normalize_phone(text, default_region, international=international)
        return ("phone", phone) if phone else None
    if kind == "email":
        email = normalize_email(text)
        return ("email", email) if email else None
    return (kind, text) if text else None
