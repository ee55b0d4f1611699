"""Storage faults under a running `gateway serve`: its files deleted or replaced, a full disk, an
external write lock.

Each test checks the promise from the provider's and the operator's side: while the store cannot
commit, a webhook is answered 503 within the budget (the issue's ~2 s; 4 s here, on a loaded VM)
and `/readyz` is 503; once the fault clears, the gateway is ready again; and every interaction it
acknowledged with a 2xx is in the store after a restart.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.testing import GatewayProcess, free_port
from tests.payloads import message, webhook_backend
from tests.process import configure, post_message

BUDGET_S = 4.0
"""How long a webhook or /readyz may take to answer during a fault."""


class Ledger:
    """Posts messages and keeps the ids of those acknowledged with a 2xx."""

    def __init__(self, gateway: GatewayProcess) -> None:
        self.gateway = gateway
        self.acknowledged: set[str] = set()
        self.refused = 0
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    def post(self) -> tuple[int, float]:
        """Post one message; return its status and how long the answer took."""
        with self._lock:
            n = next(self._numbers)
        started = time.monotonic()
        status, body = post_message(self.gateway, message(f"m-{n}", phone=f"+1555{n % 20:07d}"))
        elapsed = time.monotonic() - started
        with self._lock:
            if 200 <= status < 300:
                self.acknowledged.update(body["ids"])
            else:
                assert status == 503, body
                assert body["error"]["code"] == "store_unavailable", body
                self.refused += 1
        return status, elapsed

    def post_ok(self, count: int) -> None:
        for _ in range(count):
            assert self.post()[0] == 200

    def refused_in_budget(self) -> None:
        """Post once: it must be refused with 503 within the budget."""
        status, elapsed = self.post()
        assert (status, elapsed < BUDGET_S) == (503, True), elapsed


def readyz(gateway: GatewayProcess) -> tuple[int, list[str], float]:
    """Return /readyz's status, its problems and how long it took."""
    started = time.monotonic()
    status, body = gateway.get(gateway.port, "/readyz")
    return status, body.get("problems", []), time.monotonic() - started


def not_ready_in_budget(gateway: GatewayProcess, because: str) -> None:
    status, problems, elapsed = readyz(gateway)
    assert status == 503, problems
    assert elapsed < BUDGET_S, elapsed
    assert any(p.startswith("store: ") and because in p for p in problems), problems


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def ready(gateway: GatewayProcess) -> bool:
    return readyz(gateway)[0] == 200


