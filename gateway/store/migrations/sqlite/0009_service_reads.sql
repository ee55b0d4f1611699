-- Cross-channel service (DESIGN §13): the report and the unanswered-conversations gauge read the
-- conversations active in a window (by `occurred_at`), then every contact of each of them.
-- Contacts only: receipts (often most rows) cost these indexes nothing.
CREATE INDEX interactions_occurred_at ON interactions (occurred_at, conversation_id)
    WHERE conversation_id IS NOT NULL AND type <> 'status';
CREATE INDEX interactions_conversation ON interactions (conversation_id)
    WHERE conversation_id IS NOT NULL AND type <> 'status';
