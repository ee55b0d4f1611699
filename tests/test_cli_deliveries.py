"""`gateway dlq list|show|replay` and `gateway backfill`, on a real store with no server."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gateway import cli_progress
from gateway.cli import EXIT_BROKEN_PIPE, main
from gateway.schema import ChannelRef, Content, Interaction
from gateway.store.base import AttemptRecord, CommitItem, DeliveryUpdate
from gateway.store.sqlite import SqliteStore

NOW = datetime.now(UTC)


def interaction(n: int, kind: str = "webchat") -> Interaction:
    return Interaction(
        type="message",
        direction="inbound",
        channel=ChannelRef(id=kind, kind=kind, provider="generic"),
        external_id=f"m-{n}",
        occurred_at=NOW,
        received_at=NOW - timedelta(days=n),
        content=Content(text=f"message {n}"),
    )


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": f"sqlite:///{tmp_path}/gateway.db"},
                "backends": {"hook": {"type": "log"}, "audit": {"type": "log"}},
                "routes": [
                    {"match": {"channel_kind": "sms"}, "to": ["audit", "hook"]},
                    {"to": ["hook"]},
                ],
            }
        )
    )
    return path


def seed(config_path: Path, interactions: list[Interaction], dead: bool) -> None:
    """Commit `interactions` to `hook`, and dead-letter them if `dead`."""

    async def run() -> None:
        store = SqliteStore(str(config_path.parent / "gateway.db"))
        await store.open()
        try:
            await store.commit([CommitItem(i, ("hook",)) for i in interactions])
            attempt = AttemptRecord(NOW, NOW, "dead", "HTTP 400: bad field")
            while dead and (
                claimed := await store.claim(
                    "hook", 500, now=datetime.now(UTC), lease=timedelta(minutes=1)
                )
            ):
                await store.record(
                    [DeliveryUpdate(c.id, "dead", (attempt,), error=attempt.error) for c in claimed]
                )
        finally:
            await store.close()

    asyncio.run(run())


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_dlq_list_show_replay(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(config_path, [interaction(1), interaction(2)], dead=True)
    config = ("--config", str(config_path))

    status, out, _ = run_cli(capsys, "dlq", "list", *config)
    assert status == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 2
    assert all("hook" in row and "HTTP 400: bad field" in row for row in rows)
    first_id = int(rows[0].split()[0])

    status, out, _ = run_cli(capsys, "dlq", "show", str(first_id), *config)
    shown = json.loads(out)
    assert shown["delivery"]["state"] == "dead"
    assert shown["attempt_log"][0]["error"] == "HTTP 400: bad field"
    assert shown["interaction"]["external_id"] in ("m-1", "m-2")
    times = [shown["interaction"]["occurred_at"], shown["interaction"]["received_at"]]
    times += [a[k] for a in shown["attempt_log"] for k in ("started_at", "finished_at")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in times), times

    assert (
        run_cli(capsys, "dlq", "replay", str(first_id), *config)[1] == "replayed 1 dead letters\n"
    )
    assert len(run_cli(capsys, "dlq", "list", *config)[1].splitlines()) == 2
    assert run_cli(capsys, "dlq", "replay", "--backend", "hook", *config)[1] == (
        "replayed 1 dead letters\n"
    )


def test_dlq_errors(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ("--config", str(config_path))
    status, _, err = run_cli(capsys, "dlq", "list", "--backend", "hok", *config)
    assert (status, err) == (1, "no backend 'hok' is configured; did you mean 'hook'?\n")
    assert run_cli(capsys, "dlq", "replay", *config)[0] == 2
    assert run_cli(capsys, "dlq", "show", "999", *config)[0] == 1


def test_backfill_follows_routing_and_since(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seeded in arrival order, as a running gateway stores them: the oldest first.
    seed(config_path, [interaction(5, "sms"), interaction(2), interaction(1, "sms")], dead=False)
    since = (NOW - timedelta(days=3)).date().isoformat()
    config = ("--config", str(config_path))

    status, out, _ = run_cli(capsys, "backfill", "audit", "--since", since, *config)
    assert (status, out) == (0, "queued 1 interactions for audit\n")  # sms, within --since
    assert run_cli(capsys, "backfill", "audit", "--since", since, *config)[1] == (
        "queued 0 interactions for audit\n"
    )
    assert run_cli(capsys, "backfill", "nope", "--since", since, *config)[0] == 1


@pytest.fixture
def progress_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make non-terminal progress print a line at every update, not every 5 seconds."""
    monkeypatch.setattr(cli_progress, "LINE_INTERVAL", 0.0)


@pytest.mark.usefixtures("progress_every_call")
@pytest.mark.parametrize("how", [["--all"], ["--backend", "hook"]])
def test_replaying_many_dead_letters_shows_progress(
    config_path: Path, capsys: pytest.CaptureFixture[str], how: list[str]
) -> None:
    seed(config_path, [interaction(n) for n in range(1200)], dead=True)
    status, out, err = run_cli(capsys, "dlq", "replay", *how, "--config", str(config_path))
    assert (status, out) == (0, "replayed 1200 dead letters\n")
    assert err.splitlines() == [
        "dlq replay: 500/1200 dead letters (41%)",
        "dlq replay: 1000/1200 dead letters (83%)",
        "dlq replay: 1200/1200 dead letters (100%)",
    ]
    assert run_cli(capsys, "dlq", "replay", *how, "--config", str(config_path))[1] == (
        "replayed 0 dead letters\n"
    )


@pytest.mark.usefixtures("progress_every_call")
def test_backfill_over_many_rows_shows_progress(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(config_path, [interaction(n, "sms") for n in range(1, 1201)], dead=False)
    since = (NOW - timedelta(days=2000)).date().isoformat()
    status, out, err = run_cli(
        capsys, "backfill", "audit", "--since", since, "--config", str(config_path)
    )
    assert (status, out) == (0, "queued 1200 interactions for audit\n")
    lines = err.splitlines()
    assert len(lines) == 1200
    assert lines[0] == "backfill audit: 1 interactions examined"
    assert lines[-1] == "backfill audit: 1200 interactions examined"


def test_quick_work_prints_no_progress(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(config_path, [interaction(1)], dead=True)
    assert run_cli(capsys, "dlq", "replay", "--all", "--config", str(config_path)) == (
        0,
        "replayed 1 dead letters\n",
        "",
    )


def test_a_listing_piped_to_head_stops_quietly(config_path: Path) -> None:
    """`gateway dlq list | head -2`: more output than a pipe holds, the reader leaves midway."""
    seed(config_path, [interaction(n) for n in range(1200)], dead=True)
    command = ["dlq", "list", "--limit", "2000", "--config", str(config_path)]
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline().split()[:2] == [b"ID", b"BACKEND"]
    assert process.stdout.readline().split()[:3] == [b"1", b"hook", b"1"]
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert err == b""
    assert process.returncode == EXIT_BROKEN_PIPE
