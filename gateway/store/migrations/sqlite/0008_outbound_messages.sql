-- Outbound messages (DESIGN §12): an agent's answer sent through a channel's sender. Each one is
-- an outbound interaction (its `external_id` is the Idempotency-Key) plus one delivery to the
-- target `channel:{channel_id}`; the CRM backends get the interaction only once the provider
-- accepted it (`then_backends`, queued by the store when the send is recorded).
CREATE TABLE outbound_messages (
    id                  TEXT PRIMARY KEY,
    idempotency_key     TEXT NOT NULL UNIQUE,
    request_hash        TEXT NOT NULL,
    interaction_id      TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    delivery_id         INTEGER REFERENCES deliveries (id) ON DELETE SET NULL,
    channel_id          TEXT NOT NULL,
    customer_id         TEXT,
    conversation_id     TEXT,
    state               TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sent', 'delivered', 'read', 'failed', 'dead')),
    state_rank          INTEGER NOT NULL DEFAULT 0,
    provider_message_id TEXT,
    error               TEXT,
    resend_unknown      INTEGER NOT NULL DEFAULT 0 CHECK (resend_unknown IN (0, 1)),
    then_backends       TEXT NOT NULL DEFAULT '[]',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE INDEX outbound_messages_interaction ON outbound_messages (interaction_id);
CREATE UNIQUE INDEX outbound_messages_delivery ON outbound_messages (delivery_id);
CREATE INDEX outbound_messages_provider ON outbound_messages (channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX outbound_messages_customer ON outbound_messages (customer_id, created_at);
CREATE INDEX outbound_messages_state ON outbound_messages (state, created_at);
