-- Ids of the streams a backend follows by cursor are never reused (AUTOINCREMENT), erasures
-- record when the files were truly scrubbed, and readiness has a row it may write to.
--
-- SQLite cannot add AUTOINCREMENT to a table, so each one is rebuilt (foreign keys are off while
-- migrations run, see migrate.py). sqlite_sequence starts above both the highest id present and
-- the highest id any backend's cursor already passed: an id a cursor passed once, for a row
-- erased since, is never handed out again.

CREATE TABLE customer_merges_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    action       TEXT NOT NULL CHECK (action IN ('merge', 'unmerge')),
    survivor_id  TEXT NOT NULL,
    merged_id    TEXT NOT NULL,
    cause        TEXT NOT NULL,
    interaction_id TEXT,           -- the interaction that linked them, if one did
    undoes       INTEGER REFERENCES customer_merges (id),
    undone_at    TEXT,
    created_at   TEXT NOT NULL
);
INSERT INTO customer_merges_new
    (id, action, survivor_id, merged_id, cause, interaction_id, undoes, undone_at, created_at)
    SELECT id, action, survivor_id, merged_id, cause, interaction_id, undoes, undone_at, created_at
    FROM customer_merges;
DROP TABLE customer_merges;
ALTER TABLE customer_merges_new RENAME TO customer_merges;
CREATE INDEX customer_merges_merged ON customer_merges (merged_id);
CREATE INDEX customer_merges_survivor ON customer_merges (survivor_id);

CREATE TABLE merge_proposals_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO merge_proposals_new
    (id, customer_id, kind, value, other_customer_id, reason, interaction_id, state, created_at,
     decided_at)
    SELECT id, customer_id, kind, value, other_customer_id, reason, interaction_id, state,
        created_at, decided_at
    FROM merge_proposals;
DROP TABLE merge_proposals;
ALTER TABLE merge_proposals_new RENAME TO merge_proposals;
CREATE UNIQUE INDEX merge_proposals_pending ON merge_proposals (customer_id, kind, value)
    WHERE state = 'pending';
CREATE INDEX merge_proposals_state ON merge_proposals (state, id);

CREATE TABLE erasures_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  TEXT NOT NULL,  -- the root of the erased merge tree
    customer_ids TEXT NOT NULL,  -- every customer id of the tree, space-separated
    crosswalk    TEXT NOT NULL,  -- JSON {"backend": ["record ref", ...]}
    interactions INTEGER NOT NULL,
    requested_at TEXT NOT NULL,
    scrubbed_at  TEXT            -- when no copy of the erased rows was left in the files
);
-- Older erasures were checkpointed without checking the result: left unscrubbed, the first
-- checkpoint that succeeds after the upgrade stamps them.
INSERT INTO erasures_new (id, customer_id, customer_ids, crosswalk, interactions, requested_at)
    SELECT id, customer_id, customer_ids, crosswalk, interactions, requested_at FROM erasures;
DROP TABLE erasures;
ALTER TABLE erasures_new RENAME TO erasures;
CREATE INDEX erasures_customer ON erasures (customer_id);
CREATE INDEX erasures_unscrubbed ON erasures (id) WHERE scrubbed_at IS NULL;

DELETE FROM sqlite_sequence WHERE name IN ('customer_merges', 'merge_proposals', 'erasures');
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'customer_merges', max(
        (SELECT coalesce(max(id), 0) FROM customer_merges),
        (SELECT coalesce(max(last_id), 0) FROM stream_cursors WHERE stream = 'merges'));
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'merge_proposals', (SELECT coalesce(max(id), 0) FROM merge_proposals);
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'erasures', max(
        (SELECT coalesce(max(id), 0) FROM erasures),
        (SELECT coalesce(max(last_id), 0) FROM stream_cursors WHERE stream = 'erasures'));

-- One row that a readiness probe rewrites after a failed write, to learn whether writes work.
CREATE TABLE store_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TEXT NOT NULL
);
