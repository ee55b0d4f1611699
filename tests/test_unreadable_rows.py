"""Stored rows that no longer validate (looser old bounds, hand corruption) read as `unreadable`.

Every admin read route and every CLI command that reads interactions answers as usual, with the
row in its place as a document naming why, never its values; nothing answers 500 or crashes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from gateway.schema import MAX_SHORT, Interaction
from gateway.store.stored_rows import UnreadableInteraction, UnreadableLog
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import SECRET, message

LEAK = "leak-7700900123"
"""A value planted in corrupt rows: it must never appear in a reason or a log line."""
ZERO_TIME = "0001-01-01T00:00:00Z"
HUGE = "99999999999999999999"


@dataclass(frozen=True)
class Corruption:
    """An UPDATE of the middle row's body, what its reason must name, and what it planted."""

    sql: str
    names: tuple[str, ...]
    planted: tuple[str, ...]


CORRUPTIONS = {
    "year-1 date": Corruption(
        f"json_set(body, '$.occurred_at', '{ZERO_TIME}')", ("occurred_at: ",), (ZERO_TIME,)
    ),
    "huge integer": Corruption(
        f"json_set(body, '$.context.conversation_size', {HUGE})",
        ("context.conversation_size: Unable to parse input string as an integer",),
        (HUGE, "1.0e+20", "1e+20", "100000000000000000000"),
    ),
    "year-1 date and huge integer": Corruption(
        f"json_set(body, '$.occurred_at', '{ZERO_TIME}', '$.context.conversation_size', {HUGE})",
        ("occurred_at: ", "context.conversation_size: "),
        (ZERO_TIME, HUGE, "1.0e+20"),
    ),
    "over-long text": Corruption(
        f"json_set(body, '$.sender.display_name', '{LEAK * (MAX_SHORT // len(LEAK) + 1)}')",
        (f"sender.display_name: String should have at most {MAX_SHORT} characters",),
        (LEAK,),
    ),
    "invalid JSON": Corruption(
        "substr(body, 1, length(body) / 2)", ("body: Invalid JSON",), ("Jane Doe", "+15551234567")
    ),
    "missing required field": Corruption(
        "json_remove(body, '$.direction')", ("direction: Field required",), ()
    ),
}
NEVER_SHOWN = ("Jane Doe", "+15551234567", "My order")
"""The row's own values: no reason quotes them either."""


@dataclass(frozen=True)
class Planted:
    """A store of three interactions of one customer, the middle one corrupted."""

    config: dict[str, Any]
    config_path: Path
    ids: list[str]
    customer_id: str
    corruption: Corruption

    @property
    def bad(self) -> str:
        return self.ids[1]


def _config(tmp_path: Path, backends: dict[str, Any]) -> dict[str, Any]:
    return {
        "channels": {"web": {"type": "generic", "secret": SECRET}},
        "backends": backends,
        "storage": {"url": f"sqlite:///{tmp_path}/gateway.db"},
    }


@pytest.fixture(params=CORRUPTIONS)
async def planted(
    request: pytest.FixtureRequest, gateway_factory: GatewayFactory, tmp_path: Path
) -> Planted:
    corruption = CORRUPTIONS[request.param]
    # The first gateway delivers to `audit` only; `crm` (added later) is what backfill routes to.
    first = await gateway_factory(_config(tmp_path, {"audit": {"type": "log"}}))
    ids = []
    for n in range(3):
        response = await first.post_signed("web", message(f"m-{n}"), SECRET)
        assert response.status == 200, await response.text()
        ids.append((await response.json())["ids"][0])
    stored = await first.gateway.store.get_interaction(ids[0])
    assert isinstance(stored, Interaction)
    assert stored.customer_id is not None
    assert stored.context is not None  # so that the huge integer replaces a stored one
    await first.admin.close()
    await first.client.close()
    path = first.gateway.config.storage.url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        changed = db.execute(
            f"UPDATE interactions SET body = {corruption.sql} WHERE id = ?", (ids[1],)
        ).rowcount
        assert changed == 1
    config = _config(tmp_path, {"audit": {"type": "log"}, "crm": {"type": "log"}})
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return Planted(config, config_path, ids, stored.customer_id, corruption)


