-- A new delivery's `waiting` flag is computed by the INSERT itself (store/sqlite_deliveries.py,
-- INSERT_DELIVERY), so the row is written once instead of inserted and then updated.
DROP TRIGGER deliveries_queued;
