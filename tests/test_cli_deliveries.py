"""`gateway dlq list|show|replay` and `gateway backfill`, on a real store with no server."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
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
            if dead:
                now = datetime.now(UTC)
                claimed = await store.claim("hook", 100, now=now, lease=timedelta(minutes=1))
                attempt = AttemptRecord(NOW, NOW, "dead", "HTTP 400: bad field")
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
    seed(config_path, [interaction(1, "sms"), interaction(5, "sms"), interaction(2)], dead=False)
    since = (NOW - timedelta(days=3)).date().isoformat()
    config = ("--config", str(config_path))

    status, out, _ = run_cli(capsys, "backfill", "audit", "--since", since, *config)
    assert (status, out) == (0, "queued 1 interactions for audit\n")  # sms, within --since
    assert run_cli(capsys, "backfill", "audit", "--since", since, *config)[1] == (
        "queued 0 interactions for audit\n"
    )
    assert run_cli(capsys, "backfill", "nope", "--since", since, *config)[0] == 1
