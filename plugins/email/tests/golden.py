"""Write `fixtures/*.golden.json` from what the channels make of each fixture today.

Run `python tests/golden.py` from the plugin folder after a deliberate change to the mapping, then
review every changed line: a golden file is the spec of its fixture, not a snapshot to accept.
"""

from __future__ import annotations

import json

from email_cases import CHANNELS, RECEIVED, SETTINGS, fixture_names, golden_path, request

from gateway.testing import golden, make_channel


def main() -> None:
    """Write the golden file of every fixture."""
    for prefix, channel_type in CHANNELS.items():
        channel = make_channel(
            channel_type, SETTINGS[prefix], channel_id="conformance", clock=lambda: RECEIVED
        )
        for name in fixture_names(prefix):
            req = request(name)
            channel.verify(req)
            parsed = [golden(interaction) for interaction in channel.parse(req)]
            text = json.dumps(parsed, indent=2, ensure_ascii=False) + "\n"
            golden_path(name).write_text(text, encoding="utf-8")
            print(f"{name}: {len(parsed)} interaction(s)")


if __name__ == "__main__":
    main()
