-- Interactions and their delivery jobs.
-- Timestamps are ISO-8601 UTC text with microseconds and a 'Z' (2024-05-01T12:00:00.000000Z),
-- so text order is time order. End each statement with ';' at the end of a line (migrate.py).

CREATE TABLE interactions (
    id              TEXT PRIMARY KEY,
    channel_id      TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    type            TEXT NOT NULL,
    direction       TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    customer_id     TEXT,
    conversation_id TEXT,
    body            TEXT NOT NULL  -- Interaction.model_dump_json()
);

-- The dedupe key: provider retries of one event are stored once.
CREATE UNIQUE INDEX interactions_channel_external ON interactions (channel_id, external_id);

-- Retention pruning and backfill scan by arrival time.
CREATE INDEX interactions_received_at ON interactions (received_at);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    interaction_id  TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    backend         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- One job per interaction and backend; its interaction_id prefix also serves the cascade.
CREATE UNIQUE INDEX deliveries_interaction_backend ON deliveries (interaction_id, backend);

-- The delivery engine's claim: due jobs of one backend in one state, oldest due first.
-- Also covers per-backend state counts.
CREATE INDEX deliveries_due ON deliveries (backend, state, next_attempt_at);
