-- What the outbound queue needs beyond the foundation (PostgreSQL): administrators' holds, the
-- one delay notice per entry, and what the last attempt did.
-- Keep in step with migrations/sqlite/0005_queue.sql: same columns and constraint names.

-- Set by `congvu-admin queue hold`: a held entry is never claimed until it is released.
ALTER TABLE queue_entries ADD COLUMN held BOOLEAN NOT NULL DEFAULT FALSE;
-- When the sender was told that delivery is delayed (a DSN with action=delayed, RFC 3464);
-- NULL until then. Set once, so the sender gets at most one such notice per entry.
ALTER TABLE queue_entries ADD COLUMN delay_notice_at BIGINT;
-- When the last attempt ended, and the server it reached (NULL before the first attempt or
-- when no server answered).
ALTER TABLE queue_entries ADD COLUMN last_attempt_at BIGINT;
ALTER TABLE queue_entries ADD COLUMN last_remote TEXT;

-- Lease renewal updates every entry a node holds, by owner.
CREATE INDEX queue_entries_lease_owner ON queue_entries (lease_owner);
-- `congvu-admin queue … --domain D` selects by destination.
CREATE INDEX queue_entries_domain ON queue_entries (recipient_domain);
