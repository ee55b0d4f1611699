-- Cheaper writes of the delivery queue and of each stored interaction (issue 16).
--
-- A CHECK written `column IN (three or more constants)` builds a temporary b-tree of the list
-- for every row it checks (SQLite 3.40): ~3.4 us on each delivery insert, lease and outcome and
-- each attempt. Both tables are rebuilt with the same constraints written as comparisons;
-- foreign keys are off while migrations run (migrate.py), and the ids stay what they were.
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    interaction_id  TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    backend         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (
        state = 'pending' OR state = 'in_flight' OR state = 'delivered' OR state = 'dead'),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    order_key       TEXT,  -- NULL: not ordered against anything
    delivered_at    TEXT,
    waiting         INTEGER NOT NULL DEFAULT 0 CHECK (waiting IN (0, 1))
);
INSERT INTO deliveries_new
    (id, interaction_id, backend, state, attempts, next_attempt_at, lease_until, last_error,
     created_at, updated_at, order_key, delivered_at, waiting)
    SELECT id, interaction_id, backend, state, attempts, next_attempt_at, lease_until,
        last_error, created_at, updated_at, order_key, delivered_at, waiting
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

-- The indexes and triggers of migrations 0001-0003, but for deliveries_state (state, id):
-- listing by state (the dead-letter queue, the live queue) needs no entry for the delivered
-- history, most rows, so a delivered job drops its entry instead of moving it.
CREATE UNIQUE INDEX deliveries_interaction_backend ON deliveries (interaction_id, backend);
CREATE INDEX deliveries_due ON deliveries (backend, state, waiting, next_attempt_at);
CREATE INDEX deliveries_queue ON deliveries (backend, order_key, id)
    WHERE state IN ('pending', 'in_flight');
CREATE INDEX deliveries_unfinished ON deliveries (state, id) WHERE state <> 'delivered';

CREATE TRIGGER deliveries_requeued AFTER UPDATE OF state ON deliveries
WHEN NEW.order_key IS NOT NULL AND OLD.state NOT IN ('pending', 'in_flight')
    AND NEW.state IN ('pending', 'in_flight')
BEGIN
    UPDATE deliveries SET waiting = id <> (
        SELECT min(id) FROM deliveries
        WHERE backend = NEW.backend AND order_key = NEW.order_key
            AND state IN ('pending', 'in_flight'))
    WHERE id IN (NEW.id, (
        SELECT min(id) FROM deliveries
        WHERE backend = NEW.backend AND order_key = NEW.order_key
            AND state IN ('pending', 'in_flight') AND id <> NEW.id));
END;

CREATE TRIGGER deliveries_finished AFTER UPDATE OF state ON deliveries
WHEN NEW.order_key IS NOT NULL AND OLD.state IN ('pending', 'in_flight')
    AND NEW.state NOT IN ('pending', 'in_flight') AND OLD.waiting = 0
BEGIN
    UPDATE deliveries SET waiting = 0 WHERE id = (
        SELECT min(id) FROM deliveries
        WHERE backend = NEW.backend AND order_key = NEW.order_key
            AND state IN ('pending', 'in_flight'));
END;

CREATE TRIGGER deliveries_removed AFTER DELETE ON deliveries
WHEN OLD.order_key IS NOT NULL AND OLD.state IN ('pending', 'in_flight') AND OLD.waiting = 0
BEGIN
    UPDATE deliveries SET waiting = 0 WHERE id = (
        SELECT min(id) FROM deliveries
        WHERE backend = OLD.backend AND order_key = OLD.order_key
            AND state IN ('pending', 'in_flight'));
END;

CREATE TABLE delivery_attempts_new (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL CHECK (number >= 1),
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL
        CHECK (outcome = 'delivered' OR outcome = 'retry' OR outcome = 'dead'),
    error       TEXT
);
INSERT INTO delivery_attempts_new
    (id, delivery_id, number, started_at, finished_at, outcome, error)
    SELECT id, delivery_id, number, started_at, finished_at, outcome, error
    FROM delivery_attempts;
DROP TABLE delivery_attempts;
ALTER TABLE delivery_attempts_new RENAME TO delivery_attempts;
CREATE UNIQUE INDEX delivery_attempts_delivery_number ON delivery_attempts (delivery_id, number);

-- Rows are stored in arrival order: backfill and retention scan by rowid (sqlite_deliveries.py,
-- ARRIVAL_SLACK), and no index follows received_at.
DROP INDEX interactions_received_at;
