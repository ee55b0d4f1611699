"""`twilio-voice`: calls, call status, recordings and transcriptions, threaded by the call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from gateway_twilio import TwilioVoiceChannel
from gateway_twilio.twiml import EMPTY_TWIML
from recordings import CUSTOMER, OUR_NUMBER, TOKEN, fixture, pairs, signed_form

from gateway.errors import PayloadError
from gateway.plugin import Channel
from gateway.schema import Interaction
from gateway.testing import make_channel, run_channel

CALL = "CA42ed11f93dc08b952027ffbc406d0868"
RECORDING = "RE5c1a8e9f3b2d4c6a7e8f9a0b1c2d3e4f"
TRANSCRIPTION = "TR8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c"
VOICEMAIL = (
    "<Response><Say>Please leave a message after the tone.</Say>"
    '<Record maxLength="120" transcribe="true"/></Response>'
)


def voice(**settings: Any) -> Channel[Any]:
    return make_channel(TwilioVoiceChannel, {"auth_token": TOKEN, **settings})


def edited(name: str, drop: tuple[str, ...] = (), **changes: str) -> bytes:
    params = [(k, v) for k, v in pairs(fixture(name)).items() if k not in drop and k not in changes]
    return urlencode([*params, *changes.items()]).encode()


def parse_one(body: bytes, channel: Channel[Any] | None = None) -> Interaction:
    [interaction] = run_channel(channel or voice(), signed_form(body))
    return interaction


def test_an_incoming_call() -> None:
    call = parse_one(fixture("voice_incoming"))
    assert (call.type, call.direction, call.channel.kind) == ("call", "inbound", "voice")
    assert call.external_id == f"{CALL}/ringing"
    assert call.thread_external_id == CALL
    assert call.call is not None
    assert call.call.status == "ringing"
    assert call.sender.display_name == "JANE DOE"
    assert call.sender.identities[0].value == CUSTOMER
    assert call.recipient.identities[0].value == OUR_NUMBER


def test_a_completed_call_has_its_duration_and_twilio_time() -> None:
    call = parse_one(fixture("voice_status_completed"))
    assert call.external_id == f"{CALL}/completed"
    assert call.call is not None
    assert (call.call.status, call.call.duration_s) == ("completed", 63)
    assert call.occurred_at == datetime(2026, 11, 22, 10, 1, 4, tzinfo=UTC)


def test_a_recording_attaches_to_its_call() -> None:
    recording = parse_one(fixture("voice_recording"))
    assert recording.external_id == f"{CALL}/recording/{RECORDING}"
    assert recording.thread_external_id == CALL
    assert recording.call is not None
    assert recording.call.recording_url is not None
    assert recording.call.recording_url.endswith(f"/Recordings/{RECORDING}")
    assert recording.metadata["event"] == "recording"
    assert recording.metadata["RecordingDuration"] == "42"


def test_a_recording_in_progress_is_another_event_than_the_completed_one() -> None:
    body = edited("voice_recording", RecordingStatus="in-progress", drop=("RecordingUrl",))
    recording = parse_one(body)
    assert recording.external_id == f"{CALL}/recording/{RECORDING}/in-progress"
    assert recording.call is not None
    assert recording.call.recording_url is None


def test_a_transcription_attaches_its_text_to_the_call() -> None:
    transcription = parse_one(fixture("voice_transcription"))
    assert transcription.external_id == f"{CALL}/transcription/{TRANSCRIPTION}"
    assert transcription.thread_external_id == CALL
    assert transcription.call is not None
    assert transcription.call.transcript == "Hi, this is Jane about order 123. Please call me back."
    assert transcription.call.status == "completed"
    failed = parse_one(edited("voice_transcription", TranscriptionStatus="failed"))
    assert failed.external_id == f"{CALL}/transcription/{TRANSCRIPTION}/failed"


def test_a_child_leg_threads_under_its_parent_call() -> None:
    child = "CA0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    leg = parse_one(
        edited(
            "voice_status_completed", CallSid=child, ParentCallSid=CALL, Direction="outbound-dial"
        )
    )
    assert leg.external_id == f"{child}/completed"
    assert leg.thread_external_id == CALL
    assert leg.direction == "outbound"
    assert leg.metadata["ParentCallSid"] == CALL


def test_a_twilio_client_caller_is_a_twilio_client_identity() -> None:
    call = parse_one(edited("voice_incoming", From="client:alice"))
    assert [(i.kind, i.value) for i in call.sender.identities] == [("twilio_client", "alice")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (edited("voice_incoming", drop=("CallSid",)), "CallSid"),
        (edited("voice_incoming", drop=("CallStatus",)), "CallStatus"),
        (edited("voice_status_completed", CallDuration="a minute"), "CallDuration"),
        (edited("voice_status_completed", Timestamp="yesterday"), "Timestamp"),
        *(
            (edited("voice_status_completed", CallDuration=duration), "CallDuration")
            for duration in (
                "99999999999999999999",
                "9" * 5000,
                "²",
                "\u0661\u0662",
                "\uff11\uff12",
                "+5",
                "1_0",
                "-1",
                "604801",
            )
        ),
        *(
            (edited("voice_status_completed", Timestamp=moment), "Timestamp")
            for moment in (
                "Fri, 31 Dec 9999 23:59:59 -0100",
                "31 Dec 9999 -0100",
                "31 Dec 9999 00:00:00 +0000",
                "Thu, 01 Jan 1970 00:00:00 +0000",
                "Thu, 01 Jan 1970 00:59:59 +0100",
            )
        ),
        (edited("voice_recording", drop=("RecordingSid",)), "RecordingSid"),
    ],
)
def test_bad_payloads_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        run_channel(voice(), signed_form(body))
    assert (caught.value.field, caught.value.status) == (field, 422)


def test_the_longest_call_and_the_bounds_of_time_are_accepted() -> None:
    call = parse_one(
        edited(
            "voice_status_completed", CallDuration="604800", Timestamp="31 Dec 9998 22:59:59 -0100"
        )
    )
    assert call.call is not None
    assert call.call.duration_s == 604_800
    assert call.occurred_at == datetime(9999, 1, 1, tzinfo=UTC) - timedelta(seconds=1)


def test_a_timestamp_without_zone_is_utc() -> None:
    call = parse_one(edited("voice_status_completed", Timestamp="Sun, 22 Nov 2026 10:01:04 -0000"))
    assert call.occurred_at == datetime(2026, 11, 22, 10, 1, 4, tzinfo=UTC)


def test_the_configured_twiml_answers_the_call_and_never_a_recording() -> None:
    channel = voice(twiml=VOICEMAIL)
    for name, expected in [
        ("voice_incoming", VOICEMAIL),
        ("voice_status_completed", VOICEMAIL),
        ("voice_recording", EMPTY_TWIML),
        ("voice_transcription", EMPTY_TWIML),
    ]:
        request = signed_form(fixture(name))
        answer = channel.acknowledge(request, run_channel(channel, request))
        assert (answer.body.decode(), answer.content_type) == (expected, "text/xml"), name
    # <Record> without `action` posts its recording back to the same URL: no loop.
    record_action = edited(
        "voice_incoming", CallStatus="in-progress", RecordingUrl="https://api.twilio.com/x/RE1"
    )
    request = signed_form(record_action)
    assert channel.acknowledge(request, run_channel(channel, request)).body.decode() == EMPTY_TWIML


def test_the_default_twiml_is_empty() -> None:
    channel = voice()
    request = signed_form(fixture("voice_incoming"))
    assert channel.acknowledge(request, run_channel(channel, request)).body.decode() == EMPTY_TWIML
