"""Identity resolution and conversation threading inside the SQLite commit transaction.

`IdentityResolver.resolve` runs on the writer thread for every new interaction, in the group
commit's transaction, before its row is written: the stored interaction carries its customer,
conversation and context, and concurrent interactions of one new identity create one customer
because the writer serialises them. The graph is a forest (migration 0004): rows point at the
customer they were attached to and a merge only sets `merged_into`, so a customer is the tree
under its root.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast

from gateway.identity import (
    IdentityEvent,
    IdentityObserver,
    IdentityPolicy,
    business_party,
    customer_party,
)
from gateway.schema import (
    AUTOMATED,
    ChannelKind,
    ConversationContext,
    Identity,
    Interaction,
    Party,
    new_interaction_id,
)
from gateway.service_events import SENT_ELSEWHERE, Chase, Contact, ServiceEvent, Waiting, advance
from gateway.store.base import CommitItem
from gateway.store.service_reads import IS_CONTACT
from gateway.store.sql import Connection, Cursor, Dialect, parse_utc, utc_text
from gateway.store.stored_rows import validated

__all__ = [
    "OWNER",
    "ROOT_OF",
    "TREE",
    "IdentityResolver",
    "insert_merge",
    "kind_counts",
    "new_customer_id",
    "propose",
    "root_of",
    "tree_of",
]

Key = tuple[str, str]
"""An identity as (kind, value)."""

TREE = (
    "WITH RECURSIVE tree (id) AS (SELECT id FROM customers WHERE id = :root UNION ALL"
    " SELECT c.id FROM customers AS c JOIN tree ON c.merged_into = tree.id)"
)
"""A CTE `tree(id)`: the customer `:root` and every customer merged into it, transitively
(empty if there is no such customer)."""
ROOT_OF = (
    "WITH RECURSIVE up (id, merged_into, created_at, named) AS ("
    " SELECT id, merged_into, created_at, display_name IS NOT NULL FROM customers WHERE id = ?"
    " UNION ALL SELECT c.id, c.merged_into, c.created_at, c.display_name IS NOT NULL"
    " FROM customers AS c JOIN up ON c.id = up.merged_into"
    ") SELECT id, created_at, named FROM up WHERE merged_into IS NULL"
)
"""(root id, root created_at, whether the root has a display name) of a customer."""
OWNER = ROOT_OF.replace(  # (root id, root created_at) of the customer holding (kind, value)
    "FROM customers WHERE id = ?",
    "FROM customers WHERE id = (SELECT customer_id FROM identities WHERE kind = ? AND value = ?)",
)
_HOLDER = (
    "WITH RECURSIVE up (id, merged_into, created_at, named, verified) AS ("
    " SELECT c.id, c.merged_into, c.created_at, c.display_name IS NOT NULL, i.verified"
    " FROM identities AS i JOIN customers AS c ON c.id = i.customer_id"
    " WHERE i.kind = ? AND i.value = ?"
    " UNION ALL SELECT c.id, c.merged_into, c.created_at, c.display_name IS NOT NULL, up.verified"
    " FROM customers AS c JOIN up ON c.id = up.merged_into"
    ") SELECT id, created_at, named, verified FROM up WHERE merged_into IS NULL"
)
"""`OWNER` and how the identity's row is stored (verified) in one query: the resolver's."""
_CONTACTS = (
    TREE
    + " SELECT {columns} FROM interactions WHERE customer_id IN (SELECT id FROM tree)"
    + f" AND conversation_id IS NOT NULL AND {IS_CONTACT}"
)
_LAST_CONTACT = _CONTACTS.format(columns="occurred_at") + " ORDER BY occurred_at DESC LIMIT 1"
_RECENT_CONTACTS = (
    _CONTACTS.format(columns="rowid, conversation_id, occurred_at, direction, body")
    + " AND occurred_at >= :since"
)
_KIND_COUNTS = TREE + (
    " SELECT kind, count(*) FROM identities WHERE customer_id IN (SELECT id FROM tree)"
    " GROUP BY kind"
)
_INSERT_IDENTITY = (
    "INSERT INTO identities (kind, value, customer_id, source, created_at, verified)"
    " VALUES (?, ?, ?, 'interaction', ?, ?)"
)
_RECLAIM_IDENTITY = (
    "UPDATE identities SET customer_id = ?, created_at = ?, verified = 1"
    " WHERE kind = ? AND value = ?"
)
_INSERT_PROPOSAL = (
    "INSERT INTO merge_proposals"
    " (customer_id, kind, value, other_customer_id, reason, interaction_id, created_at)"
    " SELECT :customer, :kind, :value, :other, :reason, :interaction, :now WHERE NOT EXISTS ("
    " SELECT 1 FROM merge_proposals WHERE customer_id = :customer AND kind = :kind"
    " AND value = :value AND state = 'rejected') ON CONFLICT DO NOTHING"
)


def new_customer_id() -> str:
    """Return a fresh customer id, `cus_<ULID>`."""
    return f"cus_{new_interaction_id()}"


def root_of(cur: Cursor, customer_id: str) -> tuple[str, str] | None:
    """Return (root id, its created_at) of a customer, or None if there is no such customer."""
    row = cur.execute(ROOT_OF, (customer_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def tree_of(cur: Cursor, root: str) -> list[str]:
    """Return `root` and every customer merged into it, transitively."""
    return [row[0] for row in cur.execute(TREE + " SELECT id FROM tree", {"root": root})]


def kind_counts(cur: Cursor, root: str) -> dict[str, int]:
    """Return how many identities of each kind the customer `root` (its whole tree) has."""
    return dict(cur.execute(_KIND_COUNTS, {"root": root}).fetchall())


def insert_merge(
    cur: Cursor,
    survivor: str,
    merged: str,
    cause: str,
    now: str,
    interaction_id: str | None = None,
) -> int:
    """Merge customer `merged` (a root) into `survivor` and log it; return the log row's id."""
    cur.execute("UPDATE customers SET merged_into = ? WHERE id = ?", (survivor, merged))
    merge_id: int = cur.execute(
        "INSERT INTO customer_merges"
        " (action, survivor_id, merged_id, cause, interaction_id, created_at)"
        " VALUES ('merge', ?, ?, ?, ?, ?) RETURNING id",
        (survivor, merged, cause, interaction_id, now),
    ).fetchone()[0]
    return merge_id


