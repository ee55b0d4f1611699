"""The SQL of outbound messages (DESIGN §12), run by `SqliteStore` on its connections.

A message is written with its outbound interaction and its send job by the commit path
(`queue_send`); the delivery queue's bookkeeping moves it on (`after_record`, `park_unknown`);
status receipts of the channel move its state forward only (`advance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson

from gateway.schema import STATUS_RANK, Interaction
from gateway.store.base import (
    UNKNOWN_OUTCOME,
    DeliveryUpdate,
    MessageState,
    OutboundMessage,
    OutboundSend,
)
from gateway.store.delivery_queue import INSERT_DELIVERY
from gateway.store.identity_graph import TREE, root_of
from gateway.store.sql import Connection, Cursor, parse_utc, utc_text
from gateway.store.stored_rows import validated

__all__ = [
    "advance",
    "after_record",
    "get_message",
    "latest_inbound",
    "list_messages",
    "message_by_key",
    "park_unknown",
    "queue_send",
    "sent_before",
    "sent_here",
]

_DEAD_RANK = 5
_COLUMNS = (
    "id, state, channel_id, customer_id, conversation_id, interaction_id, provider_message_id,"
    " error, request_hash, created_at, updated_at FROM outbound_messages"
)
_INSERT = (
    "INSERT INTO outbound_messages (id, idempotency_key, request_hash, interaction_id,"
    " delivery_id, channel_id, customer_id, conversation_id, resend_unknown, then_backends,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADVANCE = (
    "UPDATE outbound_messages SET state = :state, state_rank = :rank,"
    " error = coalesce(:error, error), updated_at = :now"
    " WHERE channel_id = :channel AND provider_message_id = :provider AND state_rank < :rank"
)
_BY_PROVIDER_ID = "SELECT 1 FROM outbound_messages WHERE channel_id = ? AND provider_message_id = ?"
_SENT_AS = (
    "SELECT interaction_id FROM outbound_messages WHERE channel_id = ? AND provider_message_id = ?"
)
_ANY_QUEUED = "SELECT 1 FROM outbound_messages WHERE state = 'queued' AND channel_id = ? LIMIT 1"
_HIGHEST_RECEIPT = (
    "SELECT body FROM interactions WHERE channel_id = ? AND status_of = ?"
    " ORDER BY status_rank DESC LIMIT 1"
)
_PARK = (
    "UPDATE deliveries SET state = 'dead', last_error = :reason, lease_until = NULL,"
    " updated_at = :now WHERE state = 'in_flight'"
    " AND (CAST(:backend AS TEXT) IS NULL OR backend = :backend)"
    " AND (:any_lease OR lease_until <= :now)"
    " AND id IN (SELECT delivery_id FROM outbound_messages WHERE resend_unknown = 0)"
    " RETURNING id"
)


def sent_before(cur: Cursor, idempotency_key: str) -> str | None:
    """Return the interaction id of the message created with this key, or None."""
    sql = "SELECT interaction_id FROM outbound_messages WHERE idempotency_key = ?"
    row = cur.execute(sql, (idempotency_key,)).fetchone()
    return None if row is None else cast("str", row[0])


def sent_as(cur: Cursor, channel_id: str, provider_id: str) -> str | None:
    """Return the interaction id of the message the gateway sent on `channel_id` that the
    provider accepted as `provider_id`, or None."""
    row = cur.execute(_SENT_AS, (channel_id, provider_id)).fetchone()
    return None if row is None else cast("str", row[0])


def sent_here(cur: Cursor, channel_id: str, provider_id: str) -> bool:
    """Return whether the message `provider_id` may be one the gateway sent on `channel_id`:
    a message has that id, or one is still queued (its id is not recorded yet)."""
    return cur.execute(_BY_PROVIDER_ID, (channel_id, provider_id)).fetchone() is not None or (
        cur.execute(_ANY_QUEUED, (channel_id,)).fetchone() is not None
    )


def queue_send(
    cur: Cursor,
    interaction: Interaction,
    send: OutboundSend,
    backends: Sequence[str],
    now: str,
) -> None:
    """Write the message of a just-stored outbound interaction and its one send job."""
    order_key = interaction.customer_id
    delivery_id = cur.execute(
        INSERT_DELIVERY + " RETURNING id", (interaction.id, send.target, order_key, now)
    ).fetchone()[0]
    cur.execute(
        _INSERT,
        (
            send.message_id,
            send.idempotency_key,
            send.request_hash,
            interaction.id,
            delivery_id,
            interaction.channel.id,
            interaction.customer_id,
            interaction.conversation_id,
            int(send.resend_unknown),
            orjson.dumps(list(backends)).decode(),
            now,
            now,
        ),
    )


def advance(
    cur: Cursor, channel_id: str, provider_id: str, state: str, error: str | None, now: str
) -> None:
    """Move the message the provider knows as `provider_id` forward to `state` (never back)."""
    params = {
        "state": state,
        "rank": STATUS_RANK[state],
        "error": error,
        "now": now,
        "channel": channel_id,
        "provider": provider_id,
    }
    cur.execute(_ADVANCE, params)


def after_record(conn: Connection, update: DeliveryUpdate, now: datetime) -> None:
    """Follow a recorded delivery in its message, if it is a send.

    Accepted: the message is `sent` with the provider's id, the CRM backends get the outbound
    interaction, and a receipt that arrived before the send was recorded applies at once.
    """
    row = conn.execute(
        "SELECT id, interaction_id, channel_id, customer_id, then_backends"
        " FROM outbound_messages WHERE delivery_id = ?",
        (update.delivery_id,),
    ).fetchone()
    if row is None:
        return
    message_id, interaction_id, channel_id, customer_id, then_backends = row
    stamp = utc_text(now)
    if update.state == "pending":
        conn.execute(
            "UPDATE outbound_messages SET error = ?, updated_at = ? WHERE id = ?",
            (update.error, stamp, message_id),
        )
        return
    if update.state == "dead":
        _dead(conn, [message_id], update.error or "rejected", stamp)
        return
    provider_id = update.provider_message_id
    conn.execute(
        "UPDATE outbound_messages SET state = 'sent', state_rank = 1, provider_message_id = ?,"
        " error = NULL, updated_at = ? WHERE id = ?",
        (provider_id, stamp, message_id),
    )
    jobs = [(interaction_id, b, customer_id, stamp) for b in orjson.loads(then_backends)]
    conn.executemany(INSERT_DELIVERY, jobs)
    if provider_id is not None and (
        receipt := conn.execute(_HIGHEST_RECEIPT, (channel_id, provider_id)).fetchone()
    ):
        status = orjson.loads(receipt[0])["status"]
        advance(conn.cursor(), channel_id, provider_id, status["state"], status.get("error"), stamp)


def park_unknown(conn: Connection, backend: str | None, now: datetime) -> int:
    """Dead-letter sends in flight whose outcome is unknown: those of `backend` whose lease
    expired, or (`backend` None, after a crash) every one; return how many."""
    stamp = utc_text(now)
    reason = f"{UNKNOWN_OUTCOME}: the send was in flight when its worker stopped; the provider may"
    reason += " or may not have it (replay it to send again)"
    params = {"reason": reason, "now": stamp, "backend": backend, "any_lease": backend is None}
    ids = [row[0] for row in conn.execute(_PARK, params).fetchall()]
    if ids:
        marks = ",".join("?" * len(ids))
        found = conn.execute(
            f"SELECT id FROM outbound_messages WHERE delivery_id IN ({marks})",
            ids,
        ).fetchall()
        _dead(conn, [row[0] for row in found], reason, stamp)
    return len(ids)


def latest_inbound(
    conn: Connection, customer_id: str | None, conversation_id: str | None
) -> list[Interaction]:
    """Return the latest inbound message or call on each channel, newest first: of a customer's
    merge tree, or of one conversation. Rows that no longer validate are left out."""
    where, params = "conversation_id = :conversation", {"conversation": conversation_id}
    sql = ""
    if customer_id is not None:
        root = root_of(conn.cursor(), customer_id)
        if root is None:
            return []
        sql, where, params = TREE, "customer_id IN (SELECT id FROM tree)", {"root": root[0]}
    sql += (
        " SELECT body FROM (SELECT body, occurred_at, row_number() OVER ("
        "  PARTITION BY channel_id ORDER BY occurred_at DESC, rowid DESC) AS n"
        f" FROM interactions WHERE {where} AND direction = 'inbound' AND type <> 'status')"
        " WHERE n = 1 ORDER BY occurred_at DESC"
    )
    found = [validated(row[0]) for row in conn.execute(sql, params)]
    return [i for i in found if isinstance(i, Interaction)]


def _dead(conn: Connection, message_ids: Sequence[str], error: str, now: str) -> None:
    conn.executemany(
        "UPDATE outbound_messages SET state = 'dead', state_rank = ?, error = ?, updated_at = ?"
        " WHERE id = ?",
        [(_DEAD_RANK, error, now, i) for i in message_ids],
    )


def get_message(conn: Connection, message_id: str) -> OutboundMessage | None:
    """Return one message, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else _message(row)


