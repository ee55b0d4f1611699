"""Identity resolution measured on a labelled data set: pairwise precision and recall.

`tests/fixtures/identity/interactions.jsonl` (see its README.md) is posted in time order, signed,
to one generic channel per channel id in it. Two interactions that got a customer are predicted
to be one person if their customers have the same root (following `merged_into`); they are one
person if their `person` labels match. Recall counts only the pairs the rules can link: the same
person's interactions connected through a chain of shared matchable identities (canonical,
not blocked, not our own).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.identity import IdentityPolicy, IdentityRules
from gateway.normalize import canonical_identity
from gateway.schema import Interaction
from gateway.store.base import Store
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.conftest import on_store
from tests.fixtures.identity import generate
from tests.payloads import SECRET


@pytest.fixture
def gateway_factory(gateway_factory: GatewayFactory, store_url: str) -> GatewayFactory:
    """Every test of this module on both stores."""
    return on_store(gateway_factory, store_url)


DATA = Path(__file__).parent / "fixtures" / "identity" / "interactions.jsonl"
REGION = "US"
POLICY = IdentityPolicy(IdentityRules(), timedelta(hours=24))

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled interaction and the identities of each side, canonical."""

    index: int
    person: str
    channel: str
    kind: str
    body: dict[str, Any]
    customer_keys: frozenset[Key]
    business_keys: frozenset[Key]

    @property
    def label(self) -> str:
        return f"#{self.index} {self.person} {self.channel} {self.body['external_id']}"

    @property
    def display_name(self) -> str | None:
        side = "sender" if self.body.get("direction", "inbound") == "inbound" else "recipient"
        name: str | None = self.body[side].get("display_name")
        return name


def canonical(identities: Iterable[dict[str, str]]) -> frozenset[Key]:
    keys = (canonical_identity(i["kind"], i["value"], REGION) for i in identities)
    return frozenset(key for key in keys if key is not None)