def propose(
    cur: Cursor,
    customer: str,
    key: Key,
    reason: str,
    now: str,
    *,
    other: str | None = None,
    interaction_id: str | None = None,
) -> bool:
    """Propose linking `key` to `customer`, unless pending already or rejected before.

    Return True if this made a new proposal.
    """
    params = {
        "customer": customer,
        "kind": key[0],
        "value": key[1],
        "other": other,
        "reason": reason,
        "interaction": interaction_id,
        "now": now,
    }
    return cur.execute(_INSERT_PROPOSAL, params).rowcount == 1


@dataclass(slots=True)
class _Conversation:
    """The state of a customer's latest conversation after its last contact."""

    id: str
    last_activity_at: datetime
    size: int
    channels: list[str]
    """Channel kinds, sorted."""
    last_channel: str
    waiting: Waiting | None
    """Since when, and on which channels, the customer waits for an answer (None: nobody)."""


@dataclass(slots=True)
class _Owner:
    """A customer (root) that some of an interaction's identities belong to."""

    root: str
    created_at: str
    keys: list[Key] = field(default_factory=list)
    verified: bool = False
    """Whether a verified identity of the interaction links it (identity trust)."""


@dataclass(frozen=True, slots=True)
class _Holder:
    """Who holds an identity: the root customer, and how the identity was stored."""

    root: str
    created_at: str
    named: bool
    """Whether the root has a display name."""
    verified: bool
    """Whether the identity's row is verified (asserted rows are verified by a later link)."""


_CACHE_MAX = 65_536
"""Identities (and as many conversations) kept in memory: ~20 MiB at most."""


