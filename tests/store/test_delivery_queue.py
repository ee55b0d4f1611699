from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailableError
from gateway.schema import Interaction
from gateway.store import sql_store
from gateway.store.base import (
    AttemptOutcome,
    AttemptRecord,
    CommitItem,
    DeliveryUpdate,
    QueueStats,
    StoredAttempt,
)
from gateway.store.sql import utc_text
from gateway.store.sql_store import SqlStore
from gateway.store.sqlite import SqliteStore
from tests.store.conftest import RawConnection
from tests.store.factories import make_interaction, raw_connection

LEASE = timedelta(minutes=1)
_external_ids = count()

# Pending or in-flight rows whose `waiting` flag disagrees with its definition: an earlier
# pending or in-flight row of the same (backend, order_key) exists.
_INCONSISTENT_HEADS = """
    SELECT id FROM deliveries AS d
    WHERE state IN ('pending', 'in_flight') AND waiting <> CASE WHEN
        d.order_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM deliveries AS p
            WHERE p.backend = d.backend AND p.order_key = d.order_key
                AND p.state IN ('pending', 'in_flight') AND p.id < d.id) THEN 1 ELSE 0 END
"""


def inconsistent_heads(raw: RawConnection) -> list[int]:
    with raw() as conn:
        return [row_id for (row_id,) in conn.execute(_INCONSISTENT_HEADS)]


@pytest.fixture(autouse=True)
def heads_stay_consistent(request: pytest.FixtureRequest, db_path: Path) -> Iterator[None]:
    """After every test, the triggers' `waiting` flags must match what they stand for."""
    fixture: RawConnection | None = None
    if "store" in request.fixturenames:
        fixture = request.getfixturevalue("raw")
    yield
    if fixture is not None:
        assert inconsistent_heads(fixture) == []
    elif db_path.exists():  # a SQLite store the test made itself
        assert inconsistent_heads(partial(raw_connection, db_path)) == []


def now() -> datetime:
    return datetime.now(UTC)


def interaction(*, received_at: datetime | None = None) -> Interaction:
    return make_interaction(f"m{next(_external_ids)}", received_at=received_at)


async def queue(store: SqlStore, *keys: str | None, backend: str = "crm") -> list[int]:
    """Commit one interaction per order key (None: unordered); return their delivery ids."""
    interactions = [interaction() for _ in keys]
    await store.commit(
        [CommitItem(i, (backend,), key) for i, key in zip(interactions, keys, strict=True)]
    )
    return [(await store.deliveries_of(i.id))[0].id for i in interactions]


async def claim_ids(store: SqlStore, limit: int = 100, *, at: datetime | None = None) -> list[int]:
    return [c.id for c in await store.claim("crm", limit, now=at or now(), lease=LEASE)]


def attempt(outcome: AttemptOutcome = "retry", error: str | None = "HTTP 503") -> AttemptRecord:
    moment = now()
    return AttemptRecord(moment, moment + timedelta(milliseconds=5), outcome, error)


def delivered(delivery_id: int) -> DeliveryUpdate:
    return DeliveryUpdate(delivery_id, "delivered", (attempt("delivered", None),))


def dead(delivery_id: int, error: str = "HTTP 400") -> DeliveryUpdate:
    return DeliveryUpdate(delivery_id, "dead", (attempt("dead", error),), error=error)


def retry(delivery_id: int, at: datetime) -> DeliveryUpdate:
    return DeliveryUpdate(
        delivery_id, "pending", (attempt(),), next_attempt_at=at, error="HTTP 503"
    )


def retry_now(delivery_id: int) -> DeliveryUpdate:
    return retry(delivery_id, now())


async def finish(store: SqlStore, *updates: DeliveryUpdate) -> None:
    """Claim what `updates` name, then record them."""
    wanted = {u.delivery_id for u in updates}
    assert wanted <= set(await claim_ids(store))
    await store.record(updates)


async def state_of(store: SqlStore, delivery_id: int) -> str:
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    return delivery.state


