-- Cross-channel service (DESIGN §13): the report and the unanswered-conversations gauge read the
-- conversations active in a window (by `occurred_at`), then every contact of each of them.
CREATE INDEX interactions_occurred_at ON interactions (occurred_at, conversation_id)
    WHERE conversation_id IS NOT NULL;
CREATE INDEX interactions_conversation ON interactions (conversation_id)
    WHERE conversation_id IS NOT NULL;
