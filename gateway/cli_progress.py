"""How far long CLI work has got, on stderr: a bar on a terminal, else a line every few seconds.

Standard output stays the command's result alone, so `gateway backfill ... > out` and pipes see
only that; logs of a non-interactive run get a line at most every `LINE_INTERVAL` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["LINE_INTERVAL", "Progress"]

LINE_INTERVAL = 5.0
"""Seconds between progress lines when stderr is not a terminal."""
_REDRAW_INTERVAL = 0.1
_BAR_WIDTH = 30


class Progress:
    """Counts done items of `label` work (of `total`, when known) and shows it now and then."""

    def __init__(
        self,
        label: str,
        unit: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.unit, self.total, self.done = label, unit, total, 0
        self._stream = stream or sys.stderr
        self._terminal = self._stream.isatty()
        self._interval = _REDRAW_INTERVAL if self._terminal else LINE_INTERVAL
        self._clock = clock
        self._last = clock()
        self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._drawn:  # finish the bar at its final count and leave the line to it
            self._stream.write(f"\r{self._bar()}\n")
            self._stream.flush()

    def advance(self, count: int = 1) -> None:
        """Count `count` more items done; show the progress if it is time to."""
        self.done += count
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        self._stream.write(f"\r{self._bar()}" if self._terminal else f"{self._line()}\n")
        self._stream.flush()
        self._drawn = self._terminal

    def _line(self) -> str:
        if self.total is None:
            return f"{self.label}: {self.done} {self.unit}"
        return f"{self.label}: {self.done}/{self.total} {self.unit} ({self._percent()}%)"

    def _bar(self) -> str:
        if not self.total:
            return self._line()
        filled = _BAR_WIDTH * min(self.done, self.total) // self.total
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {self._percent():>3}% {self.done}/{self.total} {self.unit}"

    def _percent(self) -> int:
        return 100 * self.done // self.total if self.total else 100