def _assert_unreadable(document: dict[str, Any], planted: Planted) -> None:
    """The unreadable row's document: its stored columns and a reason without values."""
    assert set(document) == {"id", "channel", "external_id", "received_at", "unreadable"}
    assert document["id"] == planted.bad
    assert document["channel"] == {"id": "web"}
    assert document["external_id"] == "m-1"
    assert document["received_at"].endswith("Z")
    reason = document["unreadable"]
    assert reason.startswith("stored interaction no longer validates: ")
    for named in planted.corruption.names:
        assert named in reason
    for value in (*planted.corruption.planted, *NEVER_SHOWN):
        assert value not in reason


def _assert_page(documents: list[dict[str, Any]], planted: Planted) -> None:
    """The page holds the readable neighbours whole and the unreadable row in its place."""
    assert [d["id"] for d in documents] == planted.ids
    first, bad, last = documents
    _assert_unreadable(bad, planted)
    for readable, n in ((first, 0), (last, 2)):
        assert readable["external_id"] == f"m-{n}"
        assert readable["content"]["text"] == "My order has not arrived"
        assert "unreadable" not in readable


def _assert_quiet_logs(caplog: pytest.LogCaptureFixture, planted: Planted) -> None:
    """No error and no traceback was logged; the row was warned about without its values."""
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    assert any(
        f"interaction {planted.bad} (channel web) cannot be read: stored interaction no longer"
        " validates: " in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )
    for value in (*planted.corruption.planted, *NEVER_SHOWN):
        assert value not in caplog.text


