"""`gateway.testing.Recordings`: a folder of recorded requests and their golden interactions."""

from __future__ import annotations

import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.builtins.generic import GenericChannel
from gateway.errors import SignatureError
from gateway.plugin import WebhookRequest
from gateway.testing import Recordings, standard_webhook_headers, webhook_request
from tests.payloads import SECRET, message

RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
SETTINGS = {"secret": SECRET, "kind": "sms"}


def signed(name: str, body: bytes) -> WebhookRequest:
    """Post `body` as a Standard Webhooks sender would, at `RECEIVED`."""
    headers = standard_webhook_headers(
        SECRET, body, msg_id=f"msg_{name}", timestamp=int(RECEIVED.timestamp())
    )
    return webhook_request(
        body, headers=headers, content_type="application/json", received_at=RECEIVED
    )


@pytest.fixture
def recordings(tmp_path: Path) -> Recordings:
    (tmp_path / "sms_first.json").write_bytes(orjson.dumps(message(external_id="m-1")))
    (tmp_path / "sms_second.json").write_bytes(orjson.dumps(message(external_id="m-2")))
    (tmp_path / "other.txt").write_bytes(b"not a recording of this prefix")
    return Recordings(tmp_path, signed)


def test_names_are_the_recordings_without_extension_or_goldens(recordings: Recordings) -> None:
    assert recordings.names("sms_") == ["sms_first", "sms_second"]
    assert recordings.names() == ["other", "sms_first", "sms_second"]
    with pytest.raises(LookupError, match="0 recordings named 'missing'"):
        recordings.file("missing")


def test_written_goldens_are_what_the_channel_makes_and_read_back_as_cases(
    recordings: Recordings,
) -> None:
    written = recordings.write_goldens(GenericChannel, SETTINGS, "sms_")
    assert written == {"sms_first": 1, "sms_second": 1}
    assert recordings.names("sms_") == ["sms_first", "sms_second"]  # goldens are not recordings
    [golden] = json.loads(recordings.golden_path("sms_first").read_text(encoding="utf-8"))
    assert golden["external_id"] == "m-1"
    assert "id" not in golden
    [first, second] = recordings.cases("sms_")
    assert (first.name, first.expected) == ("sms_first", [golden])
    assert second.expected[0]["external_id"] == "m-2"
    assert first.request.body == recordings.body("sms_first")
    assert first.request.received_at == RECEIVED


def test_request_posts_another_body_in_the_recordings_format(recordings: Recordings) -> None:
    req = recordings.request("sms_first", b"{}")
    assert req.body == b"{}"
    assert req.headers["webhook-id"] == "msg_sms_first.json"


def test_a_recording_the_channel_refuses_is_not_written(tmp_path: Path) -> None:
    (tmp_path / "forged.json").write_bytes(orjson.dumps(message()))
    forged = Recordings(tmp_path, lambda name, body: replace(signed(name, body), body=body + b" "))
    with pytest.raises(SignatureError):
        forged.write_goldens(GenericChannel, SETTINGS)
    assert not forged.golden_path("forged").exists()


def test_compare_digest_calls_records_and_still_answers(
    compare_digest_calls: list[tuple[bytes, bytes]],
) -> None:
    assert hmac.compare_digest(b"a", b"a")
    assert not hmac.compare_digest(b"a", b"b")
    assert compare_digest_calls == [(b"a", b"a"), (b"a", b"b")]