def load() -> list[Row]:
    rows = []
    for index, line in enumerate(DATA.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        body = record["body"]
        inbound = body.get("direction", "inbound") == "inbound"
        customer, business = ("sender", "recipient") if inbound else ("recipient", "sender")
        rows.append(
            Row(
                index=index,
                person=record["person"],
                channel=record["channel"],
                kind=record["kind"],
                body=body,
                customer_keys=canonical(body[customer]["identities"]),
                business_keys=canonical(body[business]["identities"]),
            )
        )
    return rows


ROWS = load()
BUSINESS: frozenset[Key] = frozenset().union(
    *(row.business_keys for row in ROWS if row.body.get("type") != "status")
)


def matchable(row: Row) -> frozenset[Key]:
    """The identities of the customer side that may link people, as the resolver sees them."""
    return frozenset(
        key for key in row.customer_keys if not POLICY.is_blocked(*key) and key not in BUSINESS
    )


class UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        self.parent[self.find(first)] = self.find(second)


def linkable_components(rows: list[Row]) -> list[int]:
    """Component of each row: one person's rows chained through shared matchable identities."""
    components = UnionFind(len(rows))
    first_with: dict[tuple[str, Key], int] = {}
    for row in rows:
        for key in matchable(row):
            other = first_with.setdefault((row.person, key), row.index)
            components.union(row.index, other)
    return [components.find(row.index) for row in rows]


async def root_of(store: Store, customer_id: str, cache: dict[str, str]) -> str:
    """Follow `merged_into` from `customer_id` to the live customer."""
    if customer_id not in cache:
        customer = await store.get_customer(customer_id)
        assert customer is not None, customer_id
        parent = customer.merged_into
        cache[customer_id] = customer_id if parent is None else await root_of(store, parent, cache)
    return cache[customer_id]


async def post_all(gut: GatewayUnderTest) -> list[str | None]:
    """Post every row in order; return the customer each was stored with."""
    customers: list[str | None] = []
    for row in ROWS:
        response = await gut.post_signed(row.channel, row.body, SECRET)
        assert response.status == 200, (row.label, await response.text())
        [interaction_id] = (await response.json())["ids"]
        stored = await gut.gateway.store.get_interaction(interaction_id)
        assert isinstance(stored, Interaction)
        customers.append(stored.customer_id)
    return customers


def test_the_data_set_is_what_the_generator_writes() -> None:
    assert DATA.read_text(encoding="utf-8") == generate.render(), (
        "interactions.jsonl is stale: run python tests/fixtures/identity/generate.py"
    )


def test_the_data_set_has_the_size_and_the_hard_cases() -> None:
    people = {row.person for row in ROWS}
    assert len(ROWS) >= 300
    assert len(people) >= 60
    assert {row.channel: row.kind for row in ROWS} == generate.CHANNELS
    assert len({(row.channel, row.body["external_id"]) for row in ROWS}) == len(ROWS)
    times = [row.body["occurred_at"] for row in ROWS]
    assert times == sorted(times)

    # No matchable identity belongs to two people: nothing here is ambiguous to the rules.
    owners: dict[Key, set[str]] = defaultdict(set)
    for row in ROWS:
        for key in matchable(row):
            owners[key].add(row.person)
    assert not {key: who for key, who in owners.items() if len(who) > 1}
    # Our own numbers and addresses are never a customer's.
    assert BUSINESS
    assert not BUSINESS & frozenset().union(*(row.customer_keys for row in ROWS))

    # Colleagues giving a shared mailbox (blocked) with their own phone in one web form.
    shared = [row for row in ROWS if shared_mailbox(row) and matchable(row)]
    by_mailbox: dict[Key, set[str]] = defaultdict(set)
    for row in shared:
        for key in row.customer_keys:
            if key[0] == "email":
                by_mailbox[key].add(row.person)
    assert len(shared) >= 2
    assert max(len(colleagues) for colleagues in by_mailbox.values()) >= 2
    # Withheld numbers and anonymous visitors: only blocked identities.
    assert len([row for row in ROWS if blocked_caller(row)]) >= 2
    assert any(row.kind == "voice" for row in ROWS if blocked_caller(row))
    # One display name, different people.
    names: dict[str, set[str]] = defaultdict(set)
    for row in ROWS:
        if row.display_name:
            names[row.display_name].add(row.person)
    assert sum(len(who) > 1 for who in names.values()) >= 2
    # An e-mail seen alone first, with the person's phone later.
    assert len(email_then_phone(ROWS)) >= 2


def shared_mailbox(row: Row) -> bool:
    """The customer side gives a blocked e-mail address, e.g. `support@...`."""
    return any(kind == "email" and POLICY.is_blocked(kind, v) for kind, v in row.customer_keys)


def blocked_caller(row: Row) -> bool:
    """The customer side has identities, and every one of them is blocked."""
    keys = row.customer_keys
    return bool(keys) and all(POLICY.is_blocked(*key) for key in keys)


def email_then_phone(rows: list[Row]) -> list[Row]:
    """Rows linking an e-mail to a phone where both had been seen apart before."""
    seen_alone: set[Key] = set()
    found = []
    for row in rows:
        keys = matchable(row)
        strong = {key for key in keys if key[0] in ("email", "phone")}
        kinds = {kind for kind, _ in strong}
        if kinds == {"email", "phone"} and strong <= seen_alone:
            found.append(row)
        if len(strong) == 1:
            seen_alone |= strong
    return found


async def test_resolution_precision_and_recall(
    gateway_factory: GatewayFactory, record_property: Callable[[str, object], None]
) -> None:
    config = {
        "channels": {
            channel_id: {"type": "generic", "kind": kind, "secret": SECRET}
            for channel_id, kind in generate.CHANNELS.items()
        },
        "backends": {},
    }
    gut = await gateway_factory(config)
    customers = await post_all(gut)

    # Exactly the interactions with a matchable identity on the customer side got a customer.
    assert [row.label for row, c in zip(ROWS, customers, strict=True) if c is None] == [
        row.label for row in ROWS if not matchable(row)
    ]
    cache: dict[str, str] = {}
    roots = {
        row.index: await root_of(gut.gateway.store, customer, cache)
        for row, customer in zip(ROWS, customers, strict=True)
        if customer is not None
    }
    component = linkable_components(ROWS)
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    missed: list[str] = []
    for first, second in itertools.combinations(sorted(roots), 2):
        a, b = ROWS[first], ROWS[second]
        predicted = roots[first] == roots[second]
        same = a.person == b.person
        linkable = same and component[first] == component[second]
        counts["predicted"] += predicted
        counts["correct"] += predicted and same
        counts["linkable"] += linkable
        counts["found"] += predicted and linkable
        if predicted and not same:
            wrong.append(f"{a.label} ~ {b.label}")
        if linkable and not predicted:
            missed.append(f"{a.label} / {b.label}")
    precision = counts["correct"] / counts["predicted"]
    recall = counts["found"] / counts["linkable"]
    merges = {c for c in cache if cache[c] != c}
    report = (
        f"{len(ROWS)} interactions, {len({r.person for r in ROWS})} people,"
        f" {len(roots)} attributed, {len(set(roots.values()))} customers ({len(merges)} merged);"
        f" pairs: {counts['predicted']} predicted, {counts['linkable']} linkable;"
        f" precision {precision:.4f}, recall {recall:.4f}"
    )
    record_property("precision", f"{precision:.4f}")
    record_property("recall", f"{recall:.4f}")
    print(report)

    assert precision == 1.0, f"{report}\nmerged different people:\n" + "\n".join(wrong[:20])
    assert recall >= 0.95, f"{report}\nlinkable but apart:\n" + "\n".join(missed[:20])
    # Colleagues giving one shared mailbox stay one customer each.
    for mailbox in {key for row in ROWS if shared_mailbox(row) for key in row.customer_keys}:
        rows = [r for r in ROWS if mailbox in r.customer_keys and r.index in roots]
        assert len({roots[r.index] for r in rows}) == len({r.person for r in rows}), mailbox
    # The e-mail seen alone and the phone were two customers until the form merged them.
    assert merges
    for row in email_then_phone(ROWS):
        keys = matchable(row)
        alone = [
            r.index for r in ROWS[: row.index] if len(matchable(r)) == 1 <= len(matchable(r) & keys)
        ]
        assert {roots[i] for i in alone} == {roots[row.index]}, row.label
