"""A folder of recorded provider requests and the golden interactions each must become.

A recording is `NAME.EXT`, the request body byte for byte as the provider sent it (`.json`,
`.form`, `.multipart`, ...); its golden file `NAME.golden.json` lists the canonical interactions
it must become, as `golden()` writes them. The golden files are the spec of the channel: write
them with `Recordings.write_goldens` after a deliberate change, then review every changed line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.conformance import ChannelCase, golden
from gateway.plugin import Channel, WebhookRequest
from gateway.test_builders import make_channel

GOLDEN_SUFFIX = ".golden.json"

Post = Callable[[str, bytes], WebhookRequest]
"""Turns a recording's file name and body into the request as its provider sends it, signed."""


@dataclass(frozen=True, slots=True)
class Recordings:
    """The recordings in `folder`, each posted the way `post` says."""

    folder: Path
    post: Post

    def names(self, prefix: str = "") -> list[str]:
        """Return the names (file names without their last extension) of the recordings starting
        `prefix`."""
        return sorted(
            path.name.rpartition(".")[0]
            for path in self.folder.glob(f"{prefix}*.*")
            if not path.name.endswith(GOLDEN_SUFFIX)
        )

    def file(self, name: str) -> Path:
        """Return the file of recording `name`; `LookupError` unless exactly one exists."""
        found = [p for p in self.folder.glob(f"{name}.*") if not p.name.endswith(GOLDEN_SUFFIX)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} recordings named {name!r} in {self.folder}")
        return found[0]

    def body(self, name: str) -> bytes:
        """Return the body of recording `name`, exactly as stored."""
        return self.file(name).read_bytes()

    def request(self, name: str, body: bytes | None = None) -> WebhookRequest:
        """Return recording `name` (or another `body` in its format) as its provider posts it."""
        path = self.file(name)
        return self.post(path.name, path.read_bytes() if body is None else body)

    def golden_path(self, name: str) -> Path:
        """Return where the golden interactions of recording `name` are kept."""
        return self.folder / f"{name}{GOLDEN_SUFFIX}"

    def expected(self, name: str) -> list[dict[str, Any]]:
        """Return the golden interactions of recording `name`."""
        expected: list[dict[str, Any]] = json.loads(
            self.golden_path(name).read_text(encoding="utf-8")
        )
        return expected

    def case(self, name: str) -> ChannelCase:
        """Return recording `name` as its provider posts it, with its golden interactions."""
        return ChannelCase(name, self.request(name), self.expected(name))

    def cases(self, prefix: str = "") -> list[ChannelCase]:
        """Return the recordings starting `prefix` as cases for `ChannelConformance.cases()`."""
        return [self.case(name) for name in self.names(prefix)]

    def write_goldens(
        self,
        channel_type: type[Channel[Any]],
        settings: Mapping[str, Any],
        prefix: str = "",
        *,
        channel_id: str = "conformance",
    ) -> dict[str, int]:
        """Write the golden file of every recording starting `prefix` from what the channel
        makes of it today; return how many interactions each became.

        The channel's clock is stopped at each request's `received_at`, as `ChannelConformance`
        stops it, so recorded timestamps stay inside replay windows.
        """
        written = {}
        for name in self.names(prefix):
            req = self.request(name)
            channel = make_channel(
                channel_type, settings, channel_id=channel_id, clock=_stopped_at(req.received_at)
            )
            channel.verify(req)
            parsed = [golden(interaction) for interaction in channel.parse(req)]
            text = json.dumps(parsed, indent=2, ensure_ascii=False) + "\n"
            self.golden_path(name).write_text(text, encoding="utf-8")
            written[name] = len(parsed)
        return written


def _stopped_at(now: datetime) -> Callable[[], datetime]:
    """Return a clock that always says `now`."""
    return lambda: now
