"""Identity trust where integrators meet it: `interaction/v1`'s JSON Schema carries `verified`
and `identity_claimed`, and the example configurations' site web chats trust no typed identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gateway.cli import main

EXAMPLES = sorted((Path(__file__).parents[1] / "config" / "examples").glob("*.yaml"))


def test_the_json_schema_has_verified_and_identity_claimed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", "interaction"]) == 0
    definitions = json.loads(capsys.readouterr().out)["$defs"]
    verified = definitions["Identity"]["properties"]["verified"]
    assert (verified["type"], verified["default"]) == ("boolean", True)
    assert "verified" not in definitions["Identity"]["required"]  # additive: old senders valid
    claimed = definitions["ConversationContext"]["properties"]["identity_claimed"]
    assert (claimed["type"], claimed["default"]) == ("boolean", False)
    # Their docstrings are the schema's descriptions: a consumer learns what they mean there.
    assert "asserted" in verified["description"]
    assert "asserted identities only" in claimed["description"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_examples_web_chat_form_asserts_what_visitors_type(path: Path) -> None:
    channels = yaml.safe_load(path.read_text(encoding="utf-8"))["channels"]
    forms = {
        name: channel
        for name, channel in channels.items()
        if channel["type"] == "generic" and channel.get("kind", "webchat") == "webchat"
    }
    assert forms, f"{path.name} has no web chat"
    for name, form in forms.items():
        assert form.get("identities_verified") is False, f"{path.name}: channels.{name}"
