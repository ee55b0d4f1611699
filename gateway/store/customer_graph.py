"""The SQLite side of the customer admin: profiles, timelines, links, proposals, unmerge, erasure.

Module-level functions on a connection, like `delivery_queue`: `SqliteStore` runs the reading
ones on its reader thread and the writing ones in a transaction on its writer thread, between
group commits, so they serialise with identity resolution.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import orjson

from gateway.identity import IdentityPolicy
from gateway.schema import Identity
from gateway.store import delivery_queue as deliveries
from gateway.store.base import (
    ConflictError,
    CustomerRecord,
    ErasureReceipt,
    ErasureRecord,
    LinkResult,
    MergeProposal,
    MergeRecord,
    Stream,
    TimelineEntry,
)
from gateway.store.identity_graph import (
    OWNER,
    TREE,
    Key,
    insert_merge,
    root_of,
    tree_of,
)
from gateway.store.sql import Connection, Cursor, parse_utc, utc_text
from gateway.store.stored_rows import INTERACTION_COLUMNS, load_interaction

__all__ = [
    "advance",
    "crosswalk_of",
    "current_customers",
    "decide_proposal",
    "erase_customer",
    "erasures_after",
    "erasures_of",
    "find_customer",
    "get_customer",
    "link_identity",
    "list_proposals",
    "merges_after",
    "record_crosswalk",
    "record_receipt",
    "reply_identities",
    "scrubbed_at",
    "timeline",
    "unmerge",
]

_MERGE_COLUMNS = (
    "id, action, survivor_id, merged_id, cause, interaction_id, created_at, undone_at"
    " FROM customer_merges"
)
_PROPOSAL_COLUMNS = (
    "id, customer_id, kind, value, other_customer_id, reason, interaction_id, state,"
    " created_at, decided_at FROM merge_proposals"
)
_ERASURE_COLUMNS = (
    "id, customer_id, requested_at, interactions, crosswalk, scrubbed_at FROM erasures"
)
_IN_TREE = " IN (SELECT id FROM tree)"


def find_customer(conn: Connection, identity: Identity) -> CustomerRecord | None:
    """Return the live customer holding `identity`, or None."""
    row = conn.execute(OWNER, (identity.kind, identity.value)).fetchone()
    return None if row is None else get_customer(conn, row[0])


def get_customer(conn: Connection, customer_id: str) -> CustomerRecord | None:
    """Return a customer with the identities, crosswalk and merges of its tree, or None."""
    row = conn.execute(
        "SELECT id, display_name, created_at, merged_into FROM customers WHERE id = ?",
        (customer_id,),
    ).fetchone()
    if row is None:
        return None
    tree = {"root": customer_id}
    identities = conn.execute(
        TREE
        + " SELECT kind, value, verified FROM identities WHERE customer_id"
        + _IN_TREE
        + " ORDER BY created_at, kind, value",
        tree,
    )
    crosswalk: dict[str, tuple[str, ...]] = {}
    # Customers of one tree may hold the same record (a CRM matched both, or a merged
    # customer's delivery reported its survivor's record): each record is shown once.
    for backend, ref in conn.execute(
        TREE
        + " SELECT backend, record_ref FROM crosswalk WHERE customer_id"
        + _IN_TREE
        + " GROUP BY backend, record_ref ORDER BY backend, max(updated_at), record_ref",
        tree,
    ):
        crosswalk[backend] = (*crosswalk.get(backend, ()), ref)
    merges = conn.execute(
        TREE
        + f" SELECT {_MERGE_COLUMNS} WHERE survivor_id"
        + _IN_TREE
        + " OR merged_id"
        + _IN_TREE
        + " ORDER BY id",
        tree,
    )
    return CustomerRecord(
        id=row[0],
        display_name=row[1],
        created_at=parse_utc(row[2]),
        merged_into=row[3],
        identities=tuple(
            Identity(kind=kind, value=value, verified=bool(verified))
            for kind, value, verified in identities
        ),
        crosswalk=crosswalk,
        merges=tuple(_merge_record(m) for m in merges),
    )


def reply_identities(conn: Connection, customer_id: str) -> list[Identity] | None:
    """Return the identities a reply to a customer may go to, oldest first: those its merge
    tree used verified and those an operator linked. None if there is no such customer."""
    found = root_of(conn.cursor(), customer_id)
    if found is None:
        return None
    rows = conn.execute(
        TREE
        + " SELECT kind, value FROM identities WHERE customer_id"
        + _IN_TREE
        + " AND (verified = 1 OR source = 'operator') ORDER BY created_at, kind, value",
        {"root": found[0]},
    )
    return [Identity(kind=kind, value=value) for kind, value in rows]


def timeline(
    conn: Connection, customer_id: str, limit: int, after: str | None
) -> list[TimelineEntry]:
    """Return the interactions of a customer's tree by (occurred_at, id), after `after`."""
    params: dict[str, Any] = {"root": customer_id, "limit": limit, "after": after or ""}
    sql = TREE + f" SELECT {INTERACTION_COLUMNS} FROM interactions WHERE customer_id" + _IN_TREE
    if after is not None:
        sql += (
            " AND (occurred_at, id) > ((SELECT occurred_at FROM interactions WHERE id = :after),"
            " :after)"
        )
    rows = conn.execute(sql + " ORDER BY occurred_at, id LIMIT :limit", params).fetchall()
    return [
        TimelineEntry(load_interaction(row), tuple(deliveries.deliveries_of(conn, row[0])))
        for row in rows
    ]