class IdentityResolver:
    """Attributes interactions to customers and conversations; writer thread only.

    Returning customers cost no graph query: who holds an identity and the state of each
    customer's latest conversation are cached. The caches hold exactly what the database holds,
    so they are dropped whenever that may stop being true: when another connection committed
    (`Dialect.fresh_snapshot`, asked first in each commit transaction), when a commit fails
    (its writes are rolled back) and after every admin change to the graph (`forget`).
    Before writing under a customer it locks it (`Dialect.lock_roots`: a no-op on SQLite).
    """

    def __init__(
        self,
        policy: IdentityPolicy,
        dialect: Dialect,
        observe: IdentityObserver | None = None,
    ) -> None:
        self.policy = policy
        self._dialect = dialect
        self._observe = observe
        self._business: set[Key] = set()
        """Our own numbers and addresses; only ever grows, so it is safe to keep in memory."""
        self._owners: dict[Key, _Holder] = {}
        """identity -> who holds it."""
        self._conversations: dict[str, _Conversation | None] = {}
        """root customer -> its latest conversation (None: it has none)."""

    def load(self, cur: Connection | Cursor) -> None:
        """Read the business identities learned by earlier runs (and other instances)."""
        self._business.update(cur.execute("SELECT kind, value FROM business_identities"))

    def keys_of(self, item: CommitItem) -> list[Key]:
        """Return the identities of `item`'s customer that resolution matches on."""
        return self._keys(customer_party(item.interaction))

    def _keys(self, party: Party) -> list[Key]:
        return [k for k in self.policy.matchable(party.identities) if k not in self._business]

    def forget(self) -> None:
        """Drop the caches (their rows may have changed or been rolled back)."""
        self._owners.clear()
        self._conversations.clear()

    def _count(self, event: IdentityEvent) -> None:
        if self._observe is not None:
            self._observe(event)

    def _owner(self, cur: Cursor, key: Key) -> _Holder | None:
        found = self._owners.get(key)
        if found is None:
            row = cur.execute(_HOLDER, key).fetchone()
            if row is None:
                return None
            if len(self._owners) >= _CACHE_MAX:
                self.forget()
            found = self._owners[key] = _Holder(row[0], row[1], bool(row[2]), bool(row[3]))
        return found

    def resolve(
        self, cur: Cursor, interaction: Interaction, now: str
    ) -> tuple[Interaction, ServiceEvent | None]:
        """Return `interaction` with its customer, conversation and context, and what it did to
        its conversation's service (`service_events`); update the graph.

        `now` is the commit's time, as text.
        Identity trust (docs/identity.md): only verified identities merge customers or join a
        known customer's graph; a verified identity held by an asserted row (a claim someone
        typed) is taken back by whoever proves it, and the claim's holder gets a proposal.
        """
        if interaction.type != "status":
            self._learn_business(cur, business_party(interaction).identities, now)
        party = customer_party(interaction)
        keys = self._keys(party)
        if not keys:
            return interaction, None
        verified = self.policy.verified(party.identities)
        owners: dict[str, _Owner] = {}
        unknown: list[Key] = []
        # Verified identities held by an asserted row: attached anew, their holder proposed.
        reclaimed: dict[Key, _Holder] = {}
        reclaims = interaction.type != "status" and not self.policy.rules.trust_asserted
        named = False
        for key in keys:
            found = self._owner(cur, key)
            if reclaims and found is not None and key in verified and not found.verified:
                reclaimed[key] = found
                found = None
            if found is None:
                unknown.append(key)
            else:
                owner = owners.setdefault(found.root, _Owner(found.root, found.created_at))
                owner.keys.append(key)
                owner.verified = owner.verified or key in verified
                named = named or found.named
        if interaction.type == "status":
            if SENT_ELSEWHERE in interaction.metadata and owners:  # an answer given elsewhere
                root = self._ranked(list(owners.values()))[0].root
                self._dialect.lock_roots(cur, [root])
                return self._thread(cur, interaction, root, claimed=False)
            return self._attribute_status(cur, interaction, owners), None
        self._dialect.lock_roots(cur, owners)
        proven = [key for key in unknown if key in verified]
        claimed = not proven and not any(owner.verified for owner in owners.values())
        fresh = not owners or (bool(proven) and not any(o.verified for o in owners.values()))
        if fresh:
            root = new_customer_id()
            cur.execute(
                "INSERT INTO customers (id, display_name, created_at) VALUES (?, ?, ?)",
                (root, party.display_name, now),
            )
            self._count("customer_created")
            created = _Owner(root, now, proven or list(unknown), verified=not claimed)
            candidates = [created, *owners.values()]
        else:
            candidates = list(owners.values())
        if len(candidates) > 1:
            root = self._reconcile(cur, candidates, interaction, now)
        else:
            root = candidates[0].root
        # An asserted identity joins only the customer its own all-asserted interaction creates.
        joining = unknown if claimed and fresh else proven
        for key in unknown:
            if key not in joining and propose(
                cur,
                root,
                key,
                "asserted, not verified: it may name someone else",
                now,
                interaction_id=interaction.id,
            ):
                self._count("proposed")
        attached = self._attach(
            cur, root, joining, verified, reclaimed, interaction.id, now, fresh=fresh
        )
        for key, holder in reclaimed.items():
            if key in attached and propose(
                cur,
                holder.root,
                key,
                f"verified by another customer's interaction; {key[0]} was asserted here",
                now,
                other=root,
                interaction_id=interaction.id,
            ):
                self._count("proposed")
        if not fresh and party.display_name and not named:
            cur.execute(
                "UPDATE customers SET display_name = ? WHERE id = ? AND display_name IS NULL",
                (party.display_name, root),
            )
            for key in keys:  # other cached identities of the customer just update again
                if (cached := self._owners.get(key)) is not None:
                    self._owners[key] = replace(cached, named=True)
        if claimed:
            self._count("claimed")
        return self._thread(cur, interaction, root, claimed=claimed)

    def _learn_business(self, cur: Cursor, identities: Iterable[Identity], now: str) -> None:
        for identity in identities:
            key = (identity.kind, identity.value)
            if key not in self._business:
                cur.execute(
                    "INSERT INTO business_identities (kind, value, first_seen)"
                    " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (*key, now),
                )
                self._business.add(key)

    def _attribute_status(
        self, cur: Cursor, interaction: Interaction, owners: dict[str, _Owner]
    ) -> Interaction:
        """A receipt names its customer and open conversation but is no contact of its own."""
        if not owners:
            return interaction
        root = self._ranked(list(owners.values()))[0].root
        current = self._conversation(cur, root)
        open_id = None
        if current is not None and self._within_window(interaction, current.last_activity_at):
            open_id = current.id
        return interaction.model_copy(update={"customer_id": root, "conversation_id": open_id})

    def _ranked(self, owners: list[_Owner]) -> list[_Owner]:
        """Owners linked by a verified identity first, then by the strongest kind linking
        them, then oldest first."""
        rank = self.policy.rank
        return sorted(
            owners,
            key=lambda o: (
                not o.verified,
                min(rank(kind) for kind, _ in o.keys),
                o.created_at,
                o.root,
            ),
        )

    def _reconcile(
        self, cur: Cursor, owners: list[_Owner], interaction: Interaction, now: str
    ) -> str:
        """Merge the customers this interaction links where the rules allow; return its owner."""
        ranked = self._ranked(owners)
        primary = ranked[0]
        can_merge = self.policy.can_merge
        for other in ranked[1:]:
            reason = None
            strong = [any(can_merge(kind) for kind, _ in o.keys) for o in (primary, other)]
            if not (primary.verified and other.verified):
                reason = "linked through an asserted identity: a merge needs a verified one"
                self._count("merge_held_unverified")
            elif not all(strong) and not (any(strong) and self._anonymous(cur, primary, other)):
                reason = "linked only through a provider-scoped id"
            elif over := self._over_limit(cur, primary.root, other.root):
                reason = over
            if reason is not None:
                if propose(
                    cur,
                    primary.root,
                    other.keys[0],
                    reason,
                    now,
                    other=other.root,
                    interaction_id=interaction.id,
                ):
                    self._count("proposed")
                continue
            survivor, merged = sorted((primary, other), key=lambda o: (o.created_at, o.root))
            cause = f"{_label(primary.keys[0])} and {_label(other.keys[0])} in one interaction"
            self._dialect.lock_stream(cur)
            insert_merge(cur, survivor.root, merged.root, cause, now, interaction.id)
            self._count("merged")
            self.forget()  # the merged customer's identities and conversations changed root
            primary = _Owner(survivor.root, survivor.created_at, primary.keys + other.keys, True)
        return primary.root

    def _anonymous(self, cur: Cursor, primary: _Owner, other: _Owner) -> bool:
        """With `merge_anonymous`, return True if the customer linked only through a
        provider-scoped id has no phone or e-mail at all (an anonymous visitor)."""
        if not self.policy.rules.merge_anonymous:
            return False
        weak = other if any(self.policy.can_merge(kind) for kind, _ in primary.keys) else primary
        return not any(self.policy.can_merge(kind) for kind in kind_counts(cur, weak.root))

    def _over_limit(self, cur: Cursor, first: str, second: str) -> str | None:
        """Return why merging two customers would break a per-kind limit, or None."""
        counts = kind_counts(cur, first)
        for kind, count in kind_counts(cur, second).items():
            limit = self.policy.limit(kind)
            if limit is not None and counts.get(kind, 0) + count > limit:
                return f"the merged customer would have more than {limit} {kind} identities"
        return None

    def _attach(
        self,
        cur: Cursor,
        root: str,
        keys: Sequence[Key],
        verified: Collection[Key],
        reclaimed: Collection[Key],
        interaction_id: str,
        now: str,
        *,
        fresh: bool,
    ) -> set[Key]:
        """Attach unknown identities to `root`, stored verified or asserted, and move the
        `reclaimed` ones' asserted rows to it; one beyond its kind's limit is proposed.

        Return the identities attached.
        """
        attached: set[Key] = set()
        if not keys:
            return attached
        counts = {} if fresh else kind_counts(cur, root)
        for key in keys:
            limit = self.policy.limit(key[0])
            if limit is not None and counts.get(key[0], 0) >= limit:
                reason = f"the customer already has {limit} {key[0]} identities"
                if propose(cur, root, key, reason, now, interaction_id=interaction_id):
                    self._count("proposed")
                continue
            if key in reclaimed:
                cur.execute(_RECLAIM_IDENTITY, (root, now, *key))
                self._owners.pop(key, None)
            else:
                cur.execute(_INSERT_IDENTITY, (*key, root, now, int(key in verified)))
            counts[key[0]] = counts.get(key[0], 0) + 1
            attached.add(key)
        return attached

    def _within_window(self, interaction: Interaction, last_activity: datetime) -> bool:
        return abs(interaction.occurred_at - last_activity) <= self.policy.conversation_window

    def _conversation(self, cur: Cursor, root: str) -> _Conversation | None:
        """Return the latest conversation of the customer `root` (its whole tree), or None."""
        if root in self._conversations:
            return self._conversations[root]
        found = self._read_conversation(cur, root)
        if len(self._conversations) >= _CACHE_MAX:
            self.forget()
        self._conversations[root] = found
        return found

    def _read_conversation(self, cur: Cursor, root: str) -> _Conversation | None:
        """Rebuild the latest conversation's state from its contacts: their rows say which
        conversation they joined, and the last one's `context` is the state after it."""
        last = cur.execute(_LAST_CONTACT, {"root": root}).fetchone()
        if last is None:
            return None
        since = _window_start(last[0], self.policy.conversation_window)
        rows = cur.execute(_RECENT_CONTACTS, {"root": root, "since": since}).fetchall()
        latest = max(rows, key=lambda row: (row[2], row[0]))[1]
        rows = [row for row in rows if row[1] == latest]
        rows.sort(key=lambda row: row[0])  # in the order they were processed
        after = validated(rows[-1][4])
        if isinstance(after, str) or after.context is None:
            # That row no longer validates (docs/operations.md): its conversation cannot be
            # continued, so a new one starts; refusing would refuse this customer forever.
            return None
        context, kind = after.context, after.channel.kind
        return _Conversation(
            latest,
            parse_utc(max(row[2] for row in rows)),
            context.conversation_size,
            list(context.conversation_channels),
            kind,
            _waiting(rows),
        )

    def _thread(
        self,
        cur: Cursor,
        interaction: Interaction,
        root: str,
        *,
        claimed: bool,
    ) -> tuple[Interaction, ServiceEvent | None]:
        """Join the customer's open conversation or open one; return the interaction in it and
        what it did to the conversation's service.

        Nothing is written here: the interaction's own row records the conversation.
        """
        kind = interaction.channel.kind
        contact = _contact(interaction)
        current = self._conversation(cur, root)
        if current is None or not self._within_window(interaction, current.last_activity_at):
            waiting, event = advance(None, contact)
            current = _Conversation(
                f"conv_{new_interaction_id()}", interaction.occurred_at, 1, [kind], kind, waiting
            )
            self._conversations[root] = current
            previous = None
        else:
            previous = current.last_channel
            current.waiting, event = advance(current.waiting, contact)
            if kind not in current.channels:
                current.channels = sorted([*current.channels, kind])
            current.last_activity_at = max(current.last_activity_at, interaction.occurred_at)
            current.size += 1
            current.last_channel = kind
        context = ConversationContext(
            conversation_channels=cast("list[ChannelKind]", list(current.channels)),
            conversation_size=current.size,
            repeat_contact=isinstance(event, Chase),
            previous_channel=cast("ChannelKind | None", previous),
            identity_claimed=claimed,
        )
        threaded = interaction.model_copy(
            update={"customer_id": root, "conversation_id": current.id, "context": context}
        )
        return threaded, event


def _contact(interaction: Interaction) -> Contact:
    return Contact(
        interaction.direction,
        interaction.channel.kind,
        interaction.occurred_at,
        AUTOMATED in interaction.metadata,
    )


def _waiting(rows: list[tuple[int, str, str, str, str]]) -> Waiting | None:
    """Return the wait after the contacts of `rows` (in processing order); a row that no
    longer validates is left out."""
    waiting = None
    for *_, body in rows:
        contact = validated(body)
        if not isinstance(contact, str):
            waiting, _ = advance(waiting, _contact(contact))
    return waiting


def _window_start(last: str, window: timedelta) -> str:
    """Return `last - window` as text, clamped to year 1: a stored year-1 row never overflows."""
    try:
        return utc_text(parse_utc(last) - window)
    except OverflowError:
        return utc_text(datetime.min.replace(tzinfo=UTC))


def _label(key: Key) -> str:
    return f"{key[0]}:{key[1]}"