async def test_claim_leases_due_deliveries_oldest_due_first(store: SqlStore) -> None:
    first, second, later = await queue(store, None, None, None)
    await queue(store, None, backend="log")
    await finish(store, retry(first, now() + timedelta(seconds=30)))
    await store.record([retry(second, now() - timedelta(hours=1))])  # already leased above
    await store.record([retry(later, now() + timedelta(hours=1))])
    moment = now() + timedelta(minutes=1)

    claimed = await store.claim("crm", 10, now=moment, lease=LEASE)

    assert [c.id for c in claimed] == [second, first]  # by next_attempt_at, not id
    assert [c.attempts for c in claimed] == [1, 1]
    leased = await store.get_delivery(first)
    assert leased is not None
    assert (leased.state, leased.attempts, leased.last_error) == ("in_flight", 1, "HTTP 503")
    assert await store.claim("crm", 10, now=moment, lease=LEASE) == []
    assert await state_of(store, later) == "pending"
    assert (await store.delivery_counts())["log"]["pending"] == 1


async def test_claim_returns_the_interaction_and_respects_the_limit(store: SqlStore) -> None:
    stored = interaction()
    await store.commit([CommitItem(stored, ("crm",))])
    await queue(store, None, None)

    [claimed] = await store.claim("crm", 1, now=now(), lease=LEASE)

    assert claimed.interaction == stored
    assert claimed.attempts == 0
    assert claimed.created_at.tzinfo is not None
    assert claimed.created_at <= now()
    assert len(await claim_ids(store)) == 2


async def test_concurrent_claims_never_share_a_delivery(store: SqlStore) -> None:
    ids = await queue(store, *[None] * 30, *[f"customer-{n}" for n in range(30)])

    results = await asyncio.gather(*(claim_ids(store, 7) for _ in range(12)))

    claimed = [i for result in results for i in result]
    assert sorted(claimed) == ids


async def test_only_the_head_of_an_ordered_queue_is_claimed(store: SqlStore) -> None:
    a1, b1, a2, n1, a3, b2, n2 = await queue(store, "a", "b", "a", None, "a", "b", None)

    assert await claim_ids(store) == [a1, b1, n1, n2]

    await store.record([delivered(a1), retry(b1, now() + timedelta(hours=1))])
    assert await claim_ids(store) == [a2]  # b2 waits while b1 is due later

    await store.record([dead(a2)])  # a poison message no longer blocks its queue
    assert await claim_ids(store) == [a3]
    assert await state_of(store, b2) == "pending"


async def test_expired_lease_is_claimed_again_before_its_successor(store: SqlStore) -> None:
    head, successor = await queue(store, "a", "a")
    assert await claim_ids(store) == [head]

    assert await claim_ids(store, at=now() + LEASE / 2) == []
    assert await claim_ids(store, at=now() + 2 * LEASE) == [head]
    assert await state_of(store, successor) == "pending"


async def test_record_counts_and_logs_every_attempt(store: SqlStore, raw: RawConnection) -> None:
    stored = interaction()
    await store.commit([CommitItem(stored, ("crm",))])
    [delivery_id] = await claim_ids(store)
    tries = (attempt(), attempt(error="HTTP 502"))
    due = now() + timedelta(minutes=5)

    await store.record(
        [DeliveryUpdate(delivery_id, "pending", tries, next_attempt_at=due, error="HTTP 502")]
    )

    retried = await store.get_delivery(delivery_id)
    assert retried is not None
    assert (retried.state, retried.attempts, retried.last_error) == ("pending", 2, "HTTP 502")
    assert retried.next_attempt_at == due
    assert await claim_ids(store) == []

    [claimed] = await store.claim("crm", 1, now=due, lease=LEASE)
    assert claimed.attempts == 2
    success = attempt("delivered", None)
    await store.record([DeliveryUpdate(delivery_id, "delivered", (success,))])

    done = await store.get_delivery(delivery_id)
    assert done is not None
    assert (done.state, done.attempts, done.last_error, done.next_attempt_at) == (
        "delivered",
        3,
        None,
        None,
    )
    assert await store.attempts_of(stored.id) == [
        StoredAttempt(
            delivery_id, 1, tries[0].started_at, tries[0].finished_at, "retry", "HTTP 503"
        ),
        StoredAttempt(
            delivery_id, 2, tries[1].started_at, tries[1].finished_at, "retry", "HTTP 502"
        ),
        StoredAttempt(delivery_id, 3, success.started_at, success.finished_at, "delivered", None),
    ]
    with raw() as conn:
        row = conn.execute("SELECT delivered_at, lease_until FROM deliveries").fetchone()
    assert row == (utc_text(success.finished_at), None)


