-- The delivery queue: ordered queues per (backend, order_key), delivery time, the attempt log.
--
-- Deliveries that share (backend, order_key) go out one at a time in commit order (`id`). The
-- head of such a queue is its smallest id in state pending or in_flight; every other active row
-- of the queue has `waiting = 1`. The triggers below keep that flag true on every insert, state
-- change and delete, whoever makes it, so that `claim` reads only claimable rows from an index
-- instead of skipping, on every call, the rows queued behind a head that keeps failing.

ALTER TABLE deliveries ADD COLUMN order_key TEXT;  -- NULL: not ordered against anything
ALTER TABLE deliveries ADD COLUMN delivered_at TEXT;
ALTER TABLE deliveries ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0 CHECK (waiting IN (0, 1));

-- The claim: claimable jobs of one backend in one state, oldest due first (then by id, the
-- implicit last column). Also covers per-backend state counts.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (backend, state, waiting, next_attempt_at);

-- The head of each ordered queue: the smallest active id per (backend, order_key).
CREATE INDEX deliveries_queue ON deliveries (backend, order_key, id)
    WHERE state IN ('pending', 'in_flight');

-- Listing by state (the dead-letter queue) without scanning the delivered history.
CREATE INDEX deliveries_state ON deliveries (state, id);

-- A new row has the largest id: it waits if its queue already has a head.
CREATE TRIGGER deliveries_queued AFTER INSERT ON deliveries
WHEN NEW.order_key IS NOT NULL AND NEW.state IN ('pending', 'in_flight')
BEGIN
    UPDATE deliveries SET waiting = 1 WHERE id = NEW.id AND EXISTS (
        SELECT 1 FROM deliveries
        WHERE backend = NEW.backend AND order_key = NEW.order_key
            AND state IN ('pending', 'in_flight') AND id < NEW.id);
END;

-- A replayed row waits behind an older head, or becomes the head and the old head waits: only
-- these two rows can change.
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

-- A head that is delivered, dead or deleted (erasure) hands the queue to the next row.
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

-- One row per call of a backend's `deliver` for one delivery; `number` counts from 1 per
-- delivery and keeps counting across replays.
CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL CHECK (number >= 1),
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    error       TEXT
);

-- Also serves the cascade and the next attempt number.
CREATE UNIQUE INDEX delivery_attempts_delivery_number ON delivery_attempts (delivery_id, number);
