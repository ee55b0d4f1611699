-- The readiness probe's write after a failed write carries the room of a typical commit, so a
-- disk with space for a few pages only (the WAL is reused in place) is not reported ready.
ALTER TABLE store_probe ADD COLUMN room BLOB;