def link_identity(
    conn: Connection,
    customer_id: str,
    key: Key,
    policy: IdentityPolicy,
    now: datetime,
) -> LinkResult | None:
    """Link `key` to a customer by operator decision; merge its holder in. None: no customer."""
    found = root_of(conn.cursor(), customer_id)
    if found is None:
        return None
    _refuse_unlinkable(conn, key, policy)
    return _link(conn.cursor(), found, key, f"operator linked {key[0]}:{key[1]}", utc_text(now))


def _refuse_unlinkable(conn: Connection, key: Key, policy: IdentityPolicy) -> None:
    if policy.is_blocked(*key):
        raise ConflictError(f"{key[0]}:{key[1]} is blocked by identity.rules; it links nobody")
    business = "SELECT 1 FROM business_identities WHERE kind = ? AND value = ?"
    if conn.execute(business, key).fetchone():
        raise ConflictError(
            f"{key[0]}:{key[1]} is one of your own numbers or addresses; it links nobody"
        )


def _link(cur: Cursor, root: tuple[str, str], key: Key, cause: str, now: str) -> LinkResult:
    owner = cur.execute(OWNER, key).fetchone()
    if owner is None:
        cur.execute(
            "INSERT INTO identities (kind, value, customer_id, source, created_at)"
            " VALUES (?, ?, ?, 'operator', ?)",
            (*key, root[0], now),
        )
        return LinkResult(root[0], "linked")
    if owner[0] == root[0]:
        return LinkResult(root[0], "unchanged")
    survivor, merged = sorted((root, (owner[0], owner[1])), key=lambda r: (r[1], r[0]))
    merge_id = insert_merge(cur, survivor[0], merged[0], cause, now)
    return LinkResult(survivor[0], "merged", merge_id)


def list_proposals(
    conn: Connection, state: str | None, limit: int, after_id: int | None
) -> list[MergeProposal]:
    """Return proposals by ascending id, optionally of one state."""
    sql = f"SELECT {_PROPOSAL_COLUMNS} WHERE id > :after"
    if state is not None:
        sql += " AND state = :state"
    params = {"after": after_id or 0, "state": state, "limit": limit}
    return [_proposal(row) for row in conn.execute(sql + " ORDER BY id LIMIT :limit", params)]