async def test_pending_update_without_a_due_time_is_due_at_once(store: SqlStore) -> None:
    [delivery_id] = await queue(store, None)
    await claim_ids(store)

    await store.record([DeliveryUpdate(delivery_id, "pending", (attempt(),))])

    assert await claim_ids(store) == [delivery_id]


async def test_record_leaves_deliveries_no_longer_in_flight_alone(store: SqlStore) -> None:
    released, finished = await queue(store, None, None)
    await claim_ids(store)
    await store.release([released])
    await store.record([delivered(finished)])

    await store.record([delivered(released), dead(finished)])

    again, done = await store.list_deliveries()
    assert (again.id, again.state, again.attempts) == (released, "pending", 0)
    assert (done.id, done.state, done.attempts) == (finished, "delivered", 1)
    assert await store.attempts_of(again.interaction_id) == []
    assert len(await store.attempts_of(done.interaction_id)) == 1


async def test_release_returns_leases_untouched(store: SqlStore) -> None:
    head, successor = await queue(store, "a", "a")
    await claim_ids(store)
    await store.record([retry(head, now() - timedelta(seconds=1))])
    [head_again] = await claim_ids(store)
    before = await store.get_delivery(head)

    await store.release([head_again, successor])  # the successor is not leased: left alone

    after = await store.get_delivery(head)
    assert before is not None
    assert after is not None
    assert (after.state, after.attempts) == ("pending", 1)
    assert after.next_attempt_at == before.next_attempt_at
    assert await claim_ids(store) == [head]


