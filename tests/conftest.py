"""Shared fixtures: the gateway's own pytest plugin, a signed generic-channel config, the
webhook receiver and the fake mail provider replies are sent through."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.payloads import HOOK_SECRET, SECRET
from tests.receiver import Receiver

if TYPE_CHECKING:
    from gateway.store.sql_store import SqlStore
    from gateway.testing import GatewayFactory, GatewayUnderTest
    from tests.sending_channel import FakeMailApi

pytest_plugins = ["gateway.testing"]


@pytest.fixture
def config() -> dict[str, Any]:
    """Return a config with one signed generic channel and one log backend."""
    return {
        "channels": {"web": {"type": "generic", "secret": SECRET}},
        "backends": {"audit": {"type": "log"}},
    }


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    """Return a webhook consumer listening on 127.0.0.1 (see tests/receiver.py)."""
    consumer = Receiver(HOOK_SECRET)
    server = await aiohttp_server(consumer.app())
    consumer.url = str(server.make_url("/events"))
    return consumer


@pytest.fixture
async def mail_api() -> AsyncIterator[FakeMailApi]:
    """The fake e-mail provider the sending channel of `tests.sending_channel` posts to."""
    # Imported here: importing gateway.testing before pytest loads it as a plugin defeats
    # its assertion rewriting.
    from tests.sending_channel import FakeMailApi

    async with FakeMailApi() as api:
        yield api


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of this test run on the machine's PostgreSQL server (tests/postgres.py)."""
    from tests.postgres import scratch_database

    with scratch_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A URL of an empty schema of its own in the run's database: a fresh store per test."""
    from tests.postgres import scratch_schema

    with scratch_schema(postgres_database) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The storage URL of a fresh store of each kind, in turn: SQLite's, then PostgreSQL's."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def on_store(factory: GatewayFactory, url: str) -> GatewayFactory:
    """Return `factory` starting its gateways on the store `url` unless a config names one."""

    async def start(config: Mapping[str, Any] | str, **options: Any) -> GatewayUnderTest:
        data = yaml.safe_load(config) if isinstance(config, str) else dict(config)
        data.setdefault("storage", {"url": url})
        return await factory(data, **options)

    return start


def store_for(url: str) -> SqlStore:
    """Return another (unopened) store on the database `url` names: another process's."""
    from gateway.store.postgres import PostgresStore
    from gateway.store.sqlite import SqliteStore

    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"))
    return PostgresStore(url)
