"""The SQLite read behind the service report and gauge (DESIGN §13): contacts, not the rule.

The rule itself is `gateway.service_events`; this module only reads what it folds, off the
writer, on the reader connection.
"""

from __future__ import annotations

from datetime import datetime

from gateway.service_events import Contact
from gateway.store.sql import Connection, parse_utc, utc_text

__all__ = ["IS_CONTACT", "service_contacts", "unanswered_since"]

IS_CONTACT = "(type <> 'status' OR json_extract(body, '$.metadata.sent_elsewhere') = 'true')"
"""SQL: the row is a contact (`service_events`): not a receipt, or a receipt marked
`sent_elsewhere`. Written exactly so in the partial indexes of migration 0009, which SQLite uses
only for a query naming the same expression."""

# Every contact of each conversation with a contact at or after :since, in the order the
# resolver threaded them; a body that is no longer JSON is left out, as threading does.
_CONTACTS = (
    "SELECT conversation_id, direction, occurred_at, json_extract(body, '$.channel.kind'),"
    " json_type(body, '$.metadata.automated') IS NOT NULL"
    f" FROM interactions WHERE conversation_id IS NOT NULL AND {IS_CONTACT}"
    " AND conversation_id IN (SELECT conversation_id FROM interactions"
    f" WHERE conversation_id IS NOT NULL AND occurred_at >= :since AND {IS_CONTACT})"
    " AND json_valid(body) ORDER BY rowid"
)


# The conversations with a contact at or after :since (a covering scan of the occurred_at
# index), each waiting if its latest non-automated contact, in threading order, is inbound (one
# backward step of the conversation index each, usually): `service_events.advance` folded to
# its result, in SQLite, so the gauge costs per open conversation, not per contact.
_UNANSWERED = (
    "SELECT count(*) FROM (SELECT DISTINCT conversation_id AS open"
    " FROM interactions INDEXED BY interactions_occurred_at"
    f" WHERE conversation_id IS NOT NULL AND occurred_at >= :since AND {IS_CONTACT})"
    " AS active WHERE (SELECT direction FROM interactions"
    f" WHERE conversation_id = open AND conversation_id IS NOT NULL AND {IS_CONTACT}"
    " AND json_valid(body) AND json_type(body, '$.metadata.automated') IS NULL"
    " ORDER BY rowid DESC LIMIT 1) = 'inbound'"
)


def unanswered_since(conn: Connection, since: datetime) -> int:
    """Return how many conversations active since `since` wait for an answer: their latest
    non-automated contact is inbound (what folding `service_contacts` by the rule says)."""
    return int(conn.execute(_UNANSWERED, {"since": utc_text(since)}).fetchone()[0])


def service_contacts(conn: Connection, since: datetime) -> list[tuple[str, Contact]]:
    """Return (conversation id, contact) of every conversation active since `since`."""
    return [
        (conversation, Contact(direction, kind, parse_utc(occurred), bool(automated)))
        for conversation, direction, occurred, kind, automated in conn.execute(
            _CONTACTS, {"since": utc_text(since)}
        )
    ]
