from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailableError
from gateway.store import sql_store
from gateway.store import sqlite as sqlite_module
from gateway.store.base import CommitResult
from gateway.store.sql_store import SqlStore
from gateway.store.sqlite import SqliteStore, sqlite_path_from_url
from tests.store.conftest import RawConnection
from tests.store.factories import (
    allow_inserts,
    item,
    make_interaction,
    raw_connection,
    refuse_inserts,
)


async def test_commit_and_read_back(store: SqlStore, raw: RawConnection) -> None:
    interaction = make_interaction()
    results = await store.commit([item(interaction, "hubspot", "log")])

    assert results == [CommitResult(interaction.id, duplicate=False, interaction=interaction)]
    assert await store.get_interaction(interaction.id) == interaction
    deliveries = await store.deliveries_of(interaction.id)
    assert [(d.backend, d.state, d.attempts, d.last_error) for d in deliveries] == [
        ("hubspot", "pending", 0, None),
        ("log", "pending", 0, None),
    ]
    assert all(d.interaction_id == interaction.id for d in deliveries)
    assert all(d.next_attempt_at and d.next_attempt_at.tzinfo == UTC for d in deliveries)
    assert await store.get_interaction(make_interaction().id) is None
    if isinstance(store, SqliteStore):
        with raw() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_results_follow_item_order(store: SqlStore) -> None:
    first, second = make_interaction("a"), make_interaction("b")
    results = await store.commit([item(first, "crm"), item(second)])

    assert [r.interaction_id for r in results] == [first.id, second.id]
    assert await store.deliveries_of(second.id) == []


async def test_duplicate_of_an_earlier_commit(store: SqlStore) -> None:
    original, retry = make_interaction("m1"), make_interaction("m1")
    await store.commit([item(original, "crm")])

    assert await store.commit([item(retry, "crm", "log")]) == [
        CommitResult(original.id, duplicate=True)
    ]
    assert await store.get_interaction(retry.id) is None
    assert [d.backend for d in await store.deliveries_of(original.id)] == ["crm"]
    assert await store.deliveries_of(retry.id) == []


async def test_same_external_id_on_another_channel_is_not_a_duplicate(store: SqlStore) -> None:
    results = await store.commit(
        [item(make_interaction("m1", "web")), item(make_interaction("m1", "sms"))]
    )
    assert [r.duplicate for r in results] == [False, False]


async def test_duplicate_within_one_request(store: SqlStore) -> None:
    original, retry = make_interaction("m1"), make_interaction("m1")
    results = await store.commit([item(original, "crm"), item(retry, "crm")])

    assert results == [
        CommitResult(original.id, duplicate=False, interaction=original),
        CommitResult(original.id, duplicate=True),
    ]
    assert len(await store.deliveries_of(original.id)) == 1


async def test_duplicate_within_one_batch(store: SqlStore, batches: list[int]) -> None:
    original, retry = make_interaction("m1"), make_interaction("m1")
    first, second = await asyncio.gather(
        store.commit([item(original, "crm")]), store.commit([item(retry, "crm")])
    )

    assert batches == [2]
    assert first == [CommitResult(original.id, duplicate=False, interaction=original)]
    assert second == [CommitResult(original.id, duplicate=True)]
    assert await store.delivery_counts() == {
        "crm": {"pending": 1, "in_flight": 0, "delivered": 0, "dead": 0}
    }


async def test_concurrent_commits_share_transactions(store: SqlStore, batches: list[int]) -> None:
    interactions = [make_interaction(f"m{n}") for n in range(200)]
    results = await asyncio.gather(*(store.commit([item(i, "crm")]) for i in interactions))

    assert [r[0].interaction_id for r in results] == [i.id for i in interactions]
    assert sum(batches) == 200
    assert len(batches) < 200
    counts = await store.delivery_counts()
    assert counts["crm"]["pending"] == 200


async def test_max_batch_caps_a_transaction(db_path: Path) -> None:
    batches: list[int] = []
    store = SqliteStore(str(db_path), max_batch=8, observe_batch=batches.append)
    await store.open()
    try:
        await asyncio.gather(*(store.commit([item(make_interaction(f"m{n}"))]) for n in range(50)))
    finally:
        await store.close()

    assert sum(batches) == 50
    assert max(batches) == 8