def message_by_key(conn: Connection, idempotency_key: str) -> OutboundMessage | None:
    """Return the message created with `idempotency_key`, or None."""
    sql = f"SELECT {_COLUMNS} WHERE idempotency_key = ?"
    row = conn.execute(sql, (idempotency_key,)).fetchone()
    return None if row is None else _message(row)


def list_messages(
    conn: Connection,
    state: MessageState | None,
    customer_id: str | None,
    limit: int,
    after: str | None,
) -> list[OutboundMessage]:
    """Return messages by ascending id after `after`, filtered by state and customer."""
    sql = f"SELECT {_COLUMNS} WHERE id > coalesce(:after, '')"
    if state is not None:
        sql += " AND state = :state"
    if customer_id is not None:
        sql += " AND customer_id = :customer"
    params = {"after": after, "state": state, "customer": customer_id, "limit": limit}
    return [_message(row) for row in conn.execute(sql + " ORDER BY id LIMIT :limit", params)]


def _message(row: Any) -> OutboundMessage:
    (mid, state, channel, customer, conversation, interaction, provider, error, digest) = row[:9]
    return OutboundMessage(
        mid,
        state,
        channel,
        customer,
        conversation,
        interaction,
        provider,
        error,
        digest,
        parse_utc(row[9]),
        parse_utc(row[10]),
    )
