-- The queue id a message was accepted under ("250 2.0.0 Ok: queued as ID", and the id of its
-- Received: header), kept with each of its queue entries so that the message's log lines,
-- from intake through every delivery attempt to its bounce, share one value to grep for.
-- NULL for entries queued before this column existed.
-- Keep in step with migrations/sqlite/0009_queue_id.sql: same columns.
ALTER TABLE queue_entries ADD COLUMN queue_id TEXT;