async def test_failing_transaction_stores_nothing(store: SqlStore, raw: RawConnection) -> None:
    with raw() as conn:
        refuse_inserts(conn)
    interaction = make_interaction()

    with pytest.raises(StoreUnavailableError, match="could not commit") as caught:
        await store.commit([item(interaction, "crm")])

    assert "refused" not in str(caught.value)
    assert await store.get_interaction(interaction.id) is None
    assert await store.delivery_counts() == {}
    with raw() as conn:
        allow_inserts(conn)
    assert (await store.commit([item(interaction, "crm")]))[0].duplicate is False


async def test_failing_request_does_not_fail_its_batch(
    store: SqlStore, raw: RawConnection, batches: list[int]
) -> None:
    with raw() as conn:
        refuse_inserts(conn, "bad")
    good, partner, bad = (
        make_interaction("good"),
        make_interaction("partner"),
        make_interaction("bad"),
    )

    outcomes = await asyncio.gather(
        store.commit([item(good, "crm")]),
        store.commit([item(partner, "crm"), item(bad, "crm")]),
        return_exceptions=True,
    )

    assert batches == [2]
    assert outcomes[0] == [CommitResult(good.id, duplicate=False, interaction=good)]
    assert isinstance(outcomes[1], StoreUnavailableError)
    assert await store.get_interaction(good.id) == good
    assert await store.get_interaction(partner.id) is None  # a request is all or nothing
    assert await store.deliveries_of(partner.id) == []


async def test_transaction_aborted_by_sqlite_fails_the_whole_batch(
    sqlite_store: SqliteStore, db_path: Path, batches: list[int]
) -> None:
    store = sqlite_store
    with raw_connection(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER abort_all BEFORE INSERT ON interactions WHEN NEW.external_id = 'bad'"
            " BEGIN SELECT RAISE(ROLLBACK, 'bad'); END"
        )
    good = make_interaction("good")

    outcomes = await asyncio.gather(
        store.commit([item(good, "crm")]),
        store.commit([item(make_interaction("bad"), "crm")]),
        return_exceptions=True,
    )

    assert batches == [2]
    assert all(isinstance(o, StoreUnavailableError) for o in outcomes)
    assert await store.get_interaction(good.id) is None
    assert await store.commit([item(good, "crm")]) == [
        CommitResult(good.id, duplicate=False, interaction=good)
    ]


async def test_locked_database_fails_the_whole_batch(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "COMMIT_BUSY_S", 0.05)
    batches: list[int] = []
    store = SqliteStore(str(db_path), observe_batch=batches.append)
    await store.open()
    try:
        with raw_connection(db_path) as conn:
            conn.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            outcomes = await asyncio.gather(
                *(store.commit([item(make_interaction(f"m{n}"))]) for n in range(3)),
                return_exceptions=True,
            )
            conn.execute("ROLLBACK")
        assert batches == [3]
        assert all(isinstance(o, StoreUnavailableError) for o in outcomes)
        assert await store.delivery_counts() == {}
        assert len(await store.commit([item(make_interaction("later"))])) == 1
    finally:
        await store.close()


async def test_cancelled_caller_does_not_stop_the_writer(store: SqlStore) -> None:
    cancelled = make_interaction("cancelled")
    task = asyncio.create_task(store.commit([item(cancelled)]))
    await asyncio.sleep(0)  # let it queue its request
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    later = make_interaction("later")
    assert await store.commit([item(later)]) == [
        CommitResult(later.id, duplicate=False, interaction=later)
    ]
    assert await store.get_interaction(cancelled.id) == cancelled


async def test_failing_observer_does_not_stop_the_writer(db_path: Path) -> None:
    def observe(size: int) -> None:
        raise RuntimeError("metrics are down")

    store = SqliteStore(str(db_path), observe_batch=observe)
    await store.open()
    try:
        for n in range(2):
            assert len(await store.commit([item(make_interaction(f"m{n}"))])) == 1
    finally:
        await store.close()


