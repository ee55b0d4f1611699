-- Fewer index writes per stored interaction and per delivery (issue 16): each index entry a
-- commit writes costs CPU and, in a commit of many rows, often a WAL page of its own.

-- Listing deliveries by state (the dead-letter queue, the live queue) needs no entry for the
-- delivered history, most rows: a delivered job no longer moves an entry here, it drops it.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_unfinished ON deliveries (state, id) WHERE state <> 'delivered';