async def test_recover_releases_crashed_leases_and_locks_the_store(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    store = sqlite_store
    first, second, third = await queue(store, None, None, None)
    await claim_ids(store, 2)

    assert await store.recover() == 2
    assert await store.recover() == 0  # the lock is this store's already
    assert [await state_of(store, i) for i in (first, second, third)] == ["pending"] * 3

    other = SqliteStore(str(db_path))
    await other.open()
    try:
        with pytest.raises(StoreUnavailableError, match=f"another gateway is serving {db_path}"):
            await other.recover()
        assert len(await other.list_deliveries()) == 3  # the CLI's kind of use needs no lock
        await store.close()
        assert await other.recover() == 0
    finally:
        await other.close()


async def test_replay_gives_dead_letters_a_fresh_budget(store: SqlStore) -> None:
    one, two, pending = await queue(store, None, None, None)
    other_backend = (await queue(store, None, backend="log"))[0]
    await finish(store, dead(one), dead(two, "HTTP 422"))
    await store.claim("log", 1, now=now(), lease=LEASE)
    await store.record([dead(other_backend)])
    moment = now() + timedelta(hours=1)

    assert await store.replay(now=moment, delivery_ids=[one, pending]) == 1
    assert await store.replay(now=moment, backend="log") == 1
    assert await store.replay(now=moment, delivery_ids=[two], backend="log") == 0
    assert await store.replay(now=moment) == 1
    assert await store.replay(now=moment) == 0

    replayed = [await store.get_delivery(i) for i in (one, two, other_backend)]
    assert [(d.state, d.attempts, d.next_attempt_at) for d in replayed if d] == [
        ("pending", 1, moment)  # `attempts` counts the attempt log, which a replay keeps
    ] * 3
    assert [d.last_error for d in replayed if d] == ["HTTP 400", "HTTP 422", "HTTP 400"]
    claimed = await store.claim("crm", 10, now=moment, lease=LEASE)  # its lease has expired
    assert [(c.id, c.attempts) for c in claimed] == [(pending, 0), (one, 0), (two, 0)]
    assert [c.created_at == moment for c in claimed] == [False, True, True]
    await store.record([delivered(one)])
    log = await store.attempts_of(claimed[1].interaction.id)
    assert [(a.number, a.outcome) for a in log] == [(1, "dead"), (2, "delivered")]


async def test_replayed_head_goes_before_its_successors(store: SqlStore) -> None:
    head, successor = await queue(store, "a", "a")
    await finish(store, dead(head))

    await store.replay(now=now())

    assert await claim_ids(store) == [head]
    assert await state_of(store, successor) == "pending"


async def test_deleting_a_head_hands_its_queue_on(store: SqlStore, raw: RawConnection) -> None:
    head, successor = await queue(store, "a", "a")
    doomed = await store.get_delivery(head)
    assert doomed is not None
    with raw() as conn:  # an erasure, say
        if isinstance(store, SqliteStore):
            conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM interactions WHERE id = ?", (doomed.interaction_id,))

    assert await claim_ids(store) == [successor]


async def test_backfill_queues_what_the_plan_routes(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "CHUNK", 2)  # several chunks
    start = now() - timedelta(days=1)
    old = interaction(received_at=start - timedelta(seconds=1))
    skipped, routed = interaction(received_at=start), interaction(received_at=start)
    fresh = [interaction() for _ in range(4)]
    await store.commit([CommitItem(i, ("log",)) for i in (old, skipped, routed, *fresh[1:])])
    await store.commit([CommitItem(fresh[0], ("log", "crm"))])  # already queued for crm
    planned: list[str] = []

    def plan(i: Interaction) -> tuple[bool, str | None]:
        planned.append(i.id)
        return i.id != skipped.id, "same-customer"

    queued = await store.backfill("crm", since=start, now=now(), plan=plan)

    assert queued == 4
    assert planned == [skipped.id, routed.id, *(i.id for i in fresh[1:])]
    assert [d.backend for d in await store.deliveries_of(old.id)] == ["log"]
    assert [d.backend for d in await store.deliveries_of(skipped.id)] == ["log"]
    claimed = await store.claim("crm", 10, now=now(), lease=LEASE)
    assert [c.interaction for c in claimed] == [fresh[0], routed]  # one key: its head only
    assert await store.backfill("crm", since=start, now=now(), plan=plan) == 0


async def test_backfilled_deliveries_keep_their_order_keys(store: SqlStore) -> None:
    first, second = interaction(), interaction()
    await store.commit([CommitItem(first, ()), CommitItem(second, ())])

    queued = await store.backfill(
        "crm", since=now() - timedelta(hours=1), now=now(), plan=lambda i: (True, "c1")
    )

    assert queued == 2
    [claimed] = await store.claim("crm", 10, now=now(), lease=LEASE)
    assert claimed.interaction == first


async def test_queue_stats(store: SqlStore) -> None:
    soon, due, later, leased, gone, done = await queue(store, *[None] * 6)
    [log_done] = await queue(store, None, backend="log")
    await store.claim("log", 1, now=now(), lease=LEASE)
    await store.record([delivered(log_done)])
    await claim_ids(store)
    overdue = now() - timedelta(seconds=90)
    await store.record(
        [
            retry(soon, overdue + timedelta(seconds=30)),
            retry(due, overdue),
            retry(later, now() + timedelta(hours=1)),
            dead(gone),
            delivered(done),
        ]
    )
    assert await state_of(store, leased) == "in_flight"
    moment = now()

    stats = await store.queue_stats(moment)

    assert stats.keys() == {"crm", "log"}
    assert stats["log"] == QueueStats(pending=0, dead=0, oldest_due_s=0.0)
    assert (stats["crm"].pending, stats["crm"].dead) == (4, 1)
    assert stats["crm"].oldest_due_s == pytest.approx((moment - overdue).total_seconds())
    assert (await store.queue_stats(overdue - timedelta(seconds=1)))["crm"].oldest_due_s == 0.0


async def test_prune_deletes_only_finished_old_interactions(
    store: SqlStore, raw: RawConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "CHUNK", 2)  # kept rows must not stall the chunks
    old = now() - timedelta(days=10)
    pending, dead_letter, done, bare, done_too = (
        interaction(received_at=old + timedelta(seconds=n)) for n in range(5)
    )
    recent = interaction()
    await store.commit(
        [
            CommitItem(pending, ("crm",)),
            CommitItem(dead_letter, ("crm",)),
            CommitItem(done, ("crm", "log")),
            CommitItem(bare, ()),
            CommitItem(done_too, ("crm",)),
            CommitItem(recent, ("crm",)),
        ]
    )
    crm = {i.id: (await store.deliveries_of(i.id))[0].id for i in (pending, dead_letter, recent)}
    await store.claim("log", 1, now=now(), lease=LEASE)
    await store.record([delivered((await store.deliveries_of(done.id))[1].id)])
    claimed = await claim_ids(store)
    await store.release([crm[pending.id]])
    await store.record(
        [dead(crm[dead_letter.id])]
        + [delivered(i) for i in claimed if i not in {crm[pending.id], crm[dead_letter.id]}]
    )

    assert await store.prune(now() - timedelta(days=1)) == 3

    for gone in (done, bare, done_too):
        assert await store.get_interaction(gone.id) is None
        assert await store.deliveries_of(gone.id) == []
    for kept in (pending, dead_letter, recent):
        assert await store.get_interaction(kept.id) == kept
    with raw() as conn:
        logged = {d for (d,) in conn.execute("SELECT delivery_id FROM delivery_attempts")}
    assert logged == {crm[dead_letter.id], crm[recent.id]}
    assert await store.prune(now() - timedelta(days=1)) == 0


async def test_backfill_starts_where_arrivals_reach_since(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "CHUNK", 3)
    start = now() - timedelta(days=1)
    before = [interaction(received_at=start - timedelta(hours=5 - n)) for n in range(4)]
    late = interaction(received_at=start + timedelta(seconds=1))
    # Received before `late` but committed after it, within the slack.
    just_before = interaction(received_at=start - timedelta(minutes=5))
    within = [interaction(received_at=start + timedelta(minutes=n)) for n in range(5)]
    for one in (*before, late, just_before, *within):  # the search looks at just_before first
        await store.commit([CommitItem(one, ())])
    planned: list[str] = []

    def plan(i: Interaction) -> tuple[bool, str | None]:
        planned.append(i.id)
        return True, None

    assert await store.backfill("crm", since=start, now=now(), plan=plan) == 6
    assert planned == [late.id, *(i.id for i in within)]


async def test_prune_ends_its_scan_past_the_arrival_slack(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "CHUNK", 2)
    cutoff = now() - timedelta(days=1)
    old, early = interaction(received_at=cutoff - timedelta(hours=1)), interaction()
    just_after = interaction(received_at=cutoff + timedelta(seconds=1))
    late = interaction(received_at=cutoff - timedelta(seconds=1))  # a late commit, within slack
    # Received before the cutoff but stored after rows a day newer: a clock stepped back.
    stepped_back = interaction(received_at=cutoff - timedelta(hours=2))
    for one in (old, just_after, late, early, stepped_back):
        await store.commit([CommitItem(one, ())])

    assert await store.prune(cutoff) == 2

    assert await store.get_interaction(old.id) is None
    assert await store.get_interaction(late.id) is None
    for kept in (just_after, early, stepped_back):
        assert await store.get_interaction(kept.id) == kept


async def test_list_deliveries_pages_by_id(store: SqlStore) -> None:
    ids = await queue(store, None, None, None, None)
    log_id = (await queue(store, None, backend="log"))[0]
    await finish(store, dead(ids[1]), dead(ids[3]))

    first = await store.list_deliveries(limit=2)
    rest = await store.list_deliveries(limit=10, after_id=first[-1].id)

    assert [d.id for d in first + rest] == [*ids, log_id]
    assert [d.id for d in await store.list_deliveries(state="dead", limit=1)] == [ids[1]]
    assert [d.id for d in await store.list_deliveries(state="dead", after_id=ids[1])] == [ids[3]]
    assert [d.id for d in await store.list_deliveries(state="pending", backend="log")] == [log_id]
    assert await store.list_deliveries(state="dead", backend="log") == []
    assert await store.get_delivery(log_id + 1) is None
    assert await store.attempts_of(make_interaction().id) == []


async def test_queue_operations_need_an_open_store(db_path: Path) -> None:
    store = SqliteStore(str(db_path))
    with pytest.raises(StoreUnavailableError, match="not open"):
        await store.claim("crm", 1, now=now(), lease=LEASE)
    with pytest.raises(StoreUnavailableError, match="not open"):
        await store.recover()
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailableError, match="not open"):
        await store.record([])
    with pytest.raises(StoreUnavailableError):
        await store.list_deliveries()