async def test_close_finishes_queued_commits_then_refuses(db_path: Path) -> None:
    store = SqliteStore(str(db_path))
    await store.open()
    interactions = [make_interaction(f"m{n}") for n in range(20)]
    tasks = [asyncio.create_task(store.commit([item(i, "crm")])) for i in interactions]
    await asyncio.sleep(0)  # let every task queue its request

    await store.close()
    await store.close()

    assert all(task.result()[0].duplicate is False for task in tasks)
    with pytest.raises(StoreUnavailableError, match="not open"):
        await store.commit([item(make_interaction("late"))])
    with pytest.raises(StoreUnavailableError):
        await store.ping()
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.open()


async def test_commit_before_open_is_refused(db_path: Path) -> None:
    store = SqliteStore(str(db_path))
    with pytest.raises(StoreUnavailableError, match="not open"):
        await store.commit([item(make_interaction())])
    await store.close()


@pytest.mark.parametrize("synchronous", ["full", "normal", "off"])
async def test_data_survives_reopen(db_path: Path, synchronous: sqlite_module.Synchronous) -> None:
    interaction = make_interaction()
    first = SqliteStore(str(db_path), synchronous=synchronous)
    await first.open()
    await first.open()  # a second open is a no-op
    await first.commit([item(interaction, "crm")])
    await first.close()

    second = SqliteStore(str(db_path), synchronous=synchronous)
    await second.open()
    try:
        await second.ping()
        assert await second.get_interaction(interaction.id) == interaction
        assert [d.backend for d in await second.deliveries_of(interaction.id)] == ["crm"]
    finally:
        await second.close()


async def test_delivery_counts_per_backend_and_state(store: SqlStore, raw: RawConnection) -> None:
    assert await store.delivery_counts() == {}
    first, second = make_interaction("a"), make_interaction("b")
    await store.commit([item(first, "crm", "log"), item(second, "crm")])
    with raw() as conn:
        conn.execute(
            "UPDATE deliveries SET state = 'dead', attempts = 3, last_error = 'HTTP 400'"
            " WHERE backend = 'crm' AND interaction_id = ?",
            (first.id,),
        )

    assert await store.delivery_counts() == {
        "crm": {"pending": 1, "in_flight": 0, "delivered": 0, "dead": 1},
        "log": {"pending": 1, "in_flight": 0, "delivered": 0, "dead": 0},
    }
    dead = (await store.deliveries_of(first.id))[0]
    assert (dead.backend, dead.state, dead.attempts, dead.last_error) == (
        "crm",
        "dead",
        0,  # `attempts` counts the attempt log, and this raw update logged none
        "HTTP 400",
    )


@pytest.fixture
def not_a_database(db_path: Path) -> Path:
    db_path.parent.mkdir()
    db_path.write_bytes(b"this is not a database" * 100)
    return db_path


async def test_open_refuses_a_file_that_is_not_a_database(not_a_database: Path) -> None:
    store = SqliteStore(str(not_a_database))
    with pytest.raises(StoreUnavailableError, match="cannot open"):
        await store.open()
    await store.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///gateway.db", "gateway.db"),
        ("sqlite:///data/gateway.db", "data/gateway.db"),
        ("sqlite:////var/lib/gateway/gateway.db", "/var/lib/gateway/gateway.db"),
    ],
)
def test_sqlite_path_from_url(url: str, path: str) -> None:
    assert sqlite_path_from_url(url) == path


@pytest.mark.parametrize(
    "url",
    [
        "gateway.db",
        "sqlite://",
        "sqlite:///",
        "sqlite://host/x.db",
        "postgresql://h/db",
        "sqlite:///x.db?mode=ro",
    ],
)
def test_sqlite_path_from_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///relative/path\.db"):
        sqlite_path_from_url(url)


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        (":memory:", {}, "file path"),
        ("x.db", {"max_batch": 0}, "max_batch"),
        ("x.db", {"synchronous": "extra"}, "synchronous"),
    ],
)
def test_constructor_rejects(path: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SqliteStore(path, **options)  # type: ignore[arg-type]
