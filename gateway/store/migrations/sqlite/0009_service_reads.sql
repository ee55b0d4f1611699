-- Cross-channel service (DESIGN §13): the report and the unanswered-conversations gauge read the
-- conversations active in a window (by `occurred_at`), then every contact of each of them.
-- Contacts only (gateway/store/sqlite_service.py IS_CONTACT, the same expression): receipts,
-- often most rows, cost these indexes nothing, except the first receipt of a message sent
-- elsewhere, which is a contact.
CREATE INDEX interactions_occurred_at ON interactions (occurred_at, conversation_id)
    WHERE conversation_id IS NOT NULL
        AND (type <> 'status' OR json_extract(body, '$.metadata.sent_elsewhere') = 'true');
CREATE INDEX interactions_conversation ON interactions (conversation_id)
    WHERE conversation_id IS NOT NULL
        AND (type <> 'status' OR json_extract(body, '$.metadata.sent_elsewhere') = 'true');
