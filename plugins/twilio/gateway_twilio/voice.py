"""Programmable Voice webhooks as interaction fields: calls, their recordings and transcriptions.

Every request becomes a `call` interaction threaded by the call (`thread_external_id` is the
parent call's `CallSid` for a child leg, else the `CallSid`), so consumers attach recordings and
transcripts to the call they belong to. Each event is stored once, keyed by what it reports:

- a call's own webhooks (incoming call, status callbacks): `{CallSid}/{CallStatus}`;
- a recording status callback: `{CallSid}/recording/{RecordingSid}` (`/{RecordingStatus}`
  appended unless `completed`);
- a transcription callback: `{CallSid}/transcription/{TranscriptionSid}` (likewise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from gateway.schema import MAX_DURATION_S
from gateway_twilio.params import Params

__all__ = ["voice_fields"]

_CALL_EXTRAS: Final[tuple[str, ...]] = (
    "AccountSid", "Direction", "CallStatus", "ParentCallSid", "ForwardedFrom", "CallerName",
    "FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip", "ToCountry",
    "StirVerstat", "AnsweredBy", "CallDuration", "Timestamp", "CallbackSource", "SequenceNumber",
    "RecordingSid", "RecordingDuration",
)  # fmt: skip
_RECORDING_EXTRAS: Final[tuple[str, ...]] = (
    "AccountSid", "RecordingSid", "RecordingStatus", "RecordingDuration", "RecordingChannels",
    "RecordingSource", "RecordingStartTime", "ErrorCode",
)  # fmt: skip
_TRANSCRIPTION_EXTRAS: Final[tuple[str, ...]] = (
    "AccountSid", "TranscriptionSid", "TranscriptionStatus", "TranscriptionUrl", "RecordingSid",
)  # fmt: skip


def voice_fields(params: Params, received_at: datetime) -> dict[str, Any]:
    """Return the fields of the voice event `params` describe."""
    call_sid = params.require("CallSid")
    call_status = params.get("CallStatus")
    call: dict[str, Any] = {"recording_url": params.get("RecordingUrl")}
    if params.get("TranscriptionSid") is not None:
        event, sid = "transcription", params.require("TranscriptionSid")
        outcome = (params.get("TranscriptionStatus") or "completed").strip().lower()
        call["transcript"] = params.get("TranscriptionText")
        extras = _TRANSCRIPTION_EXTRAS
    elif params.get("RecordingStatus") is not None:
        event, sid = "recording", params.require("RecordingSid")
        outcome = params.require("RecordingStatus").lower()
        extras = _RECORDING_EXTRAS
    else:
        event, sid, outcome = "call", "", params.require("CallStatus").lower()
        call["duration_s"] = params.count("CallDuration", most=MAX_DURATION_S)
        extras = _CALL_EXTRAS
    if event == "call":
        external_id = f"{call_sid}/{outcome}"
    else:
        suffix = "" if outcome == "completed" else f"/{outcome}"
        external_id = f"{call_sid}/{event}/{sid}{suffix}"
    # A recording status callback carries no CallStatus: its own status is what is known.
    call["status"] = (call_status or outcome).strip().lower()
    direction = (params.get("Direction") or "inbound").strip().lower()
    return {
        "type": "call",
        "direction": "outbound" if direction.startswith("outbound") else "inbound",
        "external_id": external_id,
        "thread_external_id": (params.get("ParentCallSid") or call_sid).strip(),
        "occurred_at": params.timestamp("Timestamp") or received_at,
        "sender": {
            "display_name": params.get("CallerName"),
            "identities": params.identity("From"),
        },
        "recipient": {"identities": params.identity("To")},
        "call": call,
        "metadata": {"event": event, **params.extras(extras)},
    }
