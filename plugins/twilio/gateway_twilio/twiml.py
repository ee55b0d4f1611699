"""TwiML answers: the empty `<Response/>` every Twilio webhook may get, and configured ones."""

from __future__ import annotations

from typing import NoReturn
from xml.parsers import expat

__all__ = ["EMPTY_TWIML", "TWIML_CONTENT_TYPE", "check_twiml"]

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
"""Acknowledges a webhook and asks Twilio to do nothing (no reply, and for a call: hang up)."""
TWIML_CONTENT_TYPE = "text/xml"


def check_twiml(text: str) -> str:
    """Return `text` stripped if it is one well-formed `<Response>` document, else ValueError.

    Parsed with expat, refusing any DOCTYPE or entity declaration: configuration is trusted, but
    an XML bomb in it would still cost every call that gets it.
    """

    def refuse(*_: object) -> NoReturn:
        raise ValueError("TwiML must not declare a DOCTYPE or entities")

    roots: list[str] = []

    def start(name: str, _attributes: object) -> None:
        if not roots:
            roots.append(name)

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    stripped = text.strip()
    try:
        parser.Parse(stripped, True)
    except expat.ExpatError as exc:
        raise ValueError(f"TwiML is not well-formed XML: {exc}") from None
    if roots != ["Response"]:
        found = f"<{roots[0]}>" if roots else "no element"
        raise ValueError(f"TwiML's root element must be <Response>, found {found}")
    return stripped
