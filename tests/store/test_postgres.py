"""What only PostgreSQL's store has: other instances on the same database, a server that can go
away, and the schema version table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from gateway.errors import StoreUnavailableError
from gateway.schema import Identity
from gateway.store.base import CommitItem, DeliveryUpdate
from gateway.store.postgres import PostgresStore
from tests.store.factories import item, make_interaction

LEASE = timedelta(minutes=1)


@pytest.fixture
async def two(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two gateway instances' stores on one database."""
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()


def from_phone(external_id: str, phone: str) -> CommitItem:
    return item(make_interaction(external_id, sender=[Identity(kind="phone", value=phone)]), "crm")


async def test_two_instances_seeing_a_new_phone_at_once_make_one_customer(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = two
    for n in range(20):
        phone = f"+1555100{n:04d}"
        results = await asyncio.gather(
            *(
                store.commit([from_phone(f"{name}{n}-{k}", phone)])
                for k in range(3)
                for name, store in (("a", first), ("b", second))
            )
        )
        owners = {result.interaction.customer_id for [result] in results if result.interaction}
        assert len(owners) == 1, f"{phone} became {owners}"
        customer = await first.find_customer(Identity(kind="phone", value=phone))
        assert customer is not None
        assert owners == {customer.id}


async def test_the_same_webhook_on_two_instances_is_stored_once(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = two
    retried = make_interaction("m1")
    results = await asyncio.gather(
        first.commit([item(retried, "crm")]), second.commit([item(retried, "crm")])
    )
    assert sorted(result.duplicate for [result] in results) == [False, True]
    assert {result.interaction_id for [result] in results} == {retried.id}
    assert len(await first.deliveries_of(retried.id)) == 1


async def test_a_lease_keeps_other_instances_off_until_it_expires(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = two
    [stored] = await first.commit([item(make_interaction("m1"), "crm")])
    now = datetime.now(UTC)
    [claimed] = await first.claim("crm", 10, now=now, lease=LEASE)

    assert await second.claim("crm", 10, now=now, lease=LEASE) == []
    assert await second.recover() == 0  # a live instance's lease is not released
    assert await second.claim("crm", 10, now=now, lease=LEASE) == []
    # The first instance dies: its lease runs out, and the other takes the delivery.
    [taken] = await second.claim("crm", 10, now=now + LEASE + timedelta(seconds=1), lease=LEASE)
    assert (taken.id, taken.interaction.id) == (claimed.id, stored.interaction_id)
    await second.record([DeliveryUpdate(taken.id, "delivered", ())])
    [delivery] = await first.deliveries_of(stored.interaction_id)
    assert delivery.state == "delivered"


async def test_one_customers_deliveries_go_one_at_a_time_across_instances(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = two
    phone = "+15552000001"
    await first.commit([from_phone("m1", phone)])
    await second.commit([from_phone("m2", phone)])
    now = datetime.now(UTC)
    [head] = await first.claim("crm", 10, now=now, lease=LEASE)
    assert head.interaction.external_id == "m1"
    assert await second.claim("crm", 10, now=now, lease=LEASE) == []  # m2 waits behind m1
    await first.record([DeliveryUpdate(head.id, "delivered", ())])
    [next_one] = await second.claim("crm", 10, now=now, lease=LEASE)
    assert next_one.interaction.external_id == "m2"


async def test_a_schema_newer_than_this_gateway_is_refused(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE gateway_schema SET version = 999")
    with pytest.raises(StoreUnavailableError, match=r"schema version 999 .* newer gateway"):
        await PostgresStore(postgres_url).open()


async def test_a_lost_connection_fails_one_commit_then_reconnects(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await store.commit([item(make_interaction("before"))])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'channel-gateway %'"
            )
        with pytest.raises(StoreUnavailableError):
            await store.commit([item(make_interaction("during"))])
        await store.ping()  # the writer reconnected
        [after] = await store.commit([item(make_interaction("after"))])
        assert after.duplicate is False
        assert await store.get_interaction(after.interaction_id) is not None  # so did the reader
    finally:
        await store.close()


async def test_a_server_that_does_not_answer_is_a_clear_error(unused_tcp_port: int) -> None:
    store = PostgresStore(f"postgresql://gw:s3cret@127.0.0.1:{unused_tcp_port}/gateway")
    with pytest.raises(StoreUnavailableError) as caught:
        await store.open()
    assert f"postgresql://127.0.0.1:{unused_tcp_port}/gateway" in str(caught.value)
    assert "s3cret" not in str(caught.value)


async def test_one_instance_at_a_time_gives_a_backend_its_merges(postgres_url: str) -> None:
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    try:
        assert await first.merges_after("crm", 10) == []  # the first leads this stream now
        assert await second.merges_after("other", 10) == []  # and the second that one
        await first.commit([from_phone("p1", "+15553000001")])
        await first.commit(
            [item(make_interaction("e1", sender=[Identity(kind="email", value="a@example.com")]))]
        )
        customer = await first.find_customer(Identity(kind="phone", value="+15553000001"))
        assert customer is not None
        await first.link_identity(
            customer.id, Identity(kind="email", value="a@example.com"), now=datetime.now(UTC)
        )
        [merge] = await first.merges_after("crm", 10)
        assert await second.merges_after("crm", 10) == []
        assert [m.id for m in await second.merges_after("other", 10)] == [merge.id]
        await first.close()  # its session ends: the other takes over where it left off
        assert [m.id for m in await second.merges_after("crm", 10)] == [merge.id]
    finally:
        await first.close()
        await second.close()
