-- The identity graph, the CRM crosswalk, merges, proposals and erasures.
--
-- The graph is a forest: identities, interactions and crosswalk rows point at
-- the customer they were attached to, and a merge only sets the absorbed customer's
-- `merged_into`. A customer's data is that of its whole tree; an unmerge clears `merged_into`
-- and everything is back where it was.

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,  -- cus_<ULID>
    display_name TEXT,
    created_at   TEXT NOT NULL,
    merged_into  TEXT REFERENCES customers (id)
);

CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

-- identity(kind, value) -> the customer it was attached to.
CREATE TABLE identities (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    source      TEXT NOT NULL CHECK (source IN ('interaction', 'operator')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;

CREATE INDEX identities_customer ON identities (customer_id, kind);

-- Our own numbers and addresses: the recipients of inbound traffic, the senders of outbound.
CREATE TABLE business_identities (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;

-- Receipts: the message a status interaction reports on, and how far it got (schema.STATUS_RANK),
-- so a receipt arriving after a higher one is stored but forwarded to no backend.
ALTER TABLE interactions ADD COLUMN status_of TEXT;
ALTER TABLE interactions ADD COLUMN status_rank INTEGER;

CREATE INDEX interactions_status ON interactions (channel_id, status_of, status_rank)
    WHERE status_of IS NOT NULL;

-- A customer's timeline, and their latest conversation. Conversations have no table of their
-- own: an interaction's row holds its conversation_id and its body the conversation's state
-- after it (context), so threading writes nothing but the interaction itself.
CREATE INDEX interactions_customer ON interactions (customer_id, occurred_at)
    WHERE customer_id IS NOT NULL;

-- The audit log of merges and unmerges; also the stream backends with MergesCustomers follow.
CREATE TABLE customer_merges (
    id           INTEGER PRIMARY KEY,
    action       TEXT NOT NULL CHECK (action IN ('merge', 'unmerge')),
    survivor_id  TEXT NOT NULL,
    merged_id    TEXT NOT NULL,
    cause        TEXT NOT NULL,
    interaction_id TEXT,           -- the interaction that linked them, if one did
    undoes       INTEGER REFERENCES customer_merges (id),
    undone_at    TEXT,
    created_at   TEXT NOT NULL
);

CREATE INDEX customer_merges_merged ON customer_merges (merged_id);
CREATE INDEX customer_merges_survivor ON customer_merges (survivor_id);

-- Links the rules would not make alone: an operator accepts (links or merges) or rejects them.
CREATE TABLE merge_proposals (
    id                INTEGER PRIMARY KEY,
    customer_id       TEXT NOT NULL,
    kind              TEXT NOT NULL,
    value             TEXT NOT NULL,
    other_customer_id TEXT,        -- who holds the identity now, if anyone
    reason            TEXT NOT NULL,
    interaction_id    TEXT,
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'accepted', 'rejected')),
    created_at        TEXT NOT NULL,
    decided_at        TEXT
);

CREATE UNIQUE INDEX merge_proposals_pending ON merge_proposals (customer_id, kind, value)
    WHERE state = 'pending';
CREATE INDEX merge_proposals_state ON merge_proposals (state, id);

-- The CRM crosswalk: the records each backend created or matched for a customer.
CREATE TABLE crosswalk (
    customer_id TEXT NOT NULL,
    backend     TEXT NOT NULL,
    record_ref  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (customer_id, backend, record_ref)
) WITHOUT ROWID;

-- Erasure requests (nothing personal: the erased id and the backends' own record ids) and
-- the receipt of each backend that was asked to erase its records.
CREATE TABLE erasures (
    id           INTEGER PRIMARY KEY,
    customer_id  TEXT NOT NULL,  -- the root of the erased merge tree
    customer_ids TEXT NOT NULL,  -- every customer id of the tree, space-separated
    crosswalk    TEXT NOT NULL,  -- JSON {"backend": ["record ref", ...]}
    interactions INTEGER NOT NULL,
    requested_at TEXT NOT NULL
);

CREATE INDEX erasures_customer ON erasures (customer_id);

CREATE TABLE erasure_receipts (
    erasure_id  INTEGER NOT NULL REFERENCES erasures (id),
    backend     TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('erased', 'failed')),
    detail      TEXT,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (erasure_id, backend)
) WITHOUT ROWID;

-- How far each backend has followed a stream (merges, erasures): the last id it was given.
CREATE TABLE stream_cursors (
    backend TEXT NOT NULL,
    stream  TEXT NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (backend, stream)
) WITHOUT ROWID;
