"""`gateway customers ...` on a real store with no server: what the admin API answers, printed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from gateway.config_loader import load_config
from gateway.documents import interaction_json
from gateway.plugins import load_plugins
from gateway.runtime import open_store
from gateway.schema import ChannelRef, Content, Identity, Interaction, Party
from gateway.store.base import CommitItem

ANN, BOB, CAT, DAN = "+15550000001", "+15550000002", "+15550000003", "+15550000004"
OUR_NUMBER = "+15557654321"
T0 = datetime(2026, 11, 22, 10, tzinfo=UTC)


def write_config(tmp_path: Path, **identity: Any) -> Path:
    path = tmp_path / "gateway.yaml"
    settings = {
        "storage": {"url": f"sqlite:///{tmp_path}/gateway.db"},
        "backends": {"hook": {"type": "log"}},
        "identity": identity,
    }
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def contact(external_id: str, *phones: str, kind: str = "sms", at: datetime = T0) -> Interaction:
    return Interaction(
        type="message",
        direction="inbound",
        channel=ChannelRef(id=kind, kind=kind, provider="generic"),
        external_id=external_id,
        occurred_at=at,
        received_at=datetime.now(UTC),
        sender=Party(
            display_name="Jane Doe", identities=[Identity(kind="phone", value=p) for p in phones]
        ),
        recipient=Party(identities=[Identity(kind="phone", value=OUR_NUMBER)]),
        content=Content(text=f"message {external_id}"),
    )


def seed(config_path: Path, *interactions: Interaction) -> list[Interaction]:
    """Commit each interaction on its own (to `hook` if SMS); return them as stored."""

    async def run() -> list[Interaction]:
        store = open_store(load_config(config_path, load_plugins()))
        await store.open()
        try:
            stored = []
            for interaction in interactions:
                backends = ("hook",) if interaction.channel.kind == "sms" else ()
                [result] = await store.commit([CommitItem(interaction, backends)])
                assert result.interaction is not None
                stored.append(result.interaction)
            return stored
        finally:
            await store.close()

    return asyncio.run(run())


def customer_of(interaction: Interaction) -> str:
    assert interaction.customer_id is not None
    return interaction.customer_id


class Cli:
    """Runs `gateway customers ...` against one configuration."""

    def __init__(self, config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config_path = config_path
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        status = main(["customers", *argv, "--config", str(self.config_path)])
        captured = self.capsys.readouterr()
        return status, captured.out, captured.err

    def json(self, *argv: str) -> Any:
        status, out, err = self(*argv)
        assert (status, err) == (0, ""), err
        return json.loads(out)


@pytest.fixture
def cli(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(config_path, capsys)


def identity_values(document: dict[str, Any]) -> list[str]:
    return [i["value"] for i in document["identities"]]


def test_show_by_id_and_by_identity(config_path: Path, cli: Cli) -> None:
    [first] = seed(config_path, contact("m-1", ANN))
    ann = customer_of(first)

    shown = cli.json("show", ann)
    assert shown == {
        "id": ann,
        "display_name": "Jane Doe",
        "identities": [{"kind": "phone", "value": ANN, "verified": True}],
        "created_at": shown["created_at"],
        "merged_into": None,
        "crosswalk": {},
        "merges": [],
    }
    assert cli.json("show", "--identity", "phone:(555) 000-0001") == shown

    missing = "cus_01JDQ4K6Z8W5N7T0M3F2V9X1AB"
    assert cli("show", missing) == (1, "", f"no customer {missing}\n")
    assert cli("show", "--identity", f"phone:{BOB}") == (1, "", f"no customer has phone:{BOB}\n")
    assert cli("show", "--identity", "phone:12") == (
        2,
        "",
        "identity: '12' is not a valid phone\n",
    )


@pytest.mark.parametrize("argv", [["show"], ["show", "cus_x", "--identity", "phone:+15550000001"]])
def test_show_takes_an_id_or_an_identity(cli: Cli, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == 2


def test_link_merges_into_the_older_and_unmerge_restores(config_path: Path, cli: Cli) -> None:
    ann, bob = map(customer_of, seed(config_path, contact("m-1", ANN), contact("m-2", BOB)))
    ann_before, bob_before = cli.json("show", ann), cli.json("show", bob)

    linked = cli.json("link", bob, f"phone:{ANN}")
    assert linked["action"] == "merged"
    assert linked["customer"]["id"] == ann
    assert identity_values(linked["customer"]) == [ANN, BOB]
    [merge] = linked["customer"]["merges"]
    assert (merge["action"], merge["survivor_id"], merge["merged_id"], merge["cause"]) == (
        "merge",
        ann,
        bob,
        f"operator linked phone:{ANN}",
    )
    assert cli.json("show", bob)["merged_into"] == ann
    assert cli.json("link", ann, f"phone:{BOB}")["action"] == "unchanged"

    unmerged = cli.json("unmerge", bob)
    assert unmerged["unmerge"]["action"] == "unmerge"
    assert unmerged["unmerge"]["cause"] == f"operator undid merge {merge['id']}"
    restored, survivor = unmerged["customers"]
    for after, before in ((restored, bob_before), (survivor, ann_before)):
        assert after == {**before, "merges": after["merges"]}
        assert [m["action"] for m in after["merges"]] == ["merge", "unmerge"]
    status, out, err = cli("unmerge", bob)
    assert (status, out) == (1, "")
    assert err.startswith(f"customer {bob} is not merged into another")


def test_link_refusals(config_path: Path, cli: Cli) -> None:
    [first] = seed(config_path, contact("m-1", ANN))
    ann = customer_of(first)
    missing = "cus_01JDQ4K6Z8W5N7T0M3F2V9X1AB"
    assert cli("link", missing, f"phone:{BOB}") == (1, "", f"no customer {missing}\n")
    assert cli("link", ann, "email:Support@Shop.example") == (
        1,
        "",
        "email:support@shop.example is blocked by identity.rules; it links nobody\n",
    )
    assert cli("link", ann, f"phone:{OUR_NUMBER}") == (
        1,
        "",
        f"phone:{OUR_NUMBER} is one of your own numbers or addresses; it links nobody\n",
    )
    assert cli("link", ann, BOB) == (
        2,
        "",
        f"identity: expected KIND:VALUE such as phone:+14155550100, got '{BOB}'\n",
    )
    assert identity_values(cli.json("show", ann)) == [ANN]


def test_timeline_pages_by_occurrence(config_path: Path, cli: Cli) -> None:
    late, early, middle = seed(
        config_path,
        contact("m-1", ANN, at=T0 + timedelta(hours=1)),
        contact("w-1", ANN, kind="whatsapp", at=T0 - timedelta(hours=1)),
        contact("m-2", ANN, at=T0),
    )
    ann = customer_of(late)

    first = cli.json("timeline", ann, "--limit", "2")
    assert [e["interaction"]["id"] for e in first["interactions"]] == [early.id, middle.id]
    assert first["next_cursor"] == middle.id
    assert first["interactions"][0]["deliveries"] == []
    [delivery] = first["interactions"][1]["deliveries"]
    assert (delivery["backend"], delivery["state"], delivery["attempts"]) == ("hook", "pending", 0)
    rest = cli.json("timeline", ann, "--limit", "2", "--cursor", middle.id)
    assert [e["interaction"]["id"] for e in rest["interactions"]] == [late.id]
    assert rest["next_cursor"] is None
    assert rest["interactions"][0]["interaction"] == interaction_json(late)

    missing = "cus_01JDQ4K6Z8W5N7T0M3F2V9X1AB"
    assert cli("timeline", missing) == (1, "", f"no customer {missing}\n")
    with pytest.raises(SystemExit):
        cli("timeline", ann, "--limit", "0")


def test_proposals_accept_and_reject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_config(tmp_path, rules={"limits": {"phone": 1}})
    cli = Cli(config_path, capsys)
    ann, bob, _, cat, dan, _ = map(
        customer_of,
        seed(
            config_path,
            contact("m-1", ANN),
            contact("m-2", BOB),
            contact("m-3", ANN, BOB),
            contact("m-4", CAT),
            contact("m-5", DAN),
            contact("m-6", CAT, DAN),
        ),
    )

    pending = cli.json("proposals")
    assert pending["next_cursor"] is None
    assert [
        (p["id"], p["customer_id"], p["identity"]["value"], p["other_customer_id"], p["state"])
        for p in pending["proposals"]
    ] == [(1, ann, BOB, bob, "pending"), (2, cat, DAN, dan, "pending")]

    accepted = cli.json("accept", "1")["proposal"]
    assert (accepted["state"], accepted["decided_at"] is not None) == ("accepted", True)
    assert cli.json("show", bob)["merged_into"] == ann
    rejected = cli.json("reject", "2")["proposal"]
    assert rejected["state"] == "rejected"
    assert cli.json("show", dan)["merged_into"] is None

    assert cli.json("proposals") == {"proposals": [], "next_cursor": None}
    assert cli.json("proposals", "--state", "rejected")["proposals"] == [rejected]
    page = cli.json("proposals", "--state", "all", "--limit", "1")
    assert (page["proposals"], page["next_cursor"]) == ([accepted], 1)
    page = cli.json("proposals", "--state", "all", "--limit", "1", "--cursor", "1")
    assert (page["proposals"], page["next_cursor"]) == ([rejected], 2)

    assert cli("accept", "1") == (1, "", "proposal 1 was accepted already\n")
    assert cli("reject", "99") == (1, "", "no merge proposal 99\n")


def test_erase_then_show_prints_the_erasure(config_path: Path, cli: Cli) -> None:
    first, _ = seed(config_path, contact("m-1", ANN), contact("w-1", ANN, kind="whatsapp"))
    ann = customer_of(first)

    status, out, err = cli("erase", ann)
    assert status == 0
    erasure = json.loads(out)["erasure"]
    assert erasure == {
        "id": 1,
        "customer_id": ann,
        "requested_at": erasure["requested_at"],
        "interactions": 2,
        "crosswalk": {},
        "receipts": [],
        "scrubbed_at": erasure["scrubbed_at"],
    }
    assert erasure["scrubbed_at"] is not None  # no other reader: scrubbed at once
    assert err == (
        "erased from the store; the running gateway asks each backend that erases customers,"
        f" and `gateway customers show {ann}` shows their receipts\n"
    )
    assert cli.json("show", ann) == {"erasures": [erasure]}
    assert cli("show", "--identity", f"phone:{ANN}") == (1, "", f"no customer has phone:{ANN}\n")
    assert cli("erase", ann) == (1, "", f"no customer {ann}\n")
    assert cli("timeline", ann) == (1, "", f"no customer {ann}\n")
