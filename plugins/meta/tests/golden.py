"""Write `fixtures/*.golden.json` from what the channels make of each fixture today.

Run `python tests/golden.py` from the plugin folder after a deliberate change to the mapping, then
review every changed line: a golden file is the spec of its fixture, not a snapshot to accept.
"""

from __future__ import annotations

from meta_cases import CHANNELS, RECORDINGS, SETTINGS

if __name__ == "__main__":
    for prefix, channel_type in CHANNELS.items():
        for name, count in RECORDINGS.write_goldens(channel_type, SETTINGS, prefix).items():
            print(f"{name}: {count} interaction(s)")