def stored_ids(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM interactions")}


def serve(tmp_path: Path, db_dir: Path, backends: dict[str, Any] | None = None) -> GatewayProcess:
    """Configure a gateway whose database lives in `db_dir`."""
    gateway = configure(tmp_path, backends)
    config = yaml.safe_load(gateway.config_path.read_text())
    config["storage"]["url"] = f"sqlite:///{db_dir / 'gateway.db'}"
    gateway.config_path.write_text(yaml.safe_dump(config))
    return gateway


def restarted_store_has_everything_acknowledged(
    gateway: GatewayProcess, db: Path, ledger: Ledger
) -> None:
    """Stop the gateway if it runs, start it again, stop it: nothing acknowledged is missing."""
    if gateway.process is not None and gateway.process.poll() is None:
        assert gateway.stop(signal.SIGTERM) == 0, gateway.log()
    gateway.start()  # waits for /readyz 200
    assert gateway.stop(signal.SIGTERM) == 0, gateway.log()
    missing = ledger.acknowledged - stored_ids(db)
    assert not missing, f"{len(missing)} acknowledged interactions lost"


@pytest.fixture
def running() -> Iterator[list[GatewayProcess]]:
    """Gateways to kill at teardown if a test failed with them running."""
    started: list[GatewayProcess] = []
    yield started
    for gateway in started:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait()


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_database_files_deleted_or_replaced(
    tmp_path: Path, running: list[GatewayProcess], fault: str
) -> None:
    db_dir = tmp_path / "data"
    db = db_dir / "gateway.db"
    gateway = serve(tmp_path, db_dir)
    running.append(gateway)
    gateway.start()
    ledger = Ledger(gateway)
    ledger.post_ok(10)

    # Webhooks keep arriving while the operator's mistake happens.
    stop = threading.Event()

    def keep_posting() -> None:
        while not stop.is_set():
            ledger.post()

    with ThreadPoolExecutor(2) as pool:
        posters = [pool.submit(keep_posting) for _ in range(2)]
        time.sleep(0.3)
        backup = tmp_path / "backup"
        backup.mkdir()
        for suffix in ("", "-wal"):  # the originals, kept by hard links, are the backup
            os.link(f"{db}{suffix}", backup / f"gateway.db{suffix}")
        if fault == "deleted":
            for suffix in ("", "-wal", "-shm"):
                os.unlink(f"{db}{suffix}")
        else:  # an old copy put in its place
            shutil.copyfile(db, tmp_path / "old.db")
            os.replace(tmp_path / "old.db", db)
        time.sleep(0.5)
        stop.set()
        for poster in posters:
            poster.result()

    for _ in range(3):
        ledger.refused_in_budget()
    not_ready_in_budget(gateway, "deleted or replaced under the running gateway")
    assert "CRITICAL" in gateway.log()
    assert "was deleted or replaced" in gateway.log()
    assert gateway.stop(signal.SIGTERM) == 0, gateway.log()

    # Recovery is a restart; restoring the files first keeps what was acknowledged.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
        if (kept := backup / f"gateway.db{suffix}").exists():
            os.link(kept, f"{db}{suffix}")
    restarted_store_has_everything_acknowledged(gateway, db, ledger)
    assert ledger.refused >= 3


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, room for the database and its reused WAL (needs root); unmounted after."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (CI runs as root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file that takes every free byte of `disk`; return it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


def test_disk_full(tmp_path: Path, small_disk: Path, running: list[GatewayProcess]) -> None:
    gateway = serve(tmp_path, small_disk)
    running.append(gateway)
    gateway.start()
    ledger = Ledger(gateway)
    ledger.post_ok(10)

    filler = fill(small_disk)
    for _ in range(300):  # what still fits in the WAL (reused in place) commits; then 503
        status, elapsed = ledger.post()
        assert elapsed < BUDGET_S, elapsed
        if status == 503:
            break
    assert ledger.refused == 1
    ledger.refused_in_budget()
    not_ready_in_budget(gateway, "full")
    assert "database or disk is full" in gateway.log()

    filler.unlink()  # space freed: ready again, without a restart
    eventually(lambda: ready(gateway))
    ledger.post_ok(10)
    restarted_store_has_everything_acknowledged(gateway, small_disk / "gateway.db", ledger)


def test_external_write_lock(tmp_path: Path, running: list[GatewayProcess]) -> None:
    db_dir = tmp_path / "data"
    db = db_dir / "gateway.db"
    # A receiver that is down: the delivery workers claim and record retries all the time.
    retry = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 10_000}
    down = webhook_backend(f"http://127.0.0.1:{free_port()}/events", retry=retry)
    gateway = serve(tmp_path, db_dir, {"hook": down})
    running.append(gateway)
    gateway.start()
    ledger = Ledger(gateway)
    ledger.post_ok(20)

    with closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: ledger.post(), range(16)))
        assert [status for status, _ in answers] == [503] * 16
        assert max(elapsed for _, elapsed in answers) < BUDGET_S, answers
        not_ready_in_budget(gateway, "")
        held_until = time.monotonic() + 4.0
        while time.monotonic() < held_until:
            ledger.refused_in_budget()
            not_ready_in_budget(gateway, "")
        other.execute("ROLLBACK")

    eventually(lambda: ready(gateway))
    ledger.post_ok(10)
    restarted_store_has_everything_acknowledged(gateway, db, ledger)
