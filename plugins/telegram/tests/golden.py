"""Write `fixtures/*.golden.json` from what the channel makes of each fixture today.

Run `python tests/golden.py` from the plugin folder after a deliberate change to the mapping, then
review every changed line: a golden file is the spec of its fixture, not a snapshot to accept.
"""

from __future__ import annotations

from gateway_telegram import TelegramChannel
from telegram_cases import RECORDINGS, SETTINGS

if __name__ == "__main__":
    for name, count in RECORDINGS.write_goldens(TelegramChannel, SETTINGS).items():
        print(f"{name}: {count} interaction(s)")
