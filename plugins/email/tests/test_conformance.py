"""The three e-mail channels pass the conformance suite every channel plugin runs.

Two of its tests assume what these providers do not do, and are replaced here, saying so:
SendGrid and Postmark authenticate the sender with Basic credentials (the body is not signed),
and Mailgun signs `timestamp + token` in the body's own fields. The core's fuzzers write JSON or
URL-encoded bodies; multipart recordings are fuzzed here part by part, boundary kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import pytest
from email_cases import (
    RECORDINGS,
    SETTINGS,
    assemble,
    boundary,
    parts,
    repost,
    suffix,
    with_field,
)
from gateway_email import MailgunInboundChannel, PostmarkInboundChannel, SendGridInboundChannel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.conformance import EDGE_TEXT
from gateway.errors import PayloadError, SignatureError
from gateway.schema import Interaction
from gateway.testing import ChannelCase, ChannelConformance

_FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


def _storable(interactions: Sequence[Interaction]) -> None:
    for interaction in interactions:
        Interaction.model_validate_json(interaction.model_dump_json())


class EmailConformance(ChannelConformance):
    """Cases of one provider: the fixtures named `{prefix}_*` (of one format, if `suffix`)."""

    prefix: ClassVar[str]
    suffix: ClassVar[str] = ""

    @property
    def settings(self) -> Mapping[str, Any]:  # type: ignore[override]
        return SETTINGS[self.prefix]

    def cases(self) -> Sequence[ChannelCase]:
        """Return every recorded webhook of this channel with its golden interactions."""
        return [
            case for case in RECORDINGS.cases(self.prefix) if suffix(case).endswith(self.suffix)
        ]


class BasicAuthConformance(EmailConformance):
    secret_fields = ("basic_auth",)
    signature_headers = ("Authorization",)

    def test_a_tampered_body_fails_verification(self) -> None:
        """Replaced: Basic auth proves who posts, not what; the body is not signed (providers.md
        §1.8, §1.10). What must hold instead: a tampered body without the credentials fails."""
        for recorded in self.cases():
            body = bytearray(recorded.request.body)
            body[len(body) // 2] ^= 1
            tampered = repost(recorded, bytes(body), Authorization="Basic Zm9vOmJhcg==")
            with pytest.raises(SignatureError):
                self.channel(recorded.request.received_at).verify(tampered)

    def test_a_blank_secret_refuses_to_start(self) -> None:
        """A blank user name or password is a configuration error."""
        for field in ("username", "password"):
            block = {"basic_auth": {**SETTINGS[self.prefix]["basic_auth"], field: ""}}
            with pytest.raises(ValueError, match="must not be blank"):
                self.channel_type.settings_model.model_validate(
                    {"type": self.channel_type.type_name, **block}
                )
        super().test_a_blank_secret_refuses_to_start()


class MultipartFuzz(EmailConformance):
    """The core's payload fuzzers, for multipart/form-data bodies."""

    @_FUZZ
    @given(data=st.data())
    def test_fuzzed_payloads_raise_only_payload_errors(self, data: st.DataObject) -> None:
        """Truncated bodies, parts replaced by random bytes, dropped or duplicated: `parse`
        returns storable interactions or raises `PayloadError`."""
        recorded = data.draw(st.sampled_from(list(self.cases())))
        body = recorded.request.body
        sections = parts(body)
        kind = data.draw(st.sampled_from(["truncated", "content", "drop", "duplicate", "random"]))
        index = data.draw(st.integers(0, len(sections) - 1))
        if kind == "truncated":
            body = body[: data.draw(st.integers(0, len(body)))]
        elif kind == "random":
            body = data.draw(st.binary(max_size=300))
        else:
            head = sections[index].split(b"\r\n\r\n", 1)[0]
            if kind == "content":
                sections[index] = head + b"\r\n\r\n" + data.draw(st.binary(max_size=200))
            elif kind == "drop":
                del sections[index]
            else:
                sections.insert(index, sections[index])
            body = assemble(sections, boundary(recorded.request.body))
        channel = self.channel(recorded.request.received_at)
        with contextlib.suppress(PayloadError):
            _storable(channel.parse(replace(recorded.request, body=body)))

    def test_date_and_number_edges_parse_or_raise_payload_errors(self) -> None:
        """Each field of each multipart recording set to each date and number edge."""
        for recorded in self._with_body():
            if suffix(recorded) != ".multipart":
                continue
            channel = self.channel(recorded.request.received_at)
            body = recorded.request.body
            for section in parts(body):
                name = section.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
                for edge in EDGE_TEXT:
                    changed = with_field(body, name, edge.encode())
                    with contextlib.suppress(PayloadError):
                        _storable(channel.parse(replace(recorded.request, body=changed)))


class TestSendGridConformance(BasicAuthConformance, MultipartFuzz):
    channel_type = SendGridInboundChannel
    prefix = "sendgrid"


class TestPostmarkConformance(BasicAuthConformance):
    channel_type = PostmarkInboundChannel
    prefix = "postmark"


class MailgunConformance(EmailConformance):
    channel_type = MailgunInboundChannel
    prefix = "mailgun"
    secret_fields = ("signing_key",)
    signature_headers = ()
    """Mailgun's signature travels in the body's `timestamp`, `token` and `signature` fields."""

    def test_a_tampered_body_fails_verification(self) -> None:
        """Replaced: the signature covers `timestamp + token` only (providers.md §1.9). What must
        hold: a changed signature, timestamp or token fails, and a token seen before with
        another message is refused as a replay."""
        for recorded in self.cases():
            form = suffix(recorded) == ".form"
            channel = self.channel(recorded.request.received_at)
            for field in ("signature", "timestamp", "token"):
                with pytest.raises(SignatureError):
                    channel.verify(_changed(recorded, field, "0" * 40))
            channel.verify(recorded.request)
            other = _changed(recorded, "subject", "Another message")
            with pytest.raises(SignatureError) as caught:
                channel.verify(other)
            assert caught.value.status == 406, form


class TestMailgunFormConformance(MailgunConformance):
    suffix = ".form"


class TestMailgunMultipartConformance(MailgunConformance, MultipartFuzz):
    suffix = ".multipart"


def _changed(recorded: ChannelCase, field: str, value: str) -> Any:
    """Return the recorded Mailgun post with field `field` set to `value`."""
    if suffix(recorded) == ".form":
        pairs = [
            (name, value if name == field else old)
            for name, old in parse_qsl(recorded.request.body.decode(), keep_blank_values=True)
        ]
        return repost(recorded, urlencode(pairs).encode())
    return repost(recorded, with_field(recorded.request.body, field, value.encode()))
