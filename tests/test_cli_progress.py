"""Progress of long CLI work: periodic lines when stderr is not a terminal, a bar when it is."""

from __future__ import annotations

import io

from gateway.cli_progress import LINE_INTERVAL, Progress


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_every_interval_when_not_a_terminal() -> None:
    clock, stream = Clock(), io.StringIO()
    with Progress("dlq replay", "dead letters", total=1000, stream=stream, clock=clock) as progress:
        for _ in range(10):  # 100 items per second for 10 seconds
            for _ in range(100):
                progress.advance()
            clock.now += 1.0
    assert LINE_INTERVAL == 5.0
    # The first update 5 s after the start prints a line; none more within the next 5 s.
    assert stream.getvalue().splitlines() == ["dlq replay: 501/1000 dead letters (50%)"]
    progress.advance(0)  # at t=10 s: 5 s after the last line
    assert stream.getvalue().splitlines()[-1] == "dlq replay: 1000/1000 dead letters (100%)"


def test_lines_without_a_total() -> None:
    clock, stream = Clock(), io.StringIO()
    with Progress("backfill crm", "interactions examined", stream=stream, clock=clock) as progress:
        for step in range(1, 13):
            clock.now += 1.0
            progress.advance(500)
            assert progress.done == 500 * step
    assert stream.getvalue().splitlines() == [
        "backfill crm: 2500 interactions examined",
        "backfill crm: 5000 interactions examined",
    ]


def test_no_output_for_quick_work() -> None:
    stream = io.StringIO()
    with Progress("dlq replay", "dead letters", total=3, stream=stream, clock=Clock()) as progress:
        progress.advance(3)
    assert stream.getvalue() == ""


def test_a_bar_redrawn_in_place_on_a_terminal() -> None:
    clock, stream = Clock(), Terminal()
    with Progress("dlq replay", "dead letters", total=40, stream=stream, clock=clock) as progress:
        for _ in range(4):
            clock.now += 0.5
            progress.advance(10)
    frames = stream.getvalue().split("\r")[1:]
    assert frames[0] == "dlq replay [#######-----------------------]  25% 10/40 dead letters"
    assert frames[-1] == "dlq replay [##############################] 100% 40/40 dead letters\n"
    assert all("\n" not in frame for frame in frames[:-1])


def test_a_terminal_count_without_a_total() -> None:
    clock, stream = Clock(), Terminal()
    with Progress("backfill crm", "interactions examined", stream=stream, clock=clock) as progress:
        clock.now += 1.0
        progress.advance(7)
    assert stream.getvalue() == (
        "\rbackfill crm: 7 interactions examined\rbackfill crm: 7 interactions examined\n"
    )