async def test_locked_database_fails_a_claim(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "BOOKKEEPING_BUSY_S", 0.05)
    store = SqliteStore(str(db_path))
    await store.open()
    try:
        await queue(store, None)
        with raw_connection(db_path) as conn:
            conn.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StoreUnavailableError, match="could not be written"):
                await claim_ids(store)
            conn.execute("ROLLBACK")
        assert len(await claim_ids(store)) == 1
    finally:
        await store.close()


async def test_random_operations_keep_every_queue_in_order(
    store: SqlStore, raw: RawConnection
) -> None:
    """Whatever happens, a claim only returns rows with no unfinished predecessor."""
    rng = random.Random(7)
    keys: dict[int, str | None] = {}
    in_flight: set[int] = set()
    for _ in range(150):
        action = rng.choice(["queue", "claim", "record", "release", "replay"])
        if action == "queue":
            new = rng.choices(["a", "b", "c", None], k=rng.randint(1, 3))
            keys.update(zip(await queue(store, *new), new, strict=True))
        elif action == "claim":
            active = {
                d.id
                for d in await store.list_deliveries(limit=10_000)
                if d.state in {"pending", "in_flight"}
            }
            claimed = await claim_ids(store, rng.randint(1, 4))
            for delivery_id in claimed:
                key = keys[delivery_id]
                assert key is None or not any(
                    keys[other] == key for other in active if other < delivery_id
                )
            in_flight.update(claimed)
        elif action == "record" and in_flight:
            chosen = rng.sample(sorted(in_flight), rng.randint(1, len(in_flight)))
            outcome = rng.choice([delivered, dead, retry_now])
            await store.record([outcome(i) for i in chosen])
            in_flight.difference_update(chosen)
        elif action == "release" and in_flight:
            await store.release(sorted(in_flight))
            in_flight.clear()
        elif action == "replay":
            await store.replay(now=now())
        assert inconsistent_heads(raw) == []


async def test_queue_stats_lag_ignores_deliveries_waiting_behind_their_head(
    store: SqlStore,
) -> None:
    head, successor = await queue(store, "a", "a")
    await finish(store, retry(head, now() + timedelta(hours=1)))

    stats = (await store.queue_stats(now() + timedelta(minutes=5)))["crm"]

    assert (stats.pending, stats.oldest_due_s) == (2, 0.0)  # the successor is not due: it waits
    assert await state_of(store, successor) == "pending"


async def test_claim_reuses_what_was_just_committed_and_parses_after_a_restart(
    store: SqlStore, reopen: Callable[[], SqlStore]
) -> None:
    committed = interaction()
    await store.commit([CommitItem(committed, ("crm",), None)])

    [fresh] = await store.claim("crm", 10, now=now(), lease=LEASE)
    assert fresh.interaction is committed  # no JSON parsed again on the hot path
    await store.release([fresh.id])
    await store.close()

    reopened = reopen()
    await reopened.open()
    try:
        [parsed] = await reopened.claim("crm", 10, now=now(), lease=LEASE)
    finally:
        await reopened.close()
    assert parsed.interaction is not committed
    assert parsed.interaction == committed