def decide_proposal(
    conn: Connection, proposal_id: int, accept: bool, now: datetime
) -> MergeProposal | None:
    """Accept or reject a pending proposal; None if there is none with this id."""
    select = f"SELECT {_PROPOSAL_COLUMNS} WHERE id = ?"
    row = conn.execute(select, (proposal_id,)).fetchone()
    if row is None:
        return None
    proposal = _proposal(row)
    if proposal.state != "pending":
        raise ConflictError(f"proposal {proposal_id} was {proposal.state} already")
    at = utc_text(now)
    if accept:
        root = root_of(conn.cursor(), proposal.customer_id)
        if root is None:
            raise ConflictError(f"customer {proposal.customer_id} no longer exists")
        key = (proposal.identity.kind, proposal.identity.value)
        _link(conn.cursor(), root, key, f"operator accepted proposal {proposal_id}", at)
    conn.execute(
        "UPDATE merge_proposals SET state = ?, decided_at = ? WHERE id = ?",
        ("accepted" if accept else "rejected", at, proposal_id),
    )
    return _proposal(conn.execute(select, (proposal_id,)).fetchone())


def unmerge(conn: Connection, customer_id: str, now: datetime) -> MergeRecord | None:
    """Undo the merge of `customer_id` into its survivor; None if there is no such customer."""
    row = conn.execute("SELECT merged_into FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        return None
    if row[0] is None:
        raise ConflictError(
            f"customer {customer_id} is not merged into another; unmerge a customer that was"
            " merged into it (see its merges)"
        )
    merge_id = conn.execute(
        "SELECT max(id) FROM customer_merges"
        " WHERE action = 'merge' AND merged_id = ? AND undone_at IS NULL",
        (customer_id,),
    ).fetchone()[0]
    at = utc_text(now)
    conn.execute("UPDATE customers SET merged_into = NULL WHERE id = ?", (customer_id,))
    conn.execute("UPDATE customer_merges SET undone_at = ? WHERE id = ?", (at, merge_id))
    unmerge_id = conn.execute(
        "INSERT INTO customer_merges"
        " (action, survivor_id, merged_id, cause, undoes, created_at)"
        " VALUES ('unmerge', ?, ?, ?, ?, ?) RETURNING id",
        (row[0], customer_id, f"operator undid merge {merge_id}", merge_id, at),
    ).fetchone()[0]
    entry = conn.execute(f"SELECT {_MERGE_COLUMNS} WHERE id = ?", (unmerge_id,))
    return _merge_record(entry.fetchone())


_ERASE = (
    "DELETE FROM merge_proposals WHERE customer_id {tree} OR other_customer_id {tree}"
    " OR (kind, value) IN (SELECT kind, value FROM identities WHERE customer_id {tree})",
    "DELETE FROM identities WHERE customer_id {tree}",
    "DELETE FROM crosswalk WHERE customer_id {tree}",
    "DELETE FROM customer_merges WHERE survivor_id {tree} OR merged_id {tree}",
    "DELETE FROM customers WHERE id {tree}",
)


def erase_customer(conn: Connection, customer_id: str, now: datetime) -> ErasureRecord | None:
    """Delete a customer's whole merge tree and its interactions; record the erasure request."""
    found = root_of(conn.cursor(), customer_id)
    if found is None:
        return None
    root = found[0]
    tree = {"root": root}
    record = get_customer(conn, root)
    assert record is not None
    erased_ids = tree_of(conn.cursor(), root)
    doomed = conn.execute(TREE + " SELECT id FROM interactions WHERE customer_id" + _IN_TREE, tree)
    erased = conn.executemany("DELETE FROM interactions WHERE id = ?", doomed.fetchall()).rowcount
    for statement in _ERASE:
        conn.execute(TREE + " " + statement.format(tree=_IN_TREE.strip()), tree)
    at = utc_text(now)
    erasure_id = conn.execute(
        "INSERT INTO erasures (customer_id, customer_ids, crosswalk, interactions, requested_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (root, " ".join(erased_ids), orjson.dumps(record.crosswalk).decode(), erased, at),
    ).fetchone()[0]
    return ErasureRecord(erasure_id, root, now, erased, record.crosswalk, ())


def erasures_of(conn: Connection, customer_id: str) -> list[ErasureRecord]:
    """Return the erasures that removed a customer id (it or its merge tree), oldest first."""
    rows = conn.execute(
        f"SELECT {_ERASURE_COLUMNS} WHERE customer_id = :id"
        " OR instr(' ' || customer_ids || ' ', ' ' || :id || ' ') > 0 ORDER BY id",
        {"id": customer_id},
    )
    return [_erasure(conn, row) for row in rows.fetchall()]


def scrubbed_at(conn: Connection, erasure_id: int) -> datetime | None:
    """Return when an erasure was scrubbed from the files, or None (not yet, or no such id)."""
    row = conn.execute("SELECT scrubbed_at FROM erasures WHERE id = ?", (erasure_id,)).fetchone()
    return None if row is None or row[0] is None else parse_utc(row[0])


def merges_after(conn: Connection, backend: str, limit: int) -> list[MergeRecord]:
    """Return the merge log entries after `backend`'s cursor (a new backend starts at the end)."""
    last = _cursor(conn, backend, "merges", "customer_merges")
    rows = conn.execute(f"SELECT {_MERGE_COLUMNS} WHERE id > ? ORDER BY id LIMIT ?", (last, limit))
    return [_merge_record(row) for row in rows]


def erasures_after(conn: Connection, backend: str, limit: int) -> list[ErasureRecord]:
    """Return the erasures after `backend`'s cursor (a new backend starts at the end)."""
    last = _cursor(conn, backend, "erasures", "erasures")
    rows = conn.execute(
        f"SELECT {_ERASURE_COLUMNS} WHERE id > ? ORDER BY id LIMIT ?", (last, limit)
    )
    return [_erasure(conn, row) for row in rows.fetchall()]


def advance(conn: Connection, backend: str, stream: Stream, last_id: int) -> None:
    """Move `backend`'s cursor on `stream` forward to `last_id`."""
    conn.execute(
        "INSERT INTO stream_cursors (backend, stream, last_id) VALUES (?, ?, ?)"
        " ON CONFLICT (backend, stream) DO UPDATE SET last_id = excluded.last_id"
        " WHERE excluded.last_id > stream_cursors.last_id",
        (backend, stream, last_id),
    )


def record_receipt(conn: Connection, erasure_id: int, receipt: ErasureReceipt) -> None:
    """Keep (or replace) a backend's answer to an erasure request."""
    conn.execute(
        "INSERT INTO erasure_receipts (erasure_id, backend, outcome, detail, finished_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (erasure_id, backend) DO UPDATE SET"
        " outcome = excluded.outcome, detail = excluded.detail,"
        " finished_at = excluded.finished_at",
        (
            erasure_id,
            receipt.backend,
            receipt.outcome,
            receipt.detail,
            utc_text(receipt.finished_at),
        ),
    )


def record_crosswalk(
    conn: Connection, delivery_id: int, record_refs: Sequence[str], now: str
) -> None:
    """Keep the records a backend reported for the customer of a delivery's interaction."""
    conn.executemany(
        "INSERT INTO crosswalk (customer_id, backend, record_ref, updated_at)"
        " SELECT i.customer_id, d.backend, ?, ? FROM deliveries AS d"
        " JOIN interactions AS i ON i.id = d.interaction_id"
        " WHERE d.id = ? AND i.customer_id IS NOT NULL"
        " ON CONFLICT (customer_id, backend, record_ref)"
        " DO UPDATE SET updated_at = excluded.updated_at",
        [(ref, now, delivery_id) for ref in record_refs],
    )


def current_customers(
    conn: Connection, customer_ids: Collection[str], backend: str
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Return, per customer id, who the customer is now (its tree's root) and the records
    `backend` reported for that whole tree, newest first.

    Three queries for any number of ids: only customers in a merge (rare) need their tree walked.
    """
    ids = list(set(customer_ids))
    marks = ", ".join("?" * len(ids))
    merged = {
        row[0]
        for row in conn.execute(
            f"SELECT id FROM customers WHERE id IN ({marks}) AND merged_into IS NOT NULL"
            f" UNION SELECT merged_into FROM customers WHERE merged_into IN ({marks})",
            ids * 2,
        )
    }
    plain = [customer_id for customer_id in ids if customer_id not in merged]
    refs: dict[str, list[str]] = {customer_id: [] for customer_id in plain}
    rows = (
        conn.execute(
            f"SELECT customer_id, record_ref FROM crosswalk WHERE backend = ?"
            f" AND customer_id IN ({', '.join('?' * len(plain))})"
            " ORDER BY updated_at DESC, record_ref",
            [backend, *plain],
        )
        if plain
        else ()
    )  # `IN ()` is SQLite's alone
    for customer_id, ref in rows:
        refs[customer_id].append(ref)
    current = {customer_id: (customer_id, tuple(found)) for customer_id, found in refs.items()}
    for customer_id in merged & set(ids):
        found = root_of(conn.cursor(), customer_id)
        root = found[0] if found else customer_id
        current[customer_id] = (root, crosswalk_of(conn, root, backend))
    return current


def crosswalk_of(conn: Connection, customer_id: str, backend: str) -> tuple[str, ...]:
    """Return the records `backend` reported for a customer and those merged into it."""
    rows = conn.execute(
        TREE
        + " SELECT record_ref FROM crosswalk WHERE backend = :backend AND customer_id"
        + _IN_TREE
        + " GROUP BY record_ref ORDER BY max(updated_at) DESC, record_ref",
        {"root": customer_id, "backend": backend},
    )
    return tuple(row[0] for row in rows)


def _cursor(conn: Connection, backend: str, stream: Stream, table: str) -> int:
    row = conn.execute(
        "SELECT last_id FROM stream_cursors WHERE backend = ? AND stream = ?", (backend, stream)
    ).fetchone()
    if row is not None:
        return int(row[0])
    last = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    advance(conn, backend, stream, last)
    return int(last)


def _merge_record(row: Any) -> MergeRecord:
    entry_id, action, survivor, merged, cause, interaction_id, created, undone = row
    return MergeRecord(
        entry_id,
        action,
        survivor,
        merged,
        cause,
        interaction_id,
        parse_utc(created),
        None if undone is None else parse_utc(undone),
    )


def _proposal(row: Any) -> MergeProposal:
    proposal_id, customer, kind, value, other, reason, interaction_id, state, created, decided = row
    return MergeProposal(
        proposal_id,
        customer,
        Identity(kind=kind, value=value),
        other,
        reason,
        interaction_id,
        state,
        parse_utc(created),
        None if decided is None else parse_utc(decided),
    )


def _erasure(conn: Connection, row: Any) -> ErasureRecord:
    erasure_id, customer_id, requested, interactions, crosswalk, scrubbed = row
    receipts = conn.execute(
        "SELECT backend, outcome, detail, finished_at FROM erasure_receipts"
        " WHERE erasure_id = ? ORDER BY backend",
        (erasure_id,),
    )
    return ErasureRecord(
        erasure_id,
        customer_id,
        parse_utc(requested),
        interactions,
        {backend: tuple(refs) for backend, refs in orjson.loads(crosswalk).items()},
        tuple(
            ErasureReceipt(backend, outcome, detail, parse_utc(finished))
            for backend, outcome, detail, finished in receipts
        ),
        None if scrubbed is None else parse_utc(scrubbed),
    )