async def _get(gut: GatewayUnderTest, path: str) -> Any:
    response = await gut.admin.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def _paged(gut: GatewayUnderTest, path: str) -> list[dict[str, Any]]:
    """Walk a list one item a page, by `next_cursor`, and return the items' interactions."""
    documents: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await _get(gut, path + (f"&cursor={cursor}" if cursor else ""))
        documents += [e.get("interaction", e) for e in page["interactions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return documents


async def _list(gut: GatewayUnderTest, planted: Planted) -> list[dict[str, Any]]:
    return list((await _get(gut, "/admin/interactions"))["interactions"])


async def _list_of_channel(gut: GatewayUnderTest, planted: Planted) -> list[dict[str, Any]]:
    return list((await _get(gut, "/admin/interactions?channel=web"))["interactions"])


async def _list_paged(gut: GatewayUnderTest, planted: Planted) -> list[dict[str, Any]]:
    return await _paged(gut, "/admin/interactions?limit=1")


async def _timeline(gut: GatewayUnderTest, planted: Planted) -> list[dict[str, Any]]:
    page = await _get(gut, f"/admin/customers/{planted.customer_id}/timeline")
    return [entry["interaction"] for entry in page["interactions"]]


async def _timeline_paged(gut: GatewayUnderTest, planted: Planted) -> list[dict[str, Any]]:
    return await _paged(gut, f"/admin/customers/{planted.customer_id}/timeline?limit=1")


async def _shown(gut: GatewayUnderTest, planted: Planted) -> list[dict[str, Any]]:
    """Show each interaction alone; the unreadable one keeps its deliveries."""
    documents = []
    for interaction_id in planted.ids:
        shown = await _get(gut, f"/admin/interactions/{interaction_id}")
        assert [d["backend"] for d in shown["deliveries"]] == ["audit"]
        documents.append(shown["interaction"])
    return documents


ADMIN_READS: dict[str, Callable[[GatewayUnderTest, Planted], Any]] = {
    "GET /admin/interactions": _list,
    "GET /admin/interactions?channel=": _list_of_channel,
    "GET /admin/interactions paged": _list_paged,
    "GET /admin/interactions/{id}": _shown,
    "GET /admin/customers/{id}/timeline": _timeline,
    "GET /admin/customers/{id}/timeline paged": _timeline_paged,
}


@pytest.mark.parametrize("route", ADMIN_READS)
async def test_admin_reads_show_an_unreadable_row_in_its_place(
    planted: Planted,
    gateway_factory: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gut = await gateway_factory(planted.config)
        documents = await ADMIN_READS[route](gut, planted)
    _assert_page(documents, planted)
    _assert_quiet_logs(caplog, planted)


def _cli(capsys: pytest.CaptureFixture[str], planted: Planted, *argv: str) -> tuple[str, str]:
    status = main([*argv, "--config", str(planted.config_path)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Traceback" not in err
    return out, err


def _cli_timeline(capsys: pytest.CaptureFixture[str], planted: Planted) -> list[dict[str, Any]]:
    out, _ = _cli(capsys, planted, "customers", "timeline", planted.customer_id)
    return [entry["interaction"] for entry in json.loads(out)["interactions"]]


def _cli_timeline_paged(
    capsys: pytest.CaptureFixture[str], planted: Planted
) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    cursor: list[str] = []
    while True:
        out, _ = _cli(
            capsys, planted, "customers", "timeline", planted.customer_id, "--limit=1", *cursor
        )
        page = json.loads(out)
        documents += [entry["interaction"] for entry in page["interactions"]]
        if page["next_cursor"] is None:
            return documents
        cursor = ["--cursor", page["next_cursor"]]


def _cli_dlq_show(capsys: pytest.CaptureFixture[str], planted: Planted) -> list[dict[str, Any]]:
    """`gateway dlq show` of each interaction's delivery (ids 1-3, in arrival order)."""
    documents = []
    for delivery_id in (1, 2, 3):
        out, _ = _cli(capsys, planted, "dlq", "show", str(delivery_id))
        shown = json.loads(out)
        assert shown["delivery"]["id"] == delivery_id
        documents.append(shown["interaction"])
    return documents


CLI_READS: dict[str, Callable[[pytest.CaptureFixture[str], Planted], list[dict[str, Any]]]] = {
    "gateway customers timeline": _cli_timeline,
    "gateway customers timeline --cursor": _cli_timeline_paged,
    "gateway dlq show": _cli_dlq_show,
}


@pytest.mark.parametrize("command", CLI_READS)
def test_cli_reads_show_an_unreadable_row_in_its_place(
    planted: Planted,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    command: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        documents = CLI_READS[command](capsys, planted)
    _assert_page(documents, planted)
    _assert_quiet_logs(caplog, planted)


def test_backfill_skips_an_unreadable_row_and_counts_it(
    planted: Planted, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        out, err = _cli(capsys, planted, "backfill", "crm", "--since", "2000-01-01")
    assert out == "queued 2 interactions for crm\n"
    assert err.startswith("skipped 1 stored interactions that no longer validate: ")
    _assert_quiet_logs(caplog, planted)
    # The readable neighbours are queued for crm; the unreadable row is not.
    with closing(sqlite3.connect(planted.config_path.parent / "gateway.db")) as db:
        queued = db.execute("SELECT interaction_id FROM deliveries WHERE backend = 'crm'")
        assert sorted(row[0] for row in queued) == sorted([planted.ids[0], planted.ids[2]])


async def test_a_customer_whose_last_contact_is_unreadable_is_still_served(
    planted: Planted, gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Identity resolution reads the customer's last contact: unreadable, it starts anew."""
    with closing(sqlite3.connect(planted.config_path.parent / "gateway.db")) as db, db:
        db.execute(
            f"UPDATE interactions SET body = {planted.corruption.sql} WHERE id = ?",
            (planted.ids[2],),
        )
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gut = await gateway_factory(planted.config)
        response = await gut.post_signed("web", message("m-3"), SECRET)
        assert response.status == 200, await response.text()
        [new_id] = (await response.json())["ids"]
        stored = await gut.gateway.store.get_interaction(new_id)
    assert isinstance(stored, Interaction)
    assert stored.customer_id == planted.customer_id
    assert stored.context is not None
    assert stored.context.conversation_size == 1  # the unreadable row's conversation ended
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_unreadable_row_is_warned_about_once_per_interval() -> None:
    now = [0.0]
    warnings = UnreadableLog(interval=600.0, capacity=2, clock=lambda: now[0])
    rows = [UnreadableInteraction(f"int_{n}", "web", f"m-{n}", "", "why") for n in range(3)]
    logged: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage().split(" ")[1])

    handler = Capture()
    logging.getLogger("gateway.store").addHandler(handler)
    try:
        for _ in range(3):
            warnings.unreadable(rows[0])
        warnings.unreadable(rows[1])
        assert logged == ["int_0", "int_1"]  # each row once, however often it is read
        now[0] = 599.0
        warnings.unreadable(rows[0])
        assert logged == ["int_0", "int_1"]
        now[0] = 600.0
        warnings.unreadable(rows[0])  # its interval passed: once more
        warnings.unreadable(rows[2])  # past capacity: the expired ids are forgotten
        assert logged == ["int_0", "int_1", "int_0", "int_2"]
    finally:
        logging.getLogger("gateway.store").removeHandler(handler)
