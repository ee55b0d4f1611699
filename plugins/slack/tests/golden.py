"""Write `fixtures/*.golden.json` from what the channel makes of each fixture today.

Run `python tests/golden.py` from the plugin folder after a deliberate change to the mapping, then
review every changed line: a golden file is the spec of its fixture, not a snapshot to accept.
"""

from __future__ import annotations

import json

from gateway_slack import SlackChannel
from slack_cases import RECEIVED, SETTINGS, fixture_names, golden_path, signed_request
from slack_cases import fixture as body_of

from gateway.testing import golden, make_channel


def main() -> None:
    """Write the golden file of every fixture."""
    channel = make_channel(SlackChannel, SETTINGS, channel_id="conformance", clock=lambda: RECEIVED)
    for name in fixture_names():
        req = signed_request(body_of(name))
        channel.verify(req)
        parsed = [golden(interaction) for interaction in channel.parse(req)]
        text = json.dumps(parsed, indent=2, ensure_ascii=False) + "\n"
        golden_path(name).write_text(text, encoding="utf-8")
        print(f"{name}: {len(parsed)} interaction(s)")


if __name__ == "__main__":
    main()
